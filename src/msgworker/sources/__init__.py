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
from .eventbridge import REQUIRED as EVENTBRIDGE_KEYS
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
        from ..errors import ConfigurationError  # a ValueError too

        raise ConfigurationError(f"worker(envelope=...) must be one of {', '.join(ENVELOPES)}, got {envelope!r}")
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
        f"msgworker cannot process this event: {describe_event(event)}. {_advice(event, envelope)}"
    )


_SOURCES = ("aws:sqs", "aws:sns", *_STREAMS)  # every eventSource detect() reads
# Keys of the events and records msgworker knows. Only these are named in a rejection:
# any other key may be the caller's own data (a direct invocation), so it is only counted.
_KNOWN_KEYS = frozenset(
    (
        *("Records", "detail", "detail-type", "source", "id", "version", "account", "time", "region", "resources"),
        *("eventSource", "EventSource", "eventSourceARN", "EventSubscriptionArn", "EventVersion", "eventVersion"),
        *("messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody", "awsRegion"),
        *("Sns", "kinesis", "dynamodb", "eventID", "eventName", "s3", "ses"),
    )
)


def _advice(event: Any, envelope: str) -> str:
    """What to do: name an unknown eventSource or missing EventBridge keys; suggest forcing
    a source only when the source was not already forced."""
    origin = _origin(event)
    if isinstance(origin, str) and origin not in _SOURCES:
        return (
            f"Its records come from eventSource {origin[:40]!r}, which msgworker has no source for "
            f"(it reads {', '.join(_SOURCES)} and EventBridge events): give this function a handler of its own."
        )
    missing = _missing_eventbridge_keys(event)
    if envelope != "auto":
        what = (
            f"; an EventBridge event also needs {', '.join(missing)}" if missing and envelope == "eventbridge" else ""
        )
        return f"It does not fit worker(envelope={envelope!r}){what}: check what invokes this function."
    if missing:
        return (
            f"It looks like an EventBridge event but lacks {', '.join(missing)}, which EventBridge always sends: "
            "check what invokes this function (forcing worker(envelope='eventbridge') would not change this)."
        )
    return (
        "Expected an SQS, SNS, Kinesis or DynamoDB Streams batch ('Records') or an EventBridge event. "
        "Force a source with worker(envelope=...) if detection is wrong."
    )


def _origin(event: Any) -> Any:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        return records[0].get("eventSource") or records[0].get("EventSource")
    return None


def _missing_eventbridge_keys(event: Any) -> list[str]:
    """The keys EventBridge always sends that an event with some of them lacks."""
    if not isinstance(event, Mapping) or "Records" in event:
        return []
    missing = [key for key in EVENTBRIDGE_KEYS if key not in event]
    return missing if len(missing) < len(EVENTBRIDGE_KEYS) - 1 else []


def _keys(mapping: Mapping[Any, Any]) -> str:
    known = sorted(str(key) for key in mapping if key in _KNOWN_KEYS)
    others = len(mapping) - len(known)
    return f"keys [{', '.join(known)}]" + (f" and {others} other key{'s' if others != 1 else ''}" if others else "")


def describe_event(event: Any) -> str:
    """A short, payload-free description of an event, for error messages: its type, the
    keys msgworker knows (others only counted), the first record's eventSource and keys.

    Example:
        >>> describe_event({"detail-type": "x", "card": "4111"})
        'an object with keys [detail-type] and 1 other key'
    """
    if not isinstance(event, Mapping):
        return f"a {type(event).__name__}, not a JSON object"
    description = f"an object with {_keys(event)}"
    records = event.get("Records")
    if isinstance(records, list) and records:
        first = records[0]
        if isinstance(first, Mapping):
            origin = first.get("eventSource") or first.get("EventSource")
            shown = f"{origin[:40]!r}" if isinstance(origin, str) else repr(origin) if origin is None else "(not text)"
            description += f" and {len(records)} record(s); the first has eventSource {shown} and {_keys(first)}"
        else:
            description += f" and {len(records)} record(s) of type {type(first).__name__}"
    elif "Records" in event:
        description += f" whose 'Records' is a {type(records).__name__}, not a list"
    return description
