"""DynamoDB Streams: images deserialised to plain Python values, strictly ordered."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .._message import Deferred, Fields
from ..errors import ParseError
from .base import Decoded, Ordering, Record, Source, decode_base64, epoch_seconds, text_at


def _number(text: str) -> int | Decimal:
    # DynamoDB numbers carry up to 38 digits: int or Decimal keep them exact, where
    # float would not. pydantic accepts Decimal for float fields.
    return Decimal(text) if any(mark in text for mark in ".eE") else int(text)


_KINDS = ("S", "N", "BOOL", "NULL", "M", "L", "B", "SS", "NS", "BS")


def deserialize(value: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value (``{"S": "x"}``, ``{"N": "1"}``, ...) to Python.

    Written here rather than taken from boto3's TypeDeserializer so that handlers do not
    import boto3 at cold start, and so images become plain values (bytes, not Binary).

    Example:
        >>> deserialize({"M": {"n": {"N": "2"}, "tags": {"SS": ["a"]}}})
        {'n': 2, 'tags': {'a'}}
    """
    if not isinstance(value, Mapping) or len(value) != 1:
        # The type tags only (payload-free): a value, or a map's keys, could be payload.
        shape = f"an object with {len(value)} keys" if isinstance(value, Mapping) else f"a {type(value).__name__}"
        raise ParseError(f'not a DynamoDB attribute value ({{"S": ...}}, {{"N": ...}}, ...): got {shape}')
    ((kind, data),) = value.items()
    if kind == "S":
        return data
    if kind == "N":
        return _number(data)
    if kind == "BOOL":
        return bool(data)
    if kind == "NULL":
        return None
    if kind == "M":
        return {key: deserialize(item) for key, item in data.items()}
    if kind == "L":
        return [deserialize(item) for item in data]
    if kind == "B":
        return decode_base64(data, "DynamoDB binary attribute")
    if kind == "SS":
        return set(data)
    if kind == "NS":
        return {_number(item) for item in data}
    if kind == "BS":
        return {decode_base64(item, "DynamoDB binary set member") for item in data}
    # A tag shaped like DynamoDB's is named; anything else might be data, so it is not.
    tag = repr(kind) if isinstance(kind, str) and kind.isalpha() and kind.isupper() and len(kind) <= 4 else "tag"
    raise ParseError(f"unknown DynamoDB attribute type {tag} (known: {', '.join(_KINDS)})")


def deserialize_image(image: Any) -> dict[str, Any] | None:
    if image is None:
        return None
    if not isinstance(image, Mapping):
        raise ParseError(f"DynamoDB image is {type(image).__name__}, expected an object")
    return {key: deserialize(item) for key, item in image.items()}


def _decode(record: Record) -> Decoded:
    change = record.get("dynamodb")
    if not isinstance(change, Mapping):
        raise ParseError("DynamoDB stream record has no 'dynamodb' object")
    # REMOVE carries only the old image; KEYS_ONLY streams carry only the keys.
    for name in ("NewImage", "OldImage", "Keys"):
        if name in change:
            return deserialize_image(change[name]), False, ()
    raise ParseError("DynamoDB stream record has no NewImage, OldImage or Keys")


def _fields(record: Record) -> Fields:
    change = record.get("dynamodb") or {}
    return {
        "sequence_number": change.get("SequenceNumber"),
        "event_source_arn": record.get("eventSourceARN"),
        "sent_at": epoch_seconds(change.get("ApproximateCreationDateTime")),
        "event_name": record.get("eventName"),
        "keys": Deferred(deserialize_image, change.get("Keys")),
        "new_image": Deferred(deserialize_image, change.get("NewImage")),
        "old_image": Deferred(deserialize_image, change.get("OldImage")),
    }


DYNAMODB = Source(
    name="dynamodb",
    ordering=Ordering.STREAM,
    partial_batch_response=True,
    record_id=text_at("dynamodb", "SequenceNumber"),
    decode=_decode,
    fields=_fields,
)
