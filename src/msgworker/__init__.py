"""msgworker: correct, fast AWS Lambda consumers for SQS, SNS, EventBridge and streams.

The everyday API::

    from msgworker import worker, idempotent, circuit_breaker, retry, Message, PermanentError

The per-record decorators and the failure options are imported on first use (module
``__getattr__``), so a handler that does not use them pays nothing for them at cold start.
"""

from typing import TYPE_CHECKING, Any

from ._claim_check import PayloadPointer
from ._layers import current_invocation, current_record
from ._message import Envelope, Message
from ._outcome import BatchResult, RecordFailure
from ._worker import DEFAULT_TIMEOUT_MARGIN, Worker, worker
from .errors import (
    BatchReportError,
    CircuitOpenError,
    ConfigurationError,
    IdempotencyError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyStoreError,
    MsgworkerError,
    NotStartedError,
    ParseError,
    PayloadError,
    PayloadMissingError,
    PayloadUnavailableError,
    PermanentError,
    PublishError,
    RecordsFailedError,
    UnrecognisedEventError,
)

if TYPE_CHECKING:
    from ._retry import Retry, retry
    from .breaker import CircuitBreaker, circuit_breaker
    from .failure_actions import DeadLetter, RedeliveryBackoff
    from .idempotency import Idempotency, idempotent

_LAZY = {
    "circuit_breaker": "breaker",
    "CircuitBreaker": "breaker",
    "idempotent": "idempotency",
    "Idempotency": "idempotency",
    "retry": "_retry",
    "Retry": "_retry",
    "RedeliveryBackoff": "failure_actions",
    "DeadLetter": "failure_actions",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'msgworker' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


__all__ = [
    "DEFAULT_TIMEOUT_MARGIN",
    "BatchReportError",
    "BatchResult",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConfigurationError",
    "DeadLetter",
    "Envelope",
    "Idempotency",
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "IdempotencyStoreError",
    "Message",
    "MsgworkerError",
    "NotStartedError",
    "ParseError",
    "PayloadError",
    "PayloadMissingError",
    "PayloadPointer",
    "PayloadUnavailableError",
    "PermanentError",
    "PublishError",
    "RecordFailure",
    "RecordsFailedError",
    "RedeliveryBackoff",
    "Retry",
    "UnrecognisedEventError",
    "Worker",
    "circuit_breaker",
    "current_invocation",
    "current_record",
    "idempotent",
    "retry",
    "worker",
]

__version__ = "0.1.0"
