"""Lambda's SQS event source mapping, against the local endpoint's real queue.

The queue's own behaviour decides what moto implements faithfully: visibility, receive
counts, FIFO group order (a group with a message in flight is not delivered), and the move
to the dead-letter queue on the receive after ``maxReceiveCount``. The poller adds what
Lambda does: it receives up to ten messages at a time until ``BatchSize`` or the batching
window ends, drops (deletes) records no ``FilterCriteria`` pattern matches, invokes with at
most ``ScalingConfig.MaximumConcurrency`` batches at once, and deletes only the successes.

Failed messages stay in flight until their visibility timeout ends. The poller remembers
when that is on the runtime's clock, so that when the clock jumps (``drain()`` in tests)
it makes them visible at once, as the passing time would have.
"""

from __future__ import annotations

import contextlib
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ._clock import Clock, Loop
from ._decisions import matches_filters, sqs_failed_ids
from ._functions import LocalFunction
from ._model import Queue, SqsMapping
from ._shapes import sqs_record

FIRST_WAIT, LONGEST_WAIT = 0.01, 0.5
"""Wall seconds between empty receives: doubling from the first to the longest. The
runtime's own sends (``send``, routing, destinations) wake the pollers at once; a message
sent from elsewhere is seen within the longest wait. Receives are short polls: moto's long
poll holds a request thread (and, under the test suite's one-request-at-a-time lock, the
whole endpoint), and a FIFO long poll spins while its groups are blocked."""
DEFAULT_CONCURRENCY = 5
"""Concurrent batches of a mapping without ScalingConfig (Lambda starts with five pollers)."""


@dataclass
class SqsPoller(Loop):
    mapping: SqsMapping
    queue: Queue
    url: str
    arn: str
    function: LocalFunction
    sqs: Any
    clock: Clock
    region: str = "us-east-1"
    returning: dict[str, tuple[float, str]] = field(default_factory=dict)
    """Failed message id → (when its visibility timeout ends, its receipt handle)."""
    batches: int = 0
    """Batches received and not yet finished (open window included)."""
    filtered: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.concurrency = self.mapping.max_concurrency or DEFAULT_CONCURRENCY
        self._wait = FIRST_WAIT
        self.starved_at = -1
        """The clock generation in which a receive last came back empty: messages visible
        since then are not deliverable (their FIFO group is blocked)."""
        self._slots = threading.Semaphore(self.concurrency)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"local-{self.mapping.name}")
        self._start_loop(f"local-{self.mapping.name}")

    @property
    def name(self) -> str:
        return self.mapping.name

    @property
    def enabled(self) -> bool:
        return self.mapping.enabled

    def _stopped(self) -> None:
        self._pool.shutdown(wait=True)

    def release_due(self) -> None:
        """Make visible the failed messages whose visibility timeout has ended on the clock."""
        now = self.clock.now()
        with self._lock:
            due = [(key, handle) for key, (moment, handle) in self.returning.items() if moment <= now]
            for key, _ in due:
                del self.returning[key]
        for _, handle in due:
            # Already visible, received again or moved: the clock caught up anyway.
            with contextlib.suppress(Exception):
                self.sqs.change_message_visibility(QueueUrl=self.url, ReceiptHandle=handle, VisibilityTimeout=0)

    def next_return(self) -> float | None:
        with self._lock:
            return min((moment for moment, _ in self.returning.values()), default=None)

    # -- the loop ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self.release_due()
            self._slots.acquire()
            if self._stop.is_set():
                self._slots.release()
                return
            batch = self._collect()
            if batch:
                self._pool.submit(self._process, batch)
            else:
                self._slots.release()

    def _collect(self) -> list[tuple[dict[str, Any], float]]:
        """Messages for one invocation: until BatchSize, the window's end, or (without a
        window) the first receive that returned any."""
        batch: list[tuple[dict[str, Any], float]] = []
        opened = 0.0
        while not self._stop.is_set():
            generation = self.clock.generation
            self.release_due()
            want = min(10, self.mapping.batch_size - len(batch))
            try:
                answer = self.sqs.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=want,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:
                if self._stop.is_set():
                    return batch
                raise
            now = self.clock.now()
            messages = answer.get("Messages", [])
            if messages:
                self._wait = FIRST_WAIT
                with self._lock:
                    if not batch:
                        opened = now
                        self.batches += 1
                    for message in messages:
                        self.returning.pop(message["MessageId"], None)
                batch.extend((message, now) for message in messages)
            if batch and (len(batch) >= self.mapping.batch_size or now >= opened + self.mapping.window):
                return batch
            if not messages:
                self.starved_at = generation
                deadline = opened + self.mapping.window if batch else (self.next_return() or math.inf)
                self.clock.sleep_until(deadline, real_cap=self._wait, since=generation)
                self._wait = FIRST_WAIT if self.clock.generation != generation else min(2 * self._wait, LONGEST_WAIT)
                if not batch:
                    return []
        return batch

    def _process(self, batch: list[tuple[dict[str, Any], float]]) -> None:
        try:
            self._invoke(batch)
        finally:
            with self._lock:
                self.batches -= 1
            self._slots.release()

    def _invoke(self, batch: list[tuple[dict[str, Any], float]]) -> None:
        records = [(sqs_record(message, self.arn, self.region), message, received) for message, received in batch]
        passing = [item for item in records if matches_filters(self.mapping.filters, item[0], "body")]
        dropped = [item for item in records if item not in passing]
        self.filtered += len(dropped)
        done = [message for _, message, _ in dropped]
        if passing:
            ids = [record["messageId"] for record, _, _ in passing]
            invocation = self.function.invoke(
                {"Records": [record for record, _, _ in passing]}, self.mapping.name, records=len(passing)
            )
            if invocation is None:  # throttled: the batch comes back after its visibility timeout
                failed = set(ids)
            else:
                failed = sqs_failed_ids(invocation.response, invocation.error, ids, self.mapping.report_failures)
            for record, message, received in passing:
                if record["messageId"] in failed:
                    with self._lock:
                        due = received + self.queue.visibility_timeout
                        self.returning[record["messageId"]] = (due, message["ReceiptHandle"])
                else:
                    done.append(message)
        self._delete(done)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
