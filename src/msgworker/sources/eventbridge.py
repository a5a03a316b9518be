"""EventBridge: events delivered to Lambda directly, and events inside SQS bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._message import Envelope, Fields
from ..errors import ParseError
from .base import ENVELOPE_FIELDS, Decoded, Ordering, Record, Source, iso_time, text_at

# The keys EventBridge always sends; requiring them keeps a user's own JSON that
# happens to contain "detail-type" from being unwrapped by mistake.
REQUIRED = ("detail-type", "source", "id", "version")


def is_event(candidate: Any) -> bool:
    return isinstance(candidate, Mapping) and all(key in candidate for key in REQUIRED)


def envelope_fields(event: Mapping[str, Any]) -> Fields:
    """Message fields an EventBridge event contributes, wherever it was found."""
    resources = event.get("resources")
    return {
        "event_source": event.get("source"),
        "detail_type": event.get("detail-type"),
        "event_time": iso_time(event.get("time")),
        "resources": tuple(resources) if isinstance(resources, list) else (),
    }


ENVELOPE_FIELDS["eventbridge"] = envelope_fields

# Event sources whose detail is another envelope's (``aws.s3`` → ``s3``): that envelope
# follows in the chain, with the whole event as its data, and adds its Message fields.
DETAIL_ENVELOPES: dict[str, str] = {}


def unwrap(event: Mapping[str, Any]) -> Decoded:
    if "detail" not in event:
        raise ParseError(
            f"EventBridge event {event.get('id')!r} (source {event.get('source')!r}, "
            f"detail-type {event.get('detail-type')!r}) has no 'detail'"
        )
    envelopes: tuple[Envelope, ...] = (Envelope("eventbridge", event.get("id"), event),)
    detail_envelope = DETAIL_ENVELOPES.get(event.get("source"))  # type: ignore[arg-type]
    if detail_envelope is not None:
        envelopes += (Envelope(detail_envelope, event.get("id"), event),)
    return event["detail"], False, envelopes


def _decode(record: Record) -> Decoded:
    detail, serialised, envelopes = unwrap(record)
    return detail, serialised, envelopes[1:]  # the event itself is the outer envelope


def _fields(record: Record) -> Fields:
    return {"sent_at": iso_time(record.get("time")), **envelope_fields(record)}


EVENTBRIDGE = Source(
    name="eventbridge",
    ordering=Ordering.INDEPENDENT,
    partial_batch_response=False,
    record_id=text_at("id"),
    decode=_decode,
    fields=_fields,
)
