"""Event sources: recognise a Lambda event and pick the :class:`Source` for its records.

One module per source; the differences live in each module's ``Source`` value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import UnrecognisedEventError
from . import kafka, s3
from .base import BODY_ENVELOPES, Decoded, Ordering, Parts, Record, Source
from .dynamodb import DYNAMODB
from .eventbridge import EVENTBRIDGE
from .eventbridge import REQUIRED as EVENTBRIDGE_KEYS
from .eventbridge import is_event as is_eventbridge_event
from .kinesis import KINESIS
from .sns import SNS
from .sqs import SQS_SOURCES

__all__ = [
    "Decoded",
    "Ordering",
    "Parts",
    "Record",
    "Source",
    "check_envelope",
    "describe_event",
    "detect",
    "envelopes",
]

# A source registers here with one line: a batch of ``Records`` by its records'
# ``eventSource``, or a whole event by a function returning its records (or None when the
# event is not its own). Bodies of SQS messages find their envelopes in
# ``base.BODY_ENVELOPES`` instead (sqs.py, s3.py).
BY_ORIGIN: dict[str, tuple[str, Source]] = {
    "aws:sns": ("sns", SNS),
    "aws:kinesis": ("kinesis", KINESIS),
    "aws:dynamodb": ("dynamodb", DYNAMODB),
    "aws:s3": ("s3", s3.S3),
}
WHOLE_EVENTS: list[tuple[str, Callable[[Mapping[str, Any]], Sequence[Record] | None], Source]] = [
    ("eventbridge", lambda event: [event] if is_eventbridge_event(event) else None, EVENTBRIDGE),
    ("kafka", kafka.records_of, kafka.KAFKA),
]


def envelopes() -> tuple[str, ...]:
    """Every value ``worker(envelope=...)`` accepts.

    Example:
        >>> envelopes()[:3]
        ('auto', 'sqs', 'sns')
    """
    names = ["auto", "sqs", *(name for name, _ in BY_ORIGIN.values()), *(name for name, _, _ in WHOLE_EVENTS)]
    names += [envelope.name for envelope in BODY_ENVELOPES]
    return tuple(dict.fromkeys(names))


def check_envelope(envelope: str) -> str:
    if envelope not in envelopes():
        from ..errors import ConfigurationError  # a ValueError too

        raise ConfigurationError(f"worker(envelope=...) must be one of {', '.join(envelopes())}, got {envelope!r}")
    return envelope


def _sqs_inner(envelope: str) -> str | None:
    """What an SQS body holds under a forced envelope: None when SQS does not fit it."""
    if envelope == "auto":
        return "auto"
    if envelope == "sqs":
        return "none"
    return envelope if any(known.name == envelope for known in BODY_ENVELOPES) else None


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
            if origin == "aws:sqs" and (inner := _sqs_inner(envelope)) is not None:
                arn = first.get("eventSourceARN")
                return SQS_SOURCES[inner, arn.__class__ is str and arn.endswith(".fifo")], records
            if origin in BY_ORIGIN and envelope in ("auto", BY_ORIGIN[origin][0]):
                return BY_ORIGIN[origin][1], records
        else:
            for name, records_of, source in WHOLE_EVENTS:
                if envelope in ("auto", name) and (found := records_of(event)) is not None:
                    return (source if found else None), found
    raise UnrecognisedEventError(
        f"msgworker cannot process this event: {describe_event(event)}. {_advice(event, envelope)}"
    )


_SOURCES = ("aws:sqs", *BY_ORIGIN)  # every eventSource of a 'Records' batch detect() reads
# Keys of the events and records msgworker knows. Only these are named in a rejection:
# any other key may be the caller's own data (a direct invocation), so it is only counted.
_KNOWN_KEYS = frozenset(
    (
        *("Records", "detail", "detail-type", "source", "id", "version", "account", "time", "region", "resources"),
        *("eventSource", "EventSource", "eventSourceARN", "EventSubscriptionArn", "EventVersion", "eventVersion"),
        *("messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody", "awsRegion"),
        *("Sns", "kinesis", "dynamodb", "eventID", "eventName", "s3", "ses"),
        *("records", "eventSourceArn", "bootstrapServers", "Event", "Service"),  # Kafka, s3:TestEvent
    )
)


def _advice(event: Any, envelope: str) -> str:
    """What to do: name an unknown eventSource or missing EventBridge keys; suggest forcing
    a source only when the source was not already forced."""
    origin = _origin(event)
    if isinstance(origin, str) and origin not in _SOURCES:
        return (
            f"Its records come from eventSource {origin[:40]!r}, which msgworker has no source for "
            f"(it reads {', '.join(_SOURCES)}, Kafka and EventBridge events): give this function a handler of its own."
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
        "Expected an SQS, SNS, S3, Kinesis or DynamoDB Streams batch ('Records'), a Kafka batch ('records' by "
        "topic-partition) or an EventBridge event. "
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
