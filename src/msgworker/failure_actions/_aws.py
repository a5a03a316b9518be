"""What the failure actions share: the SQS queue a record came from, the AWS access of one
worker (clients, resolved queue URLs, warn-once, the Lambda time left), and small helpers
over a batch's failed SQS records.

Nothing here knows about any one action: the actions import this module, never the
reverse (see :mod:`msgworker.failure_actions`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import _warm
from .._aws_clients import aws_client
from .._layers import Invocation
from .._observability import LoggerLike, default_logger

Failures = Mapping[int, BaseException]
"""A batch's failed records still standing: exception by record index (read only)."""

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
    """What one worker's failure actions share: the AWS clients (the container's, made on
    first use), the queue URLs they resolved, and which problems they already warned about.

    A worker is created once per Lambda container (at import), so everything cached here
    lives as long as the container: a recurring problem (a denied call, a queue without a
    redrive policy) is logged once, not on every batch.
    """

    def __init__(self, logger: LoggerLike | None = None) -> None:
        self._logger = logger
        self._queue_urls: dict[str, str] = {}
        self._warned: set[object] = set()
        self._lock = threading.Lock()
        _warm.remember(self)

    def reset_warm_state(self) -> None:
        """Forget resolved queue URLs and the warnings given (``msgworker.testing.reset()``)."""
        with self._lock:
            self._queue_urls.clear()
            self._warned.clear()

    @property
    def logger(self) -> LoggerLike:
        return self._logger if self._logger is not None else default_logger()

    def client(self, service: str, region: str | None = None) -> Any:
        """The container's client for ``service`` (see :func:`msgworker._aws_clients.aws_client`):
        short timeouts and one retry policy, so a failed call only leaves records failed."""
        return aws_client(service, region)

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
        if invocation.ends - invocation.clock() >= MIN_SECONDS_FOR_A_CALL:
            return True
        self.warn_once(
            ("out-of-time", what),
            f"msgworker skipped {what}: less than {MIN_SECONDS_FOR_A_CALL} s of Lambda time was left after the "
            "batch; the records stay reported failed. Raise worker(timeout_margin=...) to leave time for it.",
        )
        return False

    def call_failed(
        self, key: object, queue: SqsQueue, code: str, error: BaseException | None, what: str, allow: str
    ) -> None:
        """Warn once that an AWS call on ``queue`` failed (``code``): ``what`` it meant for the
        records, then the cause, and ``allow`` (the permission to grant) only when the call was
        denied: a missing credential, module or queue is not fixed by a policy."""
        self.warn_once(
            key, failure_text(what, code, error, allow) + " (Logged once per container.)", queue=queue.arn, code=code
        )

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
    for index, error in failures.items():
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


DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError", "UnauthorizedOperation"})
"""Error codes AWS answers a call the caller's policies do not allow with."""


def is_denied(code: str) -> bool:
    """Was the call refused for lack of permission (``KMS.AccessDeniedException`` too)?

    Example:
        >>> is_denied("AccessDenied"), is_denied("KMS.AccessDeniedException"), is_denied("NoCredentialsError")
        (True, True, False)
    """
    return code in DENIED_CODES or code.endswith("AccessDeniedException")


def failure_text(what: str, code: str, error: BaseException | None, allow: str) -> str:
    """One warning for a failed call: what it means, and the cause's own fix.

    Example:
        >>> failure_text("visibility unchanged", "AccessDenied", None, "sqs:ChangeMessageVisibility")
        "visibility unchanged (AccessDenied): allow sqs:ChangeMessageVisibility to the function's role."
        >>> failure_text("visibility unchanged", "NoCredentialsError", Exception("Unable to locate credentials"), "x")
        'visibility unchanged (NoCredentialsError: Unable to locate credentials).'
    """
    if is_denied(code):
        return f"{what} ({code}): allow {allow} to the function's role."
    # The cause as botocore or msgworker states it (no payload: AWS error texts name
    # resources and parameters, never message bodies).
    detail = str(error) if error is not None else ""
    cause = f"{code}: {detail}" if detail and detail != code else code
    return f"{what} ({cause})."


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's type name."""
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


__all__ = [
    "MIN_SECONDS_FOR_A_CALL",
    "SQS_BATCH_LIMIT",
    "AwsAccess",
    "Failures",
    "SqsQueue",
    "chunks",
    "error_code",
    "failure_text",
    "is_denied",
    "queue_of",
    "receive_count",
    "sqs_failures",
]
