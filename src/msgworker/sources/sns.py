"""SNS: the SNS → Lambda event, and the SNS JSON envelope found inside SQS bodies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import ParseError
from ..message import Envelope, Fields
from .base import (
    ENVELOPE_FIELDS,
    Decoded,
    Ordering,
    Record,
    Source,
    decode_base64,
    dig,
    finish_fields,
    iso_time,
    number,
)


def decode_attributes(attributes: Any) -> dict[str, Any]:
    """SNS ``MessageAttributes`` (``{"n": {"Type": ..., "Value": ...}}``) to Python values."""
    if not isinstance(attributes, Mapping):
        return {}
    decoded: dict[str, Any] = {}
    for name, attribute in attributes.items():
        kind = str(attribute.get("Type", "String"))
        value = attribute.get("Value")
        if value is None:
            decoded[name] = None
        elif kind.startswith("Number"):
            decoded[name] = number(value)
        elif kind.startswith("Binary"):
            decoded[name] = decode_base64(value, f"SNS message attribute {name!r}")
        elif kind == "String.Array":
            decoded[name] = json.loads(value)
        else:
            decoded[name] = value
    return decoded


def envelope_fields(envelope: Mapping[str, Any]) -> Fields:
    """Message fields an SNS notification contributes, wherever it was found."""
    return {
        "topic_arn": envelope.get("TopicArn"),
        "subject": envelope.get("Subject"),
        "attributes": decode_attributes(envelope.get("MessageAttributes")),
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


def _record_id(record: Record) -> str | None:
    value = dig(record, "Sns", "MessageId")
    return value if isinstance(value, str) else None


def _decode(record: Record) -> Decoded:
    notification = record.get("Sns")
    if not isinstance(notification, Mapping):
        raise ParseError("SNS record has no 'Sns' object")
    payload, serialised, _ = unwrap(notification)
    return payload, serialised, ()


def _describe(record: Record, inner: tuple[Envelope, ...]) -> Fields:
    notification = record.get("Sns") or {}
    fields: Fields = {
        "outer": Envelope("sns", _record_id(record), record),
        "id": _record_id(record),
        "source": "sns",
        "raw": record,
        "event_source_arn": record.get("EventSubscriptionArn"),
        "sent_at": iso_time(notification.get("Timestamp")),
        **envelope_fields(notification),
    }
    return finish_fields(fields, inner)


SNS = Source(
    name="sns",
    ordering=Ordering.INDEPENDENT,
    partial_batch_response=False,
    record_id=_record_id,
    group_key=lambda record: None,
    decode=_decode,
    describe=_describe,
)
