"""Event sources: recognise a Lambda event and pick the :class:`Source` for its records.

One module per source; the differences live in each module's ``Source`` value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import UnrecognisedEventError
from .base import Decoded, Ordering, Record, Source
from .dynamodb import DYNAMODB
from .eventbridge import EVENTBRIDGE
from .eventbridge import is_event as is_eventbridge_event
from .kinesis import KINESIS
from .sns import SNS
from .sqs import SQS_SOURCES

__all__ = [
    "ENVELOPES",
    "Decoded",
    "Ordering",
    "Record",
    "Source",
    "check_envelope",
    "describe_event",
    "detect",
]

ENVELOPES = ("auto", "sqs", "sns", "eventbridge", "kinesis", "dynamodb")

# For an SQS event, the forced envelope names what the body holds.
_SQS_INNER = {"auto": "auto", "sqs": "none", "sns": "sns", "eventbridge": "eventbridge"}
_STREAMS = {"aws:kinesis": ("kinesis", KINESIS), "aws:dynamodb": ("dynamodb", DYNAMODB)}


def check_envelope(envelope: str) -> str:
    if envelope not in ENVELOPES:
        raise ValueError(f"envelope={envelope!r} is not one of {', '.join(ENVELOPES)}")
    return envelope


def detect(event: Any, envelope: str = "auto") -> tuple[Source | None, Sequence[Record]]:
    """The source of ``event`` and its records; ``(None, [])`` for an empty batch.

    Raises :class:`UnrecognisedEventError` naming what was received when the event is
    not a batch msgworker knows, or does not fit a forced ``envelope``.
    """
    if isinstance(event, dict):
        records = event.get("Records")
        if records.__class__ is list:
            if not records:
                return None, records
            first = records[0]
            origin = (first.get("eventSource") or first.get("EventSource")) if isinstance(first, dict) else None
            if origin == "aws:sqs" and envelope in _SQS_INNER:
                arn = first.get("eventSourceARN")
                return SQS_SOURCES[_SQS_INNER[envelope], arn.__class__ is str and arn.endswith(".fifo")], records
            if origin == "aws:sns" and envelope in ("auto", "sns"):
                return SNS, records
            if origin in _STREAMS and envelope in ("auto", _STREAMS[origin][0]):
                return _STREAMS[origin][1], records
        elif envelope in ("auto", "eventbridge") and is_eventbridge_event(event):
            return EVENTBRIDGE, [event]
    raise UnrecognisedEventError(
        f"msgworker cannot process this event: {describe_event(event)}. "
        + (
            f"It does not fit worker(envelope={envelope!r}). "
            if envelope != "auto"
            else "Expected an SQS, SNS, Kinesis or DynamoDB Streams batch ('Records') or an EventBridge event. "
        )
        + "Force a source with worker(envelope=...) if detection is wrong."
    )


def describe_event(event: Any) -> str:
    """A short, payload-free description of an event, for error messages."""
    if not isinstance(event, Mapping):
        return f"a {type(event).__name__}, not a JSON object"
    keys = sorted(str(key) for key in event)
    shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
    description = f"an object with keys [{shown}]"
    records = event.get("Records")
    if isinstance(records, list) and records:
        first = records[0]
        if isinstance(first, Mapping):
            origin = first.get("eventSource") or first.get("EventSource")
            record_keys = ", ".join(sorted(str(key) for key in first)[:12])
            description += (
                f" and {len(records)} record(s); the first has eventSource {origin!r} and keys [{record_keys}]"
            )
        else:
            description += f" and {len(records)} record(s) of type {type(first).__name__}"
    elif "Records" in event:
        description += f" whose 'Records' is a {type(records).__name__}, not a list"
    return description
