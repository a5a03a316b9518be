"""``msgworker event``: print a sample event for a source, built by msgworker.testing."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from .. import testing
from .run import CommandError

# source name → (help, factory taking the decoded bodies and the parsed options)
_SOURCES: dict[str, tuple[str, Callable[[list[Any], argparse.Namespace], dict[str, Any]]]] = {
    "sqs": (
        "SQS batch (standard, or FIFO with --fifo/--group)",
        lambda bodies, options: testing.sqs_event(
            bodies,
            queue=options.name or ("msgworker-queue.fifo" if options.fifo or options.group else "msgworker-queue"),
            **({"group_ids": _groups(options, len(bodies))} if options.fifo or options.group else {}),
        ),
    ),
    "sns": ("SNS → Lambda", lambda bodies, options: testing.sns_event(bodies, topic=options.name or "msgworker-topic")),
    "sns-sqs": (
        "SNS → SQS, enveloped (or --raw)",
        lambda bodies, options: testing.sns_to_sqs_event(
            bodies, raw=options.raw, topic=options.name or "msgworker-topic"
        ),
    ),
    "eventbridge": (
        "EventBridge → Lambda (one event, the first body as detail)",
        lambda bodies, options: testing.eventbridge_event(bodies[0], **_eventbridge_options(options)),
    ),
    "eventbridge-sqs": (
        "EventBridge → SQS target",
        lambda bodies, options: testing.eventbridge_to_sqs_event(bodies, **_eventbridge_options(options)),
    ),
    "kinesis": ("Kinesis batch", lambda bodies, options: testing.kinesis_event(bodies)),
    "dynamodb": (
        "DynamoDB Streams batch (bodies are new images; --key names the key attribute)",
        lambda bodies, options: testing.dynamodb_event(bodies, key_names=(options.key or _first_key(bodies),)),
    ),
    "kafka": (
        "Kafka batch, MSK or --self-managed (bodies are the values; --name topic; --partitions N)",
        lambda bodies, options: testing.kafka_event(
            bodies,
            topic=options.name or "msgworker-topic",
            partitions=range(options.partitions),
            self_managed=options.self_managed,
        ),
    ),
    "s3-sqs": (
        "S3 notifications → SQS, one object per message (--name bucket; --object key, repeatable; or --sns)",
        lambda bodies, options: testing.s3_to_sqs_event(
            [testing.s3_notification([testing.s3_record(_bucket(options), key)]) for key in _objects(options)],
            via_sns=options.sns,
        ),
    ),
    "s3-eventbridge": (
        "S3 → EventBridge → Lambda, an Object Created event (--name bucket; --object key)",
        lambda bodies, options: testing.s3_eventbridge_event(_bucket(options), _objects(options)[0]),
    ),
}

# Sources whose payload AWS defines as a JSON object: the rest carry any text.
_OBJECT_BODIES = {
    "eventbridge": "an event's detail",
    "eventbridge-sqs": "an event's detail",
    "dynamodb": "a new image",
}


def add_event_command(commands: Any) -> None:
    event = commands.add_parser(
        "event",
        help="print a sample event for a source",
        description="Print a realistic sample event (the shape AWS sends) for one source. "
        + "; ".join(f"{name}: {description}" for name, (description, _) in _SOURCES.items()),
    )
    event.add_argument("source", choices=sorted(_SOURCES))
    event.add_argument(
        "--body",
        action="append",
        default=[],
        help="a record's payload: JSON, or else taken as text (repeat for more records)",
    )
    event.add_argument("--name", help="queue, topic or stream name")
    event.add_argument("--fifo", action="store_true", help="SQS: a FIFO queue")
    event.add_argument("--group", action="append", default=[], help="SQS FIFO: group id per record (cycled)")
    event.add_argument("--raw", action="store_true", help="sns-sqs: raw message delivery")
    event.add_argument("--key", help="dynamodb: the table's key attribute (default: the body's first attribute)")
    event.add_argument("--self-managed", action="store_true", help="kafka: a self-managed cluster (not MSK)")
    event.add_argument("--partitions", type=int, default=1, help="kafka: spread the values over N partitions")
    event.add_argument("--object", action="append", default=[], help="s3-*: an object key (repeat for more)")
    event.add_argument("--sns", action="store_true", help="s3-sqs: through an SNS topic (enveloped)")
    event.add_argument("--event-source", default="com.example.orders", help="EventBridge source")
    event.add_argument("--detail-type", default="OrderPlaced", help="EventBridge detail-type")
    event.set_defaults(handle=print_event)


def print_event(arguments: argparse.Namespace) -> int:
    bodies: list[Any] = []
    for text in arguments.body or ['{"order_id": "o-1", "customer_id": "c-1", "total": 42.5, "currency": "EUR"}']:
        try:
            bodies.append(json.loads(text))
        except ValueError:
            bodies.append(text)  # a text body (SQS, SNS and Kinesis carry any text): sent as it is
    if arguments.source in _OBJECT_BODIES:
        for number, body in enumerate(bodies, 1):
            if not isinstance(body, dict):
                raise CommandError(
                    f"--body #{number} must be a JSON object for {arguments.source} "
                    f"({_OBJECT_BODIES[arguments.source]}); text bodies suit sqs, sns, sns-sqs, kinesis and kafka"
                )
    if arguments.partitions < 1:
        raise CommandError(f"--partitions must be at least 1, got {arguments.partitions}")
    _, factory = _SOURCES[arguments.source]
    try:
        event = factory(bodies, arguments)
    except (TypeError, ValueError) as error:
        raise CommandError(str(error)) from None
    print(json.dumps(event, indent=2))
    return 0


def _groups(options: argparse.Namespace, count: int) -> list[str]:
    groups = options.group or ["group-1"]
    return [groups[index % len(groups)] for index in range(count)]


def _eventbridge_options(options: argparse.Namespace) -> dict[str, Any]:
    return {"source": options.event_source, "detail_type": options.detail_type}


def _bucket(options: argparse.Namespace) -> str:
    return str(options.name or "msgworker-uploads")


def _objects(options: argparse.Namespace) -> list[str]:
    return list(options.object or ["uploads/report.pdf"])


def _first_key(bodies: list[Any]) -> str:
    first = bodies[0] if bodies else None
    if not isinstance(first, dict) or not first:
        raise ValueError("dynamodb bodies must be JSON objects (the new images)")
    return str(next(iter(first)))
