"""What ``worker`` does with failed records before reporting them: dead-letter permanent
failures, delay the redelivery of the others (exponential backoff; until the circuit may
close when a breaker is open), and pause the event source while a circuit is open.

Each action is a callable ``(invocation, failures) -> None`` run after the batch, in
order. An action may remove a record from ``failures`` only once that record is safely
somewhere else (sent to the dead-letter queue); otherwise it leaves the failure in place
so the record is reported failed and comes back. An action never raises: whatever goes
wrong is logged (once per container for recurring problems) and the records stay failed,
which is always safe.

The AWS calls are SQS's, Lambda's and EventBridge Scheduler's; boto3 is imported and its
clients created on first use, once per worker (so once per Lambda container).

Example:
    >>> actions = failure_actions(redelivery=True, dead_letter=True)
    >>> [type(action).__name__ for action in actions]
    ['DeadLetterAction', 'VisibilityAction', 'PauseSourceAction']
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ._layers import Invocation
from ._pipeline import Failures
from .observability import LoggerLike, default_logger

FailureAction = Callable[[Invocation, Failures], None]
"""``(invocation, failures) -> None``, run after each batch (see the module docstring)."""

SQS_BATCH_LIMIT = 10
"""Entries per SendMessageBatch / ChangeMessageVisibilityBatch call (SQS's limit)."""

MIN_SECONDS_FOR_A_CALL = 0.5
"""No AWS call starts with less Lambda time left than this: a Lambda timeout here would
fail the whole invocation, and Lambda would then redeliver the records that succeeded."""

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SqsQueue:
    """An SQS queue named by its ARN (``arn:aws:sqs:region:account:name``).

    Example:
        >>> queue = SqsQueue.from_arn("arn:aws:sqs:eu-west-1:123456789012:orders.fifo")
        >>> queue.url, queue.fifo
        ('https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo', True)
    """

    arn: str
    partition: str
    region: str
    account: str
    name: str

    @classmethod
    def from_arn(cls, arn: str) -> SqsQueue:
        parts = arn.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs" or not all(parts[3:]):
            raise ValueError(f"{arn!r} is not an SQS queue ARN (expected arn:aws:sqs:<region>:<account>:<queue name>)")
        return cls(arn, parts[1], parts[3], parts[4], parts[5])

    @classmethod
    def from_url(cls, url: str) -> SqsQueue:
        """The queue behind an SQS URL (``https://sqs.<region>.amazonaws.com/<account>/<name>``;
        local endpoints such as moto's ``http://127.0.0.1:port/<account>/<name>`` too, with the
        region taken from the environment)."""
        host, _, path = url.partition("://")[2].partition("/")
        account, _, name = path.partition("/")
        if not account or not name or "/" in name:
            raise ValueError(
                f"{url!r} is not an SQS queue URL (expected https://sqs.<region>.amazonaws.com/<account>/<name>)"
            )
        labels = host.split(".")
        if len(labels) >= 3 and labels[0] == "sqs":
            region = labels[1]
        else:
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        partition = "aws-cn" if host.endswith(".amazonaws.com.cn") else "aws"
        return cls(f"arn:{partition}:sqs:{region}:{account}:{name}", partition, region, account, name)

    @property
    def url(self) -> str:
        """The queue's public endpoint URL, derived from the ARN without any API call."""
        domain = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        return f"https://sqs.{self.region}.{domain}/{self.account}/{self.name}"

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


class AwsAccess:
    """What one worker's failure actions share: boto3 clients (created on first use), the
    queue URLs they resolved, and which problems they already warned about.

    A worker is created once per Lambda container (at import), so everything cached here
    lives as long as the container: a recurring problem (a denied call, a queue without a
    redrive policy) is logged once, not on every batch.
    """

    def __init__(self, logger: LoggerLike | None = None) -> None:
        self._logger = logger
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._queue_urls: dict[str, str] = {}
        self._warned: set[object] = set()
        self._lock = threading.Lock()

    @property
    def logger(self) -> LoggerLike:
        return self._logger if self._logger is not None else default_logger()

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for ``service``, created on first use and kept for the container.

        Timeouts and retries are short: these calls run after the batch, within the
        worker's timeout margin, and a failed call only leaves records failed.
        """
        key = (service, region)
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    import boto3
                    import boto3.session

                    config = boto3.session.Config(
                        connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"}
                    )
                    client = boto3.client(service, region_name=region, config=config)
                    self._clients[key] = client
        return client

    def queue_url(self, queue: SqsQueue) -> str:
        """The URL to call ``queue`` at.

        Against AWS it is derived from the ARN. With a custom endpoint (``AWS_ENDPOINT_URL``
        or ``AWS_ENDPOINT_URL_SQS``: LocalStack, moto, ElasticMQ...) URL formats differ, so it
        is asked for once with ``GetQueueUrl`` and cached.
        """
        url = self._queue_urls.get(queue.arn)
        if url is None:
            if any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
                answer = self.client("sqs", queue.region).get_queue_url(
                    QueueName=queue.name, QueueOwnerAWSAccountId=queue.account
                )
                url = str(answer["QueueUrl"])
            else:
                url = queue.url
            self._queue_urls[queue.arn] = url
        return url

    def time_left(self, invocation: Invocation, what: str) -> bool:
        """Is there Lambda time left for one more call? If not, say so (once)."""
        if invocation.ends - time.monotonic() >= MIN_SECONDS_FOR_A_CALL:
            return True
        self.warn_once(
            ("out-of-time", what),
            f"msgworker skipped {what}: less than {MIN_SECONDS_FOR_A_CALL} s of Lambda time was left after the "
            "batch; the records stay reported failed. Raise worker(timeout_margin=...) to leave time for it.",
        )
        return False

    def warn_once(self, key: object, message: str, **extra: object) -> None:
        """Log ``message`` as a warning the first time ``key`` is seen in this container."""
        if self._first(key):
            self.logger.warning(message, extra=extra)

    def error_once(self, key: object, message: str, error: BaseException | None = None, **extra: object) -> None:
        """Log ``message`` as an error the first time ``key`` is seen in this container."""
        if self._first(key):
            self.logger.error(message, exc_info=error, extra=extra)

    def _first(self, key: object) -> bool:
        with self._lock:
            if key in self._warned:
                return False
            self._warned.add(key)
            return True


def sqs_failures(invocation: Invocation, failures: Failures) -> Iterator[tuple[int, Mapping[str, Any], BaseException]]:
    """``(index, record, error)`` for each failed SQS record of the batch (nothing for
    other sources: SNS/EventBridge → Lambda and streams have no message to act on)."""
    source = invocation.source
    if source is None or source.name != "sqs":
        return
    records = invocation.records
    for index, error in list(failures.items()):
        record = records[index] if 0 <= index < len(records) else None
        if isinstance(record, Mapping) and isinstance(record.get("eventSourceARN"), str):
            yield index, record, error


def queue_of(record: Mapping[str, Any]) -> SqsQueue | None:
    """The queue a record came from, or None when its ``eventSourceARN`` is not a queue's."""
    try:
        return SqsQueue.from_arn(str(record.get("eventSourceARN")))
    except ValueError:
        return None


def receive_count(record: Mapping[str, Any]) -> int:
    """The record's ``ApproximateReceiveCount`` (1 when missing or unreadable)."""
    attributes = record.get("attributes")
    value = attributes.get("ApproximateReceiveCount") if isinstance(attributes, Mapping) else None
    try:
        return max(1, int(value)) if value is not None else 1
    except (TypeError, ValueError):
        return 1


def chunks(items: Sequence[T], size: int = SQS_BATCH_LIMIT) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's type name."""
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


def seconds_until(moment: float) -> float:
    """Seconds from now until the epoch time ``moment`` (negative when it has passed)."""
    return moment - time.time() if math.isfinite(moment) else math.inf


def failure_actions(
    *, redelivery: Any = None, dead_letter: Any = None, logger: LoggerLike | None = None
) -> list[FailureAction]:
    """The actions a worker runs after each batch, for its ``redelivery`` and
    ``dead_letter`` options (see :class:`~msgworker.redelivery.RedeliveryBackoff` and
    :class:`~msgworker.dead_letter.DeadLetter`).

    Present whatever the options (``worker`` asks for them when it has per-record layers
    or either option): records that failed because a circuit is open are kept invisible
    until the circuit may close, and a circuit opened with ``pause_source=True`` pauses
    the event source mapping. With ``dead_letter``,
    permanent failures go to the dead-letter queue first; with ``redelivery``, the other
    failed records come back after an exponential backoff.

    Raises:
        TypeError: an option of the wrong kind (the message says which kinds work).

    Example:
        >>> [type(action).__name__ for action in failure_actions()]
        ['VisibilityAction', 'PauseSourceAction']
    """
    # Imported here: those modules import this one for AwsAccess and the helpers.
    from .dead_letter import DeadLetterAction, dead_letter_option
    from .pausing import PauseSourceAction
    from .redelivery import VisibilityAction, redelivery_policy

    policy = redelivery_policy(redelivery)
    target = dead_letter_option(dead_letter)
    access = AwsAccess(logger)
    actions: list[FailureAction] = []
    if target is not None:
        actions.append(DeadLetterAction(target, access))
    actions.append(VisibilityAction(policy, access))
    actions.append(PauseSourceAction(access))
    return actions


__all__ = [
    "AwsAccess",
    "FailureAction",
    "Failures",
    "SqsQueue",
    "failure_actions",
]
