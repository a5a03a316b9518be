"""msgworker: correct, fast AWS Lambda consumers for SQS, SNS, EventBridge and streams.

The everyday API::

    from msgworker import worker, idempotent, circuit_breaker, retry, Message, PermanentError

The per-record decorators and the failure options are imported on first use (module
``__getattr__``), so a handler that does not use them pays nothing for them at cold start.
"""

from typing import TYPE_CHECKING, Any

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
    PermanentError,
    RecordsFailedError,
    UnrecognisedEventError,
)
from .layers import current_invocation
from .message import Envelope, Message
from .outcome import BatchResult, RecordFailure
from .worker import DEFAULT_TIMEOUT_MARGIN, Worker, worker

if TYPE_CHECKING:
    from .breaker import CircuitBreaker, circuit_breaker
    from .failure_actions import DeadLetter, RedeliveryBackoff
    from .idempotency import Idempotency, idempotent
    from .retrying import Retry, retry

_LAZY = {
    "circuit_breaker": "breaker",
    "CircuitBreaker": "breaker",
    "idempotent": "idempotency",
    "Idempotency": "idempotency",
    "retry": "retrying",
    "Retry": "retrying",
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
    "PermanentError",
    "RecordFailure",
    "RecordsFailedError",
    "RedeliveryBackoff",
    "Retry",
    "UnrecognisedEventError",
    "Worker",
    "circuit_breaker",
    "current_invocation",
    "idempotent",
    "retry",
    "worker",
]

__version__ = "0.1.0"
