"""msgworker: correct, fast AWS Lambda consumers for SQS, SNS, EventBridge and streams.

The everyday API::

    from msgworker import worker, Message, PermanentError
"""

from .errors import (
    BatchReportError,
    MsgworkerError,
    NotStartedError,
    ParseError,
    PermanentError,
    RecordsFailedError,
    UnrecognisedEventError,
)
from .message import Envelope, Message
from .outcome import BatchResult, RecordFailure
from .worker import DEFAULT_TIMEOUT_MARGIN, Worker, worker

__all__ = [
    "DEFAULT_TIMEOUT_MARGIN",
    "BatchReportError",
    "BatchResult",
    "Envelope",
    "Message",
    "MsgworkerError",
    "NotStartedError",
    "ParseError",
    "PermanentError",
    "RecordFailure",
    "RecordsFailedError",
    "UnrecognisedEventError",
    "Worker",
    "worker",
]

__version__ = "0.1.0"
