"""The exceptions msgworker raises and recognises.

Exceptions are the protocol between the layers: a record function (or a per-record
decorator) raises, and ``worker`` turns the exception into a decision for that record.

    MsgworkerError                 base of everything msgworker raises itself
    ├── PermanentError             retrying cannot help: fail this record for good
    │   └── ParseError             the payload could not be decoded or validated
    ├── UnrecognisedEventError     the invocation's event is not a batch msgworker knows
    ├── BatchReportError           a failure could not be reported, so the invocation fails
    ├── NotStartedError            the record was never run (deadline near, or its
    │                              FIFO group / stream already failed)
    └── RecordsFailedError         raised for SNS/EventBridge → Lambda invocations with
                                   several failed records, so Lambda retries the event
"""

from __future__ import annotations

from collections.abc import Sequence


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


class RecordsFailedError(MsgworkerError):
    """Several records of an SNS or EventBridge → Lambda invocation failed.

    These sources have no partial-batch report, so the invocation fails and Lambda's
    asynchronous retries and on-failure destination apply. With one failed record the
    record's own exception is raised instead of this one.
    """

    def __init__(self, message: str, *, failures: Sequence[BaseException]):
        super().__init__(message)
        self.failures = list(failures)
