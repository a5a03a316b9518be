"""Redrive: move a dead-letter queue's messages back to their source queue (or ``to``).

Two ways, one result:

- **SQS's message-move task** (``StartMessageMoveTask``, then ``ListMessageMoveTasks``
  until it ends) where the endpoint runs them: AWS moves the messages itself, keeping
  everything (body, attributes, group and deduplication ids).
- **Receive → send → delete** elsewhere (moto, older emulators) or with
  ``method="messages"``: batches of ten, each sent with its attributes, trace header,
  FIFO group and deduplication id, and deleted from the DLQ only once SQS confirmed its
  send (:class:`~msgworker.dlq._move.MoveLedger` keeps the books).

msgworker's error attributes (``msgworker.error_type``...) go along either way: that is
what AWS's own redrive does, so both ways give the same messages, and the next
dead-lettering of a message replaces them with its new error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .._aws_clients import botocore
from ..failure_actions._aws import error_code
from ._model import DlqError, Queue, choose_target
from ._move import Left, MoveLedger
from ._tools import DlqTools

Method = Literal["auto", "task", "messages"]
Progress = Callable[[int, int], None]
"""Called as a move goes on with (messages done, messages to do)."""

MOVE_HOLD = 120
"""Seconds a received message is hidden while it is being moved; one left in the DLQ is
made visible again when the move ends."""
POLL_SECONDS = 1.0
"""Between two ListMessageMoveTasks calls while a move task runs."""

TASK = "message-move task"
MESSAGES = "receive, send, delete"
_ENDED = frozenset({"COMPLETED", "CANCELLED", "FAILED"})


@dataclass(frozen=True, slots=True)
class RedriveResult:
    """What a redrive did (or, with ``dry_run``, would do).

    ``planned`` is the DLQ's ``ApproximateNumberOfMessages`` when the redrive began.
    ``left``: messages still in the DLQ, each with the reason; ``duplicated``: sent but
    not deleted (now in both queues). ``note`` says why the task path was not taken.

    Example:
        >>> RedriveResult(Queue("u", "arn:aws:sqs:us-east-1:1:d", {}), Queue("v", "arn:aws:sqs:us-east-1:1:s", {}),
        ...               TASK, planned=3, moved=3).complete
        True
    """

    source: Queue
    target: Queue
    method: str
    planned: int
    moved: int = 0
    dry_run: bool = False
    left: tuple[Left, ...] = ()
    duplicated: tuple[Left, ...] = ()
    note: str | None = None
    task_status: str | None = None
    task_failure: str | None = None
    task_handle: str | None = None

    @property
    def unreached(self) -> int:
        """Planned messages the move never received: behind a message of their FIFO group
        that stayed in the DLQ, or not returned by SQS (the depth is approximate)."""
        return max(0, self.planned - self.moved - len(self.left) - len(self.duplicated))

    @property
    def complete(self) -> bool:
        """Did everything planned move, with nothing left behind or duplicated? (For a move
        task: did it complete; its counts are SQS's approximations.)"""
        if self.dry_run:
            return False
        if self.task_status is not None:
            return self.task_status == "COMPLETED"
        return not self.left and not self.duplicated and self.moved >= self.planned


def redrive(
    tools: DlqTools,
    reference: str,
    *,
    to: str | None = None,
    dry_run: bool = False,
    method: Method = "auto",
    progress: Progress | None = None,
) -> RedriveResult:
    """Move the messages of the DLQ ``reference`` to ``to`` (default: the queue whose
    RedrivePolicy names it). See the module docstring.

    Raises:
        DlqError: no target (no source queue, or several and no ``to``), the target is the
            DLQ itself, a standard DLQ bound for a FIFO queue, a move task already running,
            or ``method="task"`` where the endpoint has none.
    """
    source = tools.resolve(reference)
    chosen = choose_target(source.name, tools.sources(source), to)
    target = tools.queue(chosen) if chosen is not None else tools.resolve(str(to))
    if target.arn == source.arn:
        raise DlqError(f"--to names {source.name} itself: redrive to the queue its messages came from")
    if target.fifo and not source.fifo:
        raise DlqError(
            f"{source.name} is a standard queue and {target.name} a FIFO queue: its messages have no message group; "
            "pass --to a standard queue"
        )
    planned = source.visible
    use_task, note = _choose_method(tools, source, method)
    way = TASK if use_task else MESSAGES
    if dry_run:
        return RedriveResult(source, target, way, planned, dry_run=True, note=note)
    if use_task:
        try:
            return _by_task(tools, source, target, planned, progress)
        except _TaskRefused as refused:
            if method == "task":
                raise DlqError(str(refused)) from None
            note = str(refused)
    return _by_messages(tools, source, target, planned, progress, note)


class _TaskRefused(Exception):
    """StartMessageMoveTask was refused; nothing moved."""


def _choose_method(tools: DlqTools, source: Queue, method: Method) -> tuple[bool, str | None]:
    """Use a move task? Asking ListMessageMoveTasks says whether the endpoint runs them
    (and whether one is running on this queue already, which AWS allows one of)."""
    if method == "messages":
        return False, None
    errors = botocore("exceptions")
    try:
        answer = tools.probe.list_message_move_tasks(SourceArn=source.arn, MaxResults=1)
    except (errors.ClientError, errors.BotoCoreError) as error:
        if method == "task":
            raise DlqError(
                f"the endpoint {tools.endpoint} does not run message-move tasks (ListMessageMoveTasks: "
                f"{error_code(error)}): use --method messages"
            ) from None
        return False, f"no message-move tasks at this endpoint (ListMessageMoveTasks: {error_code(error)})"
    running = [task for task in answer.get("Results", []) if task.get("Status") in ("RUNNING", "CANCELLING")]
    if running:
        handle = running[0].get("TaskHandle", "")
        raise DlqError(
            f"a message-move task is already running on {source.name} (SQS allows one per queue): wait for it, or "
            f"cancel it with `aws sqs cancel-message-move-task --task-handle {handle}`"
        )
    return True, None


def _by_task(tools: DlqTools, source: Queue, target: Queue, planned: int, progress: Progress | None) -> RedriveResult:
    errors = botocore("exceptions")
    try:
        handle = tools.client.start_message_move_task(SourceArn=source.arn, DestinationArn=target.arn)["TaskHandle"]
    except errors.ClientError as error:
        raise _TaskRefused(f"StartMessageMoveTask was refused ({error_code(error)})") from None
    try:
        while True:
            results = tools.client.list_message_move_tasks(SourceArn=source.arn, MaxResults=1).get("Results", [])
            task = results[0] if results else {}
            moved = int(task.get("ApproximateNumberOfMessagesMoved") or 0)
            total = int(task.get("ApproximateNumberOfMessagesToMove") or planned)
            if progress is not None:
                progress(moved, total)
            status = str(task.get("Status", "UNKNOWN"))
            if status in _ENDED:
                return RedriveResult(
                    source,
                    target,
                    TASK,
                    total,
                    moved,
                    task_status=status,
                    task_failure=task.get("FailureReason"),
                    task_handle=str(handle),
                )
            tools.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        raise DlqError(
            f"interrupted; the message-move task goes on in SQS. Follow it with `aws sqs list-message-move-tasks "
            f"--source-arn {source.arn}`, or stop it with `aws sqs cancel-message-move-task --task-handle {handle}`"
        ) from None


def _by_messages(
    tools: DlqTools, source: Queue, target: Queue, planned: int, progress: Progress | None, note: str | None
) -> RedriveResult:
    errors = botocore("exceptions")
    ledger = MoveLedger(target_fifo=target.fifo, limit=planned, now=tools.clock())
    try:
        while not ledger.finished:
            before = ledger.received
            messages = tools.receive(source, 10, MOVE_HOLD)
            admitted = ledger.admit(messages)
            if ledger.received == before:  # empty, or only messages already handled: done
                break
            for batch in ledger.batches(admitted):
                try:
                    answer = tools.client.send_message_batch(QueueUrl=target.url, Entries=[e for e, _ in batch])
                    successful = [str(entry["Id"]) for entry in answer.get("Successful", [])]
                    failed = {str(entry["Id"]): str(entry.get("Code")) for entry in answer.get("Failed", [])}
                except (errors.ClientError, errors.BotoCoreError) as error:
                    successful, failed = [], {entry["Id"]: error_code(error) for entry, _ in batch}
                sent = ledger.settle(batch, successful, failed)
                if sent:
                    ledger.deleted(sent, _delete(tools, source, sent))
            if progress is not None:
                progress(len(ledger.moved) + len(ledger.left) + len(ledger.duplicated), max(planned, ledger.received))
    finally:
        tools.release(source, [receipt for _, receipt in ledger.to_release()])
    return RedriveResult(
        source,
        target,
        MESSAGES,
        planned,
        len(ledger.moved),
        left=tuple(ledger.left.values()),
        duplicated=tuple(ledger.duplicated),
        note=note,
    )


def _delete(tools: DlqTools, source: Queue, messages: list[Mapping[str, Any]]) -> dict[str, str]:
    """Delete sent messages from the DLQ; returns message id → error code of those not deleted."""
    entries = [{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(messages)]
    errors = botocore("exceptions")
    try:
        answer = tools.client.delete_message_batch(QueueUrl=source.url, Entries=entries)
    except (errors.ClientError, errors.BotoCoreError) as error:
        return {str(message["MessageId"]): error_code(error) for message in messages}
    return {str(messages[int(entry["Id"])]["MessageId"]): str(entry.get("Code")) for entry in answer.get("Failed", [])}


__all__ = ["MESSAGES", "MOVE_HOLD", "POLL_SECONDS", "TASK", "Method", "Progress", "RedriveResult", "redrive"]
