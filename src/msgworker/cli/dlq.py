"""``msgworker dlq``: list, peek into and redrive dead-letter queues, on AWS or a local endpoint.

    msgworker dlq list [-t template.yaml] [--prefix P] [--json]
    msgworker dlq peek QUEUE [-n N] [--json] [--no-body]
    msgworker dlq redrive QUEUE [--to SOURCE] [--dry-run] [--method auto|task|messages]

QUEUE (and SOURCE) is a queue name, URL or ARN, or with ``-t`` a template logical id.
Every action takes ``--endpoint-url``, ``--region`` and ``--profile`` as the AWS CLI does
(the endpoint defaults to ``AWS_ENDPOINT_URL_SQS`` / ``AWS_ENDPOINT_URL``). The operations
are in :mod:`msgworker.dlq`; this module parses, prints and draws the progress bar.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .run import CommandError

PROGRESS_FROM = 50
"""Moves of at least this many messages draw a progress bar (on a terminal)."""


def add_dlq_command(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-t", "--template", help="SAM template: name queues by logical id; list its DLQs too")
    common.add_argument(
        "--parameter-overrides", default="", help="template parameter values, as sam takes them: 'Key=Value ...'"
    )
    common.add_argument(
        "--endpoint-url", help="the SQS endpoint (default: AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL, AWS)"
    )
    common.add_argument("--region", help="the AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / the profile's)")
    common.add_argument("--profile", help="a profile of the AWS config files")
    dlq = commands.add_parser(
        "dlq",
        help="list, peek into and redrive dead-letter queues",
        description="Dead-letter queues on AWS or a local endpoint. QUEUE is a queue name, URL or ARN, or with -t "
        "a template logical id.",
    )
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list",
        parents=[common],
        help="the dead-letter queues, their depth and the queues they serve",
        description="Every queue some queue's RedrivePolicy names as its deadLetterTargetArn (and with -t the "
        "template's), with its visible and in-flight messages and the queues it serves.",
    )
    listing.add_argument("--prefix", help="only queues whose name starts with this (ListQueues' QueueNamePrefix)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handle=list_queues)

    peek = actions.add_parser(
        "peek",
        parents=[common],
        help="show messages and msgworker's error attributes, leaving them in the queue",
        description="Show up to N messages: body, msgworker's error attributes, the rest. Each is received and made "
        "visible again at once (hidden at most 30 s if the command is killed): SQS counts the receive, so each "
        "message's ApproximateReceiveCount goes up by one.",
    )
    peek.add_argument("queue", metavar="QUEUE")
    peek.add_argument("-n", "--count", type=_positive, default=10, help="messages to show (default 10)")
    peek.add_argument("--json", action="store_true", help="print JSON, one object per message")
    peek.add_argument("--no-body", action="store_true", help="leave the bodies out")
    peek.set_defaults(handle=peek_queue)

    redrive = actions.add_parser(
        "redrive",
        parents=[common],
        help="move the messages back to their source queue",
        description="Move a DLQ's messages to the queue whose RedrivePolicy names it (or --to), by SQS's "
        "message-move task where the endpoint runs them, else by receive, send, delete (deleting only what SQS "
        "confirmed sending). Attributes, FIFO group and deduplication ids are kept. Exit status 1 when something "
        "stayed behind.",
    )
    redrive.add_argument("queue", metavar="QUEUE")
    redrive.add_argument("--to", metavar="SOURCE", help="the queue to move to (required when several queues use it)")
    redrive.add_argument("--dry-run", action="store_true", help="say what would move, change nothing")
    redrive.add_argument(
        "--method",
        choices=("auto", "task", "messages"),
        default="auto",
        help="task: SQS's message-move task; messages: receive, send, delete; auto (default): the task where "
        "the endpoint runs them",
    )
    redrive.set_defaults(handle=redrive_queue)


def list_queues(arguments: argparse.Namespace) -> int:
    with _tools(arguments) as tools:
        queues = tools.dead_letter_queues(arguments.prefix)
    if arguments.json:
        print(json.dumps([_queue_json(queue) for queue in queues], indent=2))
        return 0
    if not queues:
        print(f"no dead-letter queues at {tools.endpoint}")
        return 0
    rows = [["DLQ", "visible", "in flight", "serves"] + (["template"] if arguments.template else [])]
    for queue in queues:
        row = [queue.name, _count(queue.visible), _count(queue.in_flight)]
        row.append(", ".join(source.rsplit(":", 1)[-1] for source in queue.sources) or "-")
        rows.append(row + ([queue.logical_id or ""] if arguments.template else []))
    _table(rows)
    return 0


def peek_queue(arguments: argparse.Namespace) -> int:
    with _tools(arguments) as tools:
        peek = tools.peek(arguments.queue, arguments.count)
    if arguments.json:
        for message in peek.messages:
            print(json.dumps(_message_json(message, not arguments.no_body)))
    else:
        for number, message in enumerate(peek.messages, 1):
            _print_message(number, len(peek.messages), message, not arguments.no_body)
    notes = [
        f"{len(peek.messages)} message(s) of {peek.queue.name} received and made visible again: each one's "
        "ApproximateReceiveCount went up by one"
    ]
    if peek.still_hidden:
        notes.append(f"{peek.still_hidden} could not be made visible again now; they are back within 30 s")
    if peek.queue.attributes.get("RedrivePolicy"):
        notes.append(f"{peek.queue.name} has a RedrivePolicy of its own: peeks count towards its maxReceiveCount")
    for note in notes:
        print(f"msgworker dlq peek: {note}", file=sys.stderr)
    return 0


def redrive_queue(arguments: argparse.Namespace) -> int:
    from ..dlq import redrive

    with _tools(arguments) as tools, _progress() as progress:
        try:
            result = redrive(
                tools,
                arguments.queue,
                to=arguments.to,
                dry_run=arguments.dry_run,
                method=arguments.method,
                progress=progress,
            )
        except KeyboardInterrupt:
            raise CommandError(
                "interrupted: what was sent is deleted from the DLQ; messages received but not yet moved are back in "
                "the DLQ within 120 s. Run the redrive again to move the rest."
            ) from None
    route = f"{result.source.name} to {result.target.name}"
    if result.note:
        verb = "would move" if result.dry_run else "moving"
        print(f"msgworker dlq redrive: {result.note}; {verb} by {result.method}", file=sys.stderr)
    if result.dry_run:
        print(f"dry run: would move about {result.planned} message(s) from {route} by {result.method}; nothing changed")
        return 0
    print(f"moved {result.moved} of {result.planned} message(s) from {route} ({result.method})")
    if result.task_status not in (None, "COMPLETED"):
        print(f"the move task ended {result.task_status}: {result.task_failure or 'no reason given'}")
    for left in result.left:
        print(f"left in {result.source.name}: {left.message_id}: {left.reason}")
    for duplicate in result.duplicated:
        print(f"in both queues: {duplicate.message_id}: sent, but {duplicate.reason}")
    if result.method != "message-move task" and result.unreached:
        print(
            f"{result.unreached} message(s) not reached (behind a held message of their FIFO group, or not "
            "returned by SQS yet): run the redrive again"
        )
    return 0 if result.complete else 1


@contextmanager
def _tools(arguments: argparse.Namespace) -> Iterator[Any]:
    """The DLQ tools for the arguments' endpoint; their errors become one line on stderr."""
    from ..dlq import DlqError, DlqTools, sqs_client
    from ..errors import ConfigurationError

    try:
        template = _template_queues(arguments) if arguments.template else None
        options = {"endpoint_url": arguments.endpoint_url, "region": arguments.region, "profile": arguments.profile}
        # The probe for message-move tasks does not retry: an endpoint without them answers 500 at once.
        yield DlqTools(sqs_client(**options), template=template, probe=sqs_client(**options, retries=1))
    except (DlqError, ConfigurationError) as error:
        raise CommandError(str(error)) from None


def _template_queues(arguments: argparse.Namespace) -> Any:
    """The template's queues: each one's deployed name (QueueName resolved) and local stand-in."""
    from ..dlq import TemplateQueues
    from ..dlq._model import template_dead_letter_queues
    from .template import TemplateError, _Resolver, load_template, parse_parameter_overrides

    try:
        template = load_template(Path(arguments.template))
        resolver = _Resolver(template, parse_parameter_overrides(arguments.parameter_overrides))
    except TemplateError as error:
        raise CommandError(str(error)) from None
    resources = template["Resources"]
    names: dict[str, tuple[str, ...]] = {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::SQS::Queue":
            continue
        properties = resource.get("Properties") or {}
        fifo = str(resolver.resolve(properties.get("FifoQueue"))).lower() == "true"
        candidates = [resolver.resolve(properties.get("QueueName")), resolver.ref(logical_id)]
        found = [
            str(name) + (".fifo" if fifo and not str(name).endswith(".fifo") else "") for name in candidates if name
        ]
        names[logical_id] = tuple(dict.fromkeys(found))
    return TemplateQueues(names, template_dead_letter_queues(resources))


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr for long moves, when stderr is a terminal (and rich installed)."""
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:
        yield None
        return
    bar = Progress(
        TextColumn("redrive"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    task: list[Any] = []

    def update(done: int, total: int) -> None:
        if total < PROGRESS_FROM:
            return
        if not task:
            bar.start()
            task.append(bar.add_task("redrive", total=total))
        bar.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        bar.stop()


def _print_message(number: int, total: int, message: Any, body: bool) -> None:
    sent = _time(message.sent_timestamp)
    print(
        f"message {number}/{total}  id {message.message_id}  received {message.receive_count} time(s), this peek "
        f"included  sent {sent}"
    )
    if message.group_id:
        print(f"  group      {message.group_id}  deduplication id {message.deduplication_id}")
    if message.error_type:
        print(f"  error      {message.error_type}: {message.error_message}")
    if message.source_arn or message.source_message_id:
        print(
            f"  from       {message.source_arn or '?'} (message {message.source_message_id or '?'}, "
            f"receive {message.source_receive_count or '?'})"
        )
    if message.attributes:
        print(f"  attributes {', '.join(f'{name}={_plain(value)}' for name, value in message.attributes.items())}")
    if body:
        print(f"  body       {message.body}")


def _message_json(message: Any, body: bool) -> dict[str, Any]:
    data = asdict(message)
    data["attributes"] = {name: _plain(value) for name, value in message.attributes.items()}
    if not body:
        del data["body"]
    return data


def _queue_json(queue: Any) -> dict[str, Any]:
    return {
        "name": queue.name,
        "url": queue.queue.url if queue.queue is not None else None,
        "arn": queue.queue.arn if queue.queue is not None else None,
        "visible": queue.visible,
        "in_flight": queue.in_flight,
        "sources": list(queue.sources),
        "logical_id": queue.logical_id,
    }


def _plain(value: Any) -> Any:
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value


def _time(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "?"
    return datetime.fromtimestamp(milliseconds / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(width) if 0 < index < 3 else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
