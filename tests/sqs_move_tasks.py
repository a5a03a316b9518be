"""SQS message-move tasks for moto's server, which has none (moto 5.2.5 answers
StartMessageMoveTask and ListMessageMoveTasks with a 500 "not implemented").

A stub that enforces what AWS documents for them, installed on moto's SQS response class
so that the tools reach it over HTTP like any other operation:

- the source must be a dead-letter queue, i.e. some queue's RedrivePolicy names it
  (otherwise ``InvalidParameterValue``), and at most one task per source is active;
- the task runs in the background: ``StartMessageMoveTask`` returns a handle while the
  task is ``RUNNING`` with nothing moved; here the move happens when the task is next
  listed (so a caller has to poll), after which it lists as ``COMPLETED``;
- a message moves whole: body, message attributes, system attributes, FIFO group and
  deduplication ids;
- ``ListMessageMoveTasks`` lists the most recent first, with ``TaskHandle`` only while
  the task is ``RUNNING``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.responses import ActionResult
from moto.sqs.exceptions import InvalidParameterValue
from moto.sqs.responses import SQSResponse

_tasks: dict[str, list[dict[str, Any]]] = {}
FAIL_NEXT: list[str] = []
"""Failure reasons: the next task started fails with the last one."""


def _queue_by_arn(backend: Any, arn: str) -> Any:
    for queue in backend.queues.values():
        if queue.queue_arn == arn:
            return queue
    raise InvalidParameterValue(f"The resource that you specified for the SourceArn parameter doesn't exist: {arn}")


def start_message_move_task(self: SQSResponse) -> ActionResult:
    backend = self.sqs_backend
    source_arn = self._get_param("SourceArn")
    destination_arn = self._get_param("DestinationArn")
    source = _queue_by_arn(backend, source_arn)
    if not any(queue.dead_letter_queue is source for queue in backend.queues.values()):
        raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
    if destination_arn is None:
        raise InvalidParameterValue("stub: the tests always pass DestinationArn")
    _queue_by_arn(backend, destination_arn)
    tasks = _tasks.setdefault(source_arn, [])
    if any(task["Status"] == "RUNNING" for task in tasks):
        raise InvalidParameterValue("There is already a task running. Only one active task is allowed per source.")
    handle = uuid.uuid4().hex
    failing = {"fail": FAIL_NEXT.pop()} if FAIL_NEXT else {}
    tasks.insert(
        0,
        {
            "TaskHandle": handle,
            "Status": "RUNNING",
            "SourceArn": source_arn,
            "DestinationArn": destination_arn,
            "ApproximateNumberOfMessagesMoved": 0,
            "ApproximateNumberOfMessagesToMove": len(source.messages),
            "StartedTimestamp": int(time.time() * 1000),
            **failing,
        },
    )
    return ActionResult({"TaskHandle": handle})


def list_message_move_tasks(self: SQSResponse) -> ActionResult:
    backend = self.sqs_backend
    source_arn = self._get_param("SourceArn")
    _queue_by_arn(backend, source_arn)
    tasks = _tasks.get(source_arn, [])
    for task in tasks:
        if task["Status"] == "RUNNING" and not task.get("stuck"):  # a test's task that never ends
            if task.get("fail"):  # a test's task that fails (AWS: e.g. the destination's KMS key refuses)
                task.update(Status="FAILED", FailureReason=task["fail"])
            else:
                task["ApproximateNumberOfMessagesMoved"] = _move(backend, source_arn, task["DestinationArn"])
                task["Status"] = "COMPLETED"
            del task["TaskHandle"]
            break  # this listing shows it running no more; the next one would see it done anyway
    limit = int(self._get_param("MaxResults") or 1)
    shown = [{name: value for name, value in task.items() if name not in ("stuck", "fail")} for task in tasks[:limit]]
    return ActionResult({"Results": shown})


def _move(backend: Any, source_arn: str, destination_arn: str) -> int:
    source = _queue_by_arn(backend, source_arn)
    destination = _queue_by_arn(backend, destination_arn)
    moved = 0
    while True:
        messages = backend.receive_message(source.name, 10, 0, 30, message_attribute_names=["All"])
        if not messages:
            return moved
        for message in messages:
            backend.send_message(
                destination.name,
                message.body,
                message_attributes=dict(message.message_attributes),
                deduplication_id=message.deduplication_id,
                group_id=message.group_id,
                system_attributes=dict(message.system_attributes),
            )
            backend.delete_message(source.name, message.receipt_handle)
            moved += 1


@contextmanager
def move_tasks() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """moto's SQS with message-move tasks, for the duration; yields the tasks by source ARN."""
    SQSResponse.start_message_move_task = start_message_move_task  # type: ignore[attr-defined]
    SQSResponse.list_message_move_tasks = list_message_move_tasks  # type: ignore[attr-defined]
    try:
        yield _tasks
    finally:
        del SQSResponse.start_message_move_task  # type: ignore[attr-defined]
        del SQSResponse.list_message_move_tasks  # type: ignore[attr-defined]
        _tasks.clear()
        FAIL_NEXT.clear()
