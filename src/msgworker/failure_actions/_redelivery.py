"""When a failed SQS record comes back: exponential backoff by receive count, and no
sooner than an open circuit may close.

Lambda leaves a failed SQS message in the queue, invisible for the queue's visibility
timeout, then delivers it again; after ``maxReceiveCount`` receives SQS moves it to the
dead-letter queue. During an outage every receive is a failure, so healthy messages
reach the DLQ after ``maxReceiveCount`` times the visibility timeout. Setting each failed
message's visibility from its receive count stretches that budget exponentially; while
a circuit breaker is open, its records stay invisible until it may let a probe through.

Example:
    >>> backoff = RedeliveryBackoff(base=2, cap=900, jitter=False)
    >>> [backoff(count) for count in range(1, 6)]
    [2.0, 4.0, 8.0, 16.0, 32.0]
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._layers import Invocation
from ..errors import CircuitOpenError, ConfigurationError, NotStartedError
from ._aws import AwsAccess, Failures, SqsQueue, chunks, error_code, queue_of, receive_count, sqs_failures

MAX_VISIBILITY_TIMEOUT = 43_200
"""SQS's limit: a message cannot stay invisible for more than 12 hours from its receive."""

VISIBILITY_LIMIT = MAX_VISIBILITY_TIMEOUT - 1_200
"""The longest visibility msgworker asks for. The 12 hours count from when Lambda received
the message, which may be up to 5 minutes (batching window) plus 15 minutes (Lambda's
longest run) before msgworker asks; a longer request would be rejected."""

JITTER_SPREAD = 1.5
"""With jitter, a delay is drawn between itself and this multiple of itself (within the cap)."""

Redelivery = Callable[[int], float]
"""A redelivery policy: seconds to keep a failed record invisible, given its receive count."""


@dataclass(frozen=True, slots=True)
class RedeliveryBackoff:
    """Exponential backoff for failed SQS records, by receive count.

    The n-th failed receive keeps the message invisible for
    ``min(cap, base * factor ** (n - 1))`` seconds. With ``jitter`` the delay is drawn
    uniformly between that value and half as much again (never past ``cap``), so records
    that failed together come back spread out — and never sooner than the plain
    exponential, which is what keeps healthy messages out of the DLQ: with
    ``maxReceiveCount`` M, they survive an outage of at least the sum of the first
    M - 1 delays.

    Use it as ``worker(..., redelivery=RedeliveryBackoff(base=5, cap=600))``;
    ``redelivery=True`` means ``RedeliveryBackoff()``.

    Example:
        >>> RedeliveryBackoff(base=10, cap=60, jitter=False)(4)
        60.0
        >>> 2.0 <= RedeliveryBackoff(base=2)(1) <= 3.0
        True
    """

    base: float = 2.0
    """Seconds after the first failed receive."""
    factor: float = 2.0
    """Growth per further receive."""
    cap: float = 900.0
    """The longest delay, in seconds."""
    jitter: bool = True

    def __post_init__(self) -> None:
        if not (self.base > 0 and math.isfinite(self.base)):
            raise ConfigurationError(f"RedeliveryBackoff base must be a positive number of seconds, got {self.base!r}")
        if not (self.factor >= 1 and math.isfinite(self.factor)):
            raise ConfigurationError(f"RedeliveryBackoff factor must be at least 1, got {self.factor!r}")
        if not self.base <= self.cap <= MAX_VISIBILITY_TIMEOUT:
            raise ConfigurationError(
                f"RedeliveryBackoff cap must be between base ({self.base}) and {MAX_VISIBILITY_TIMEOUT} s "
                f"(SQS keeps a message invisible for at most 12 hours), got {self.cap!r}"
            )

    def __call__(self, receive_count: int) -> float:
        """Seconds to keep a record invisible after its ``receive_count``-th receive failed."""
        steps = max(1, receive_count) - 1
        # Compare exponents rather than computing factor ** steps, which overflows a float
        # long before a receive count stops being plausible.
        if self.factor > 1 and steps * math.log(self.factor) >= math.log(self.cap / self.base):
            delay = float(self.cap)
        else:
            delay = min(float(self.cap), self.base * self.factor**steps)
        if self.jitter and delay < self.cap:
            delay = random.uniform(delay, min(float(self.cap), delay * JITTER_SPREAD))
        return delay


def redelivery_policy(option: object) -> Redelivery | None:
    """The policy for ``worker(redelivery=option)``: ``None``/``False`` (off), ``True``
    (:class:`RedeliveryBackoff` defaults), a :class:`RedeliveryBackoff`, or any function of
    the receive count returning seconds.

    Example:
        >>> redelivery_policy(True)
        RedeliveryBackoff(base=2.0, factor=2.0, cap=900.0, jitter=True)
    """
    if option is None or option is False:
        return None
    if option is True:
        return RedeliveryBackoff()
    if callable(option):
        policy: Redelivery = option
        return policy
    raise ConfigurationError(
        f"worker(redelivery=...) takes True, a RedeliveryBackoff(...) or a function of the receive count "
        f"returning seconds, got {option!r}"
    )


def visibility_seconds(delay: float) -> int:
    """A delay as the whole seconds SQS accepts, within what SQS allows."""
    if not math.isfinite(delay):
        return VISIBILITY_LIMIT if delay > 0 else 0
    return min(VISIBILITY_LIMIT, max(0, math.ceil(delay)))


class VisibilityAction:
    """After a batch, set each failed SQS record's visibility timeout:

    - failed because a circuit is open (:class:`CircuitOpenError`): until ``reopens_at``,
      when the breaker may let a probe through (at least 1 s), or the redelivery
      backoff for its receive count if that is longer — a record bounced several times
      waits longer, so one outage cannot use up its receives;
    - failed otherwise, with a redelivery policy: the policy's delay for its receive count;
    - not started because the Lambda's time ran out, or because an earlier record of its
      FIFO group failed: left alone, it comes back after the queue's visibility timeout
      (the group is held by its failed record anyway);
    - not started behind a FIFO record that went to the DLQ (dead-lettering runs first, so
      that record is no longer among ``failures``): visible again at once, since nothing
      holds its group back any more.

    FIFO queues get the same treatment. A failed FIFO message holds back the rest of its
    message group until it is delivered again, so the backoff delays the whole group; that
    is what ordering requires (the group cannot move past it), and other groups go on.

    Calls ``ChangeMessageVisibilityBatch`` (10 entries per call, grouped by queue). A
    failed call or entry changes nothing about the outcome: the record is reported failed
    either way and comes back after the queue's own visibility timeout; a warning is
    logged once per container and queue. Metrics: ``RedeliveryDelayed``,
    ``CircuitOpenDelayed``, ``RedeliveryReleased``, ``RedeliveryDelayFailed``.
    """

    def __init__(self, policy: Redelivery | None, access: AwsAccess) -> None:
        self.policy = policy
        self.access = access

    def __call__(self, invocation: Invocation, failures: Failures) -> frozenset[int]:
        """Set the visibility of the failed records; none is resolved (all stay failed)."""
        failed = list(sqs_failures(invocation, failures))
        held = {_group(record) for _, record, error in failed if not _behind_in_group(error)}
        by_queue: dict[SqsQueue, list[tuple[int, str, int, str]]] = {}
        for index, record, error in failed:
            if _behind_in_group(error) and _group(record) not in held:
                # Its group's failed record went to the DLQ: nothing holds the group back
                # any more, so it comes back now instead of after the visibility timeout.
                planned: tuple[int, str] | None = (0, "RedeliveryReleased")
            else:
                planned = self._plan(record, error)
            if planned is None:
                continue  # the common case without options: nothing to change, no ARN to read
            handle = record.get("receiptHandle")
            queue = queue_of(record)
            if not isinstance(handle, str) or queue is None:
                continue
            seconds, metric = planned
            by_queue.setdefault(queue, []).append((index, handle, seconds, metric))
        for queue, entries in by_queue.items():
            self._change(invocation, queue, entries)
        return frozenset()

    def _plan(self, record: Mapping[str, Any], error: BaseException) -> tuple[int, str] | None:
        if isinstance(error, CircuitOpenError):
            delay = max(1.0, error.reopens_at - time.time())
            if self.policy is not None:
                delay = max(delay, self.policy(receive_count(record)))
            return visibility_seconds(delay), "CircuitOpenDelayed"
        if isinstance(error, NotStartedError) or self.policy is None:
            return None
        return visibility_seconds(self.policy(receive_count(record))), "RedeliveryDelayed"

    def _change(self, invocation: Invocation, queue: SqsQueue, entries: list[tuple[int, str, int, str]]) -> None:
        failed = 0
        for chunk in chunks(entries):
            if not self.access.time_left(invocation, "setting visibility timeouts"):
                failed += len(chunk)
                continue
            try:
                url = self.access.queue_url(queue)
                answer = self.access.client("sqs", queue.region).change_message_visibility_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                        for index, handle, seconds, _ in chunk
                    ],
                )
            except Exception as error:
                failed += len(chunk)
                self._warn(queue, error_code(error), error)
                continue
            done = {entry.get("Id") for entry in answer.get("Successful", [])}
            for index, _, _, metric in chunk:
                if str(index) in done:
                    invocation.count(metric)
            rejected = answer.get("Failed", [])
            if rejected:
                failed += len(rejected)
                self._warn(queue, ", ".join(sorted({str(entry.get("Code")) for entry in rejected})), None)
        if failed:
            invocation.count("RedeliveryDelayFailed", failed)

    def _warn(self, queue: SqsQueue, code: str, error: BaseException | None) -> None:
        self.access.call_failed(
            ("visibility", queue.arn),
            queue,
            code,
            error,
            f"msgworker could not change the visibility timeout of failed messages in {queue.name}; they are still "
            "reported failed and come back after the queue's visibility timeout",
            "sqs:ChangeMessageVisibility on the queue",
        )


def _behind_in_group(error: BaseException) -> bool:
    """Not started only because an earlier record of its FIFO group failed in this batch."""
    return isinstance(error, NotStartedError) and not isinstance(error, CircuitOpenError) and error.reason == "order"


def _group(record: Mapping[str, Any]) -> tuple[object, object]:
    attributes = record.get("attributes")
    group = attributes.get("MessageGroupId") if isinstance(attributes, Mapping) else None
    return record.get("eventSourceARN"), group


__all__ = [
    "MAX_VISIBILITY_TIMEOUT",
    "VISIBILITY_LIMIT",
    "Redelivery",
    "RedeliveryBackoff",
    "VisibilityAction",
    "redelivery_policy",
]
