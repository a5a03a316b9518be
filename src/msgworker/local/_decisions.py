"""What Lambda and its pollers decide, as pure functions: no I/O, no clock reads.

The pollers (``_sqs``, ``_streams``, ``_invoker``) do the receiving, invoking and sending;
every "what now?" is answered here, from the documented behaviour:

- SQS mappings delete the successes only: with ``ReportBatchItemFailures`` the ids the
  response names are kept (an answer Lambda cannot read fails the whole batch), without it
  any function error keeps the whole batch.
- Stream mappings checkpoint up to the first failure, split a failing batch in two when
  ``BisectBatchOnFunctionError`` is on (a split does not count as a retry), and give a
  batch up (to the on-failure destination) after ``MaximumRetryAttempts`` retries or once
  its oldest record is older than ``MaximumRecordAgeInSeconds``.
- Asynchronous invocations are retried after one, then two minutes, up to
  ``MaximumRetryAttempts``, unless the event is older than ``MaximumEventAgeInSeconds``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..patterns import EventPattern

ASYNC_RETRY_DELAYS = (60.0, 120.0)
"""Lambda's delays before the first and second retry of an asynchronous invocation."""


def sqs_failed_ids(
    response: Any, error: BaseException | None, received: Sequence[str], report_failures: bool
) -> set[str]:
    """The message ids of an SQS batch that stay in the queue after an invocation.

    >>> sqs_failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, None, ["a", "b"], True)
    {'b'}
    >>> sorted(sqs_failed_ids(None, RuntimeError(), ["a", "b"], True))
    ['a', 'b']
    >>> sqs_failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, None, ["a", "b"], False)
    set()
    """
    if error is not None:
        return set(received)
    if not report_failures or response is None:
        return set()
    if not isinstance(response, Mapping) or "batchItemFailures" not in response:
        return set() if isinstance(response, Mapping) else set(received)
    failures = response["batchItemFailures"]
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(received)
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or identifier not in received:
            return set(received)  # Lambda reads an unknown or empty id as a failure of the whole batch
        failed.add(identifier)
    return failed


def first_failed(
    response: Any, error: BaseException | None, sequence_numbers: Sequence[str], report_failures: bool
) -> int | None:
    """The index of the first record of a stream batch that failed (``None``: all done).

    >>> first_failed({"batchItemFailures": [{"itemIdentifier": "3"}]}, None, ["1", "2", "3", "4"], True)
    2
    >>> first_failed(None, ValueError(), ["1", "2"], True)
    0
    """
    failed = sqs_failed_ids(response, error, sequence_numbers, report_failures)
    if not failed:
        return None
    return min(sequence_numbers.index(number) for number in failed)


def matches_filters(filters: Sequence[EventPattern], record: Mapping[str, Any], payload_key: str) -> bool:
    """Lambda event filtering: a record passes when any filter matches it, its payload field
    (``body`` for SQS, ``data`` for Kinesis) read as JSON when it is JSON.

    >>> pattern = EventPattern({"body": {"kind": ["order"]}}, service="lambda")
    >>> matches_filters([pattern], {"body": '{"kind": "order"}'}, "body")
    True
    >>> matches_filters([pattern], {"body": "not json"}, "body")
    False
    """
    if not filters:
        return True
    view = dict(record)
    payload = view.get(payload_key)
    if isinstance(payload, str | bytes):
        with contextlib.suppress(ValueError):  # not JSON: patterns on its fields match nothing
            view[payload_key] = json.loads(payload)
    return any(pattern.matches(view) for pattern in filters)


@dataclass(frozen=True)
class StreamStep:
    """What a stream poller does after one invocation on ``n`` records."""

    done: int
    """Records at the batch's start that are finished: the checkpoint moves past them."""
    give_up: int = 0
    """Records after those, sent to the on-failure destination and skipped."""
    next_limit: int | None = None
    """The size of the next batch (after a split); ``None``: the mapping's BatchSize."""
    attempts: int = 0
    """Retries so far of the records now at the front."""
    condition: str = ""


def stream_step(
    n: int,
    failed_at: int | None,
    *,
    attempts: int,
    max_retries: int,
    bisect: bool,
    expired: bool,
    partial: bool,
) -> StreamStep:
    """Checkpoint, retry, split or give up, as a Kinesis / DynamoDB Streams mapping does.

    ``failed_at`` is the first failed record (``None``: all done); ``partial`` says the
    function reported it (``ReportBatchItemFailures``) rather than failing as a whole.

    >>> stream_step(4, None, attempts=0, max_retries=2, bisect=False, expired=False, partial=False)
    StreamStep(done=4, give_up=0, next_limit=None, attempts=0, condition='')
    >>> stream_step(4, 0, attempts=0, max_retries=2, bisect=True, expired=False, partial=False)
    StreamStep(done=0, give_up=0, next_limit=2, attempts=0, condition='')
    >>> stream_step(1, 0, attempts=2, max_retries=2, bisect=True, expired=False, partial=False)
    StreamStep(done=0, give_up=1, next_limit=None, attempts=0, condition='RetryAttemptsExhausted')
    """
    if failed_at is None:
        return StreamStep(done=n)
    if not partial and bisect and n > 1:
        return StreamStep(done=0, next_limit=(n + 1) // 2, attempts=attempts)
    tried = attempts + 1
    if expired:
        return StreamStep(done=failed_at, give_up=n - failed_at, condition="RecordAgeExceeded")
    if 0 <= max_retries < tried:
        return StreamStep(done=failed_at, give_up=n - failed_at, condition="RetryAttemptsExhausted")
    return StreamStep(done=failed_at, next_limit=n - failed_at if not partial else None, attempts=tried)


AsyncVerdict = tuple[Literal["retry"], float] | tuple[Literal["give_up"], str]


def async_next(attempt: int, age: float, *, max_retries: int, max_event_age: float) -> AsyncVerdict:
    """After asynchronous attempt ``attempt`` (1 for the first) failed ``age`` seconds after
    the event arrived: retry after a delay, or give up naming Lambda's condition.

    >>> async_next(1, 0.0, max_retries=2, max_event_age=3600)
    ('retry', 60.0)
    >>> async_next(3, 200.0, max_retries=2, max_event_age=3600)
    ('give_up', 'RetriesExhausted')
    >>> async_next(1, 0.0, max_retries=2, max_event_age=30)
    ('give_up', 'EventAgeExceeded')
    """
    if attempt > max_retries:
        return ("give_up", "RetriesExhausted")
    delay = ASYNC_RETRY_DELAYS[min(attempt, len(ASYNC_RETRY_DELAYS)) - 1]
    if age + delay > max_event_age:
        return ("give_up", "EventAgeExceeded")
    return ("retry", delay)


def transform_input(
    event: Mapping[str, Any], target_input: str | None, input_path: str | None, transformer: Mapping[str, Any] | None
) -> str:
    """What an EventBridge target receives: the event, or ``Input``, ``InputPath`` or
    ``InputTransformer`` applied to it (paths of the ``$.a.b`` form).

    >>> event = {"detail": {"order": {"id": "o-1"}}, "source": "shop"}
    >>> transform_input(event, None, "$.detail.order", None)
    '{"id": "o-1"}'
    >>> transform_input(event, None, None, {"InputPathsMap": {"id": "$.detail.order.id"},
    ...                                     "InputTemplate": '{"order": <id>}'})
    '{"order": "o-1"}'
    """
    if target_input is not None:
        return target_input
    if input_path is not None:
        return json.dumps(_path(event, input_path))
    if transformer:
        values = {name: _path(event, str(path)) for name, path in (transformer.get("InputPathsMap") or {}).items()}
        return _fill(str(transformer.get("InputTemplate", "")), values)
    return json.dumps(event)


def _fill(template: str, values: Mapping[str, Any]) -> str:
    """``<name>`` placeholders: inside a JSON string as plain text, elsewhere as JSON."""
    out: list[str] = []
    inside, index = False, 0
    while index < len(template):
        char = template[index]
        if char == "\\" and inside:
            out.append(template[index : index + 2])
            index += 2
            continue
        if char == '"':
            inside = not inside
        elif char == "<":
            end = template.find(">", index)
            name = template[index + 1 : end] if end > 0 else ""
            if name in values:
                value = values[name]
                out.append(str(value) if inside and isinstance(value, str) else json.dumps(value))
                index = end + 1
                continue
        out.append(char)
        index += 1
    return "".join(out)


def _path(value: Any, path: str) -> Any:
    for part in path.removeprefix("$").strip(".").split(".") if path.strip("$.") else []:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value
