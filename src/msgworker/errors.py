"""The exceptions msgworker raises and recognises.

Exceptions are the protocol between the layers: a record function (or a per-record
decorator) raises, and ``worker`` turns the exception into a decision for that record.

    MsgworkerError                 base of everything msgworker raises itself
    ├── PermanentError             retrying cannot help: fail this record for good
    │   ├── ParseError             the payload could not be decoded or validated
    │   ├── IdempotencyKeyReusedError  a key came back with a different payload
    │   └── PayloadMissingError    an offloaded payload's S3 object does not exist
    ├── ConfigurationError         a bad option, or a setting missing or pointing at nothing (also a ValueError)
    ├── IdempotencyError           base of the idempotency layer's record failures
    │   ├── IdempotencyInProgressError  another delivery holds the key: retry later
    │   ├── IdempotencyStoreError  the store could not be read or written: not run
    │   └── IdempotencyKeyReusedError   (also a PermanentError)
    ├── PayloadError               an offloaded (claim-check) payload could not be read
    │   ├── PayloadMissingError    (also a PermanentError)
    │   └── PayloadUnavailableError  denied, throttled or unreachable: retry later
    ├── PublishError               msgworker.publish could not send some entries
    ├── UnrecognisedEventError     the invocation's event is not a batch msgworker knows
    ├── BatchReportError           a failure could not be reported, so the invocation fails
    ├── NotStartedError            the record was never run (deadline near, or its
    │   │                          FIFO group / stream already failed)
    │   └── CircuitOpenError       a circuit breaker is open: the batch stops early
    ├── RecordsFailedError         raised for SNS/EventBridge → Lambda invocations with
    │                              several failed records (or one whose error type cannot
    │                              be rebuilt payload-free), so Lambda retries the event
    └── DlqError                   (msgworker.dlq) a DLQ list / peek / redrive cannot go ahead
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class MsgworkerError(Exception):
    """Base class of every exception msgworker raises on its own account.

    Example:
        >>> try:
        ...     raise PermanentError("customer does not exist")
        ... except MsgworkerError as error:
        ...     print(type(error).__name__)
        PermanentError
    """


class PermanentError(MsgworkerError):
    """A record failed for a reason that retrying will not fix.

    Raise it from a record function for bad business data; msgworker raises its
    subclass :class:`ParseError` for payloads that do not decode or validate. The record
    is reported failed (so nothing is lost) and, where the worker is configured to,
    sent straight to the dead-letter queue instead of being retried.

    Example:
        >>> def handle(order):
        ...     if order["total"] < 0:
        ...         raise PermanentError(f"order {order['order_id']} has a negative total")
    """


class ParseError(PermanentError):
    """The record's payload could not be decoded or did not validate against the model.

    ``errors`` holds pydantic's error list *without* input values, so logging the
    exception never leaks payload content. The original exception is kept on
    ``original`` for code that explicitly wants the details.
    """

    def __init__(self, message: str, *, errors: Sequence[object] = (), original: BaseException | None = None):
        super().__init__(message)
        self.errors = list(errors)
        self.original = original


class ConfigurationError(MsgworkerError, ValueError):
    """A setting msgworker needs is wrong, missing or points at nothing: a decorator option
    of the wrong type or value, an idempotency key that is not a field of the worker's
    model (both raised when the decorator is applied, at import), an unset table
    environment variable or a table that does not exist (at first use). The message names
    the setting and how to fix it.

    A ``ValueError`` too, which is what bad options raised before.

    Example:
        >>> from msgworker import idempotent
        >>> try:
        ...     idempotent(key="order_id", ttl="1h")
        ... except ConfigurationError as error:
        ...     print(str(error).split(",")[0])
        idempotent(ttl=...) must be a positive number of seconds (an int or float
    """


class IdempotencyError(MsgworkerError):
    """Base of the failures the ``idempotent`` layer reports for a record."""


class IdempotencyInProgressError(IdempotencyError):
    """Another delivery of the same key holds an unexpired claim; this record fails
    (without running) and comes back after its visibility timeout."""


class IdempotencyStoreError(IdempotencyError):
    """The idempotency store could not be read or written (unreachable, throttled,
    erroring), so the function was not run; the record fails and is retried."""


class IdempotencyKeyReusedError(IdempotencyError, PermanentError):
    """A key already claimed or completed arrived with a different payload.

    Two different payloads under one key usually mean the key is wrong, so this is
    permanent rather than silently treated as a duplicate.
    """


class PayloadError(MsgworkerError):
    """A record's payload is offloaded to S3 (an extended-client pointer) and could not be
    read. ``pointer`` is the :class:`~msgworker.PayloadPointer` (bucket and key)."""

    def __init__(self, message: str, *, pointer: Any):
        super().__init__(message)
        self.pointer = pointer


class PayloadMissingError(PayloadError, PermanentError):
    """The offloaded payload's S3 object does not exist (deleted, expired, never written):
    the record fails for good (and goes to the dead-letter queue where one is configured)."""


class PayloadUnavailableError(PayloadError):
    """The offloaded payload could not be read for now (access denied, throttled, S3
    unreachable): the record fails and comes back."""


class PublishError(MsgworkerError):
    """``msgworker.publish`` could not send some entries, even after its retries.

    ``failed`` lists them (:class:`msgworker.publish.FailedEntry`: the entry's id, the
    service's error code, whether retrying could help); ``sent`` maps the id of every
    entry that did go through to the id the service gave it. Nothing is left out: each
    entry is in exactly one of the two. The message names ids and codes, never payloads.
    """

    def __init__(self, message: str, *, failed: Sequence[Any], sent: dict[str, str]):
        super().__init__(message)
        self.failed = list(failed)
        self.sent = sent


class UnrecognisedEventError(MsgworkerError):
    """The Lambda event is not a shape msgworker recognises; the invocation fails.

    The message names what was received (type, top-level keys, event source) and how
    to force a source with ``worker(envelope=...)``.
    """


class BatchReportError(MsgworkerError):
    """A failed record has no identifier to report, so the whole invocation fails.

    Failing the invocation makes Lambda retry the entire batch: slower, but nothing is
    lost, which a partial report without that record would do.
    """


class NotStartedError(MsgworkerError):
    """A record was deliberately not run; it is reported failed so it comes back."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


class CircuitOpenError(NotStartedError):
    """A circuit breaker is open: its function was not called (so the record counts as
    not started).

    Under ``worker`` the batch stops starting records; the rest are reported failed and,
    for SQS, made invisible until ``reopens_at`` (epoch seconds), when the breaker may
    let a probe through.
    """

    def __init__(self, message: str, *, name: str, reopens_at: float, pause_source: bool = False):
        super().__init__(message, reason="circuit_open")
        self.name = name
        self.reopens_at = reopens_at
        self.pause_source = pause_source


class RecordsFailedError(MsgworkerError):
    """Several records of an SNS or EventBridge → Lambda invocation failed.

    These sources have no partial-batch report, so the invocation fails and Lambda's
    asynchronous retries and on-failure destination apply. With one failed record its own
    exception type is raised instead (msgworker's own error as it is; another exception as
    a new instance of its class with its text withheld, since it may quote the payload),
    unless that type cannot be rebuilt (a pydantic ``ValidationError``): then this one,
    whose message names the type and the payload-free summary. ``failures`` keeps the
    original exceptions, for code that explicitly wants them.
    """

    def __init__(self, message: str, *, failures: Sequence[BaseException]):
        super().__init__(message)
        self.failures = list(failures)
