"""SNS: the SNS → Lambda event, and the SNS JSON envelope found inside SQS bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._message import Deferred, Envelope, Fields
from ..errors import ParseError
from .base import ENVELOPE_FIELDS, MARKERS, Decoded, Ordering, Record, Source, iso_time, text_at, unwrap_body
from .base import decode_attributes as _decode_attributes


def decode_attributes(attributes: Any) -> dict[str, Any]:
    """SNS ``MessageAttributes`` (``{"n": {"Type": ..., "Value": ...}}``) to Python values.

    Example:
        >>> decode_attributes({"tier": {"Type": "String", "Value": "gold"}, "n": {"Type": "Number", "Value": "1.5"}})
        {'tier': 'gold', 'n': 1.5}
    """
    return _decode_attributes(attributes, "SNS", "Type", _value)


def _value(attribute: Mapping[str, Any], kind: str) -> Any:
    return attribute.get("Value")


def envelope_fields(envelope: Mapping[str, Any]) -> Fields:
    """Message fields an SNS notification contributes, wherever it was found."""
    return {
        "topic_arn": envelope.get("TopicArn"),
        "subject": envelope.get("Subject"),
        "attributes": Deferred(decode_attributes, envelope.get("MessageAttributes")),
    }


ENVELOPE_FIELDS["sns"] = envelope_fields


def is_envelope(candidate: Any) -> bool:
    """Strict: a user's own JSON that merely mentions ``TopicArn`` is not unwrapped."""
    return (
        isinstance(candidate, dict)
        and candidate.get("Type") == "Notification"
        and "TopicArn" in candidate
        and "MessageId" in candidate
        and "Message" in candidate
    )


def unwrap(envelope: Mapping[str, Any]) -> Decoded:
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise ParseError(
            f"SNS notification {envelope.get('MessageId')!r} has no string 'Message' (got {type(message).__name__})"
        )
    return message, True, (Envelope("sns", envelope.get("MessageId"), envelope),)


def _decode(record: Record) -> Decoded:
    notification = record.get("Sns")
    if not isinstance(notification, Mapping):
        raise ParseError("SNS record has no 'Sns' object")
    payload, serialised, _ = unwrap(notification)
    if MARKERS.found_in(payload):  # an envelope in the message (S3 → SNS → Lambda), as in SQS bodies
        return unwrap_body(payload, "sns")
    return payload, serialised, ()


def _fields(record: Record) -> Fields:
    notification = record.get("Sns") or {}
    return {
        "event_source_arn": record.get("EventSubscriptionArn"),
        "sent_at": iso_time(notification.get("Timestamp")),
        **envelope_fields(notification),
    }


SNS = Source(
    name="sns",
    ordering=Ordering.INDEPENDENT,
    partial_batch_response=False,
    record_id=text_at("Sns", "MessageId"),
    decode=_decode,
    fields=_fields,
)
