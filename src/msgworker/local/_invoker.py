"""Lambda's asynchronous invocations: SNS and EventBridge hand an event over and go.

Lambda queues the event, runs it, and after a function error retries it after one and then
two minutes (``EventInvokeConfig.MaximumRetryAttempts``, default 2), unless it is older
than ``MaximumEventAgeInSeconds``. A throttled attempt is retried without counting. Then
the event goes to the on-failure destination (an invocation record) or, without one, the
function's dead-letter queue (the event itself, with ``RequestID``, ``ErrorCode`` and
``ErrorMessage`` attributes). A success goes to the on-success destination, if any.
Waiting is done on the runtime's clock, so ``drain()`` passes the minutes at once.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..testing._common import iso_ms
from ._clock import Clock, Loop
from ._decisions import async_next
from ._functions import Invocation, LocalFunction

log = logging.getLogger("msgworker.local")

Send = Callable[[str, str, Mapping[str, Any]], None]
"""``(destination logical id, body, message attributes)``."""
THROTTLE_RETRY = 1.0


@dataclass(order=True)
class _Pending:
    due: float
    order: int
    function: str = field(compare=False)
    event: Any = field(compare=False)
    source: str = field(compare=False)
    arrived: float = field(compare=False)
    attempt: int = field(compare=False, default=1)
    request_id: str = field(compare=False, default_factory=lambda: str(uuid.uuid4()))


@dataclass
class AsyncInvoker(Loop):
    functions: Mapping[str, LocalFunction]
    clock: Clock
    send: Send
    workers: int = 4
    _queue: list[_Pending] = field(default_factory=list)
    _running: int = 0
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="local-async")
        self._slots = threading.Semaphore(self.workers)
        self._start_loop("local-async")

    def _stopped(self) -> None:
        self._pool.shutdown(wait=True)

    def submit(self, function: str, event: Any, source: str) -> None:
        """Queue an asynchronous invocation of ``function`` (a logical id)."""
        if function not in self.functions:
            raise KeyError(f"no function {function!r} in the template")
        now = self.clock.now()
        self._push(_Pending(now, next(self._order), function, event, source, now))

    def pending(self) -> int:
        """Invocations queued, waiting for a retry, or running."""
        with self._lock:
            return len(self._queue) + self._running

    def due_now(self) -> bool:
        with self._lock:
            return bool(self._queue) and self._queue[0].due <= self.clock.now()

    def _push(self, item: _Pending) -> None:
        with self._lock:
            heapq.heappush(self._queue, item)
        self.clock.wake()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                head = self._queue[0] if self._queue else None
                if head is not None and head.due <= self.clock.now():
                    heapq.heappop(self._queue)
                    self._running += 1
                else:
                    head_due = head.due if head is not None else None
                    head = None
            if head is None:
                self.clock.sleep_until(head_due if head_due is not None else float("inf"), real_cap=0.05)
                continue
            self._slots.acquire()
            self._pool.submit(self._attempt, head)

    def _attempt(self, item: _Pending) -> None:
        try:
            self._run_attempt(item)
        except Exception as error:
            log.warning("asynchronous invocation of %s could not be handled: %s", item.function, type(error).__name__)
        finally:
            with self._lock:
                self._running -= 1
            self._slots.release()
            self.clock.wake()

    def _run_attempt(self, item: _Pending) -> None:
        function = self.functions[item.function]
        config = function.model.async_config
        records = len(item.event.get("Records", [])) if isinstance(item.event, dict) and "Records" in item.event else 1
        invocation = function.invoke(item.event, item.source, records=records, attempt=item.attempt)
        now = self.clock.now()
        if invocation is None:  # throttled: Lambda keeps retrying, without counting an attempt
            item.due, item.order = now + THROTTLE_RETRY, next(self._order)
            self._push(item)
            return
        if invocation.error is None:
            if config.on_success:
                self.send(config.on_success, json.dumps(_record(item, function, invocation, "Success")), {})
            return
        verdict = async_next(
            item.attempt, now - item.arrived, max_retries=config.max_retries, max_event_age=config.max_event_age
        )
        if verdict[0] == "retry":
            item.attempt += 1
            item.due, item.order = now + verdict[1], next(self._order)
            self._push(item)
            return
        condition = verdict[1]
        log.info(
            "%s gave up on an event from %s after %d attempt(s): %s",
            item.function,
            item.source,
            item.attempt,
            condition,
        )
        if config.on_failure:
            self.send(config.on_failure, json.dumps(_record(item, function, invocation, condition)), {})
        elif config.dead_letter:
            error = invocation.error
            attributes = {
                "RequestID": {"DataType": "String", "StringValue": item.request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": str(error)[:1024] or type(error).__name__},
            }
            self.send(config.dead_letter, json.dumps(item.event), attributes)


def _record(item: _Pending, function: LocalFunction, invocation: Invocation, condition: str) -> dict[str, Any]:
    """Lambda's invocation record, as destinations receive it."""
    context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if invocation.error is not None:
        context["functionError"] = "Unhandled"
        payload: Any = {"errorMessage": str(invocation.error), "errorType": type(invocation.error).__name__}
    else:
        payload = invocation.response
    return {
        "version": "1.0",
        "timestamp": iso_ms(datetime.now(UTC)),
        "requestContext": {
            "requestId": item.request_id,
            "functionArn": f"{function.arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": item.attempt,
        },
        "requestPayload": item.event,
        "responseContext": context,
        "responsePayload": payload,
    }
