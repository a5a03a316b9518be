"""SQS, standard and FIFO, with SNS or EventBridge envelopes optionally inside the body."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._message import Deferred, Fields
from ..errors import ParseError
from . import eventbridge, sns
from .base import (
    BODY_ENVELOPES,
    MARKERS,
    BodyEnvelope,
    Decoded,
    Ordering,
    Parts,
    Record,
    Source,
    epoch_millis,
    register_body_envelope,
    text_at,
    unwrap_body,
)
from .base import decode_attributes as _decode_attributes


def decode_attributes(attributes: Any) -> dict[str, Any]:
    """SQS ``messageAttributes`` (``stringValue`` / ``binaryValue``) to Python values.

    Example:
        >>> decode_attributes({"tier": {"dataType": "String", "stringValue": "gold"},
        ...                    "blob": {"dataType": "Binary", "binaryValue": "aGk="}})
        {'tier': 'gold', 'blob': b'hi'}
    """
    return _decode_attributes(attributes, "SQS", "dataType", _value)


def _value(attribute: Mapping[str, Any], kind: str) -> Any:
    return attribute.get("binaryValue" if kind.startswith("Binary") else "stringValue")


def _bad_body(record: Record) -> ParseError:
    body = record.get("body") if isinstance(record, Mapping) else None
    if body is None:
        return ParseError("SQS record has no 'body'")
    return ParseError(f"SQS record body is {type(body).__name__}, expected a string")


def _decode_plain(record: Record) -> Decoded:
    try:
        body = record["body"]
    except (KeyError, TypeError):
        raise _bad_body(record) from None
    if body.__class__ is not str:
        raise _bad_body(record)
    return body, True, ()


def _decode_auto(record: Record) -> Decoded:
    # The hot path: one subscript and a substring scan per registered envelope's marker
    # (most bodies carry none, and are passed on unparsed). A missing or non-string body
    # fails one of them, and only then is the record looked at closely.
    try:
        body = record["body"]
        for marker in MARKERS.all:
            if marker in body:
                break
        else:
            return body, True, ()
    except (KeyError, TypeError):
        raise _bad_body(record) from None
    return unwrap_body(body, "sqs")


def _forced(name: str) -> Callable[[Record], Decoded]:
    def decode(record: Record) -> Decoded:
        decoded = unwrap_body(_decode_plain(record)[0], "sqs", stop=name)
        payload, _, inner = decoded
        chain = payload[0][2] if payload.__class__ is Parts and payload else inner
        if payload.__class__ is Parts and not payload:
            return decoded  # nothing to run (an s3:TestEvent)
        if not any(envelope.name == name for envelope in chain):
            raise ParseError(f"SQS body is not an {name} envelope, but worker(envelope={name!r}) requires one")
        return decoded

    return decode


register_body_envelope(BodyEnvelope("sns", '"TopicArn"', sns.is_envelope, sns.unwrap))
register_body_envelope(BodyEnvelope("eventbridge", '"detail-type"', eventbridge.is_event, eventbridge.unwrap))


class _Decoders(dict[str, Callable[[Record], Decoded]]):
    """The body decoder for each forced envelope; one registered later gets its own on first use."""

    def __missing__(self, name: str) -> Callable[[Record], Decoded]:
        if not any(envelope.name == name for envelope in BODY_ENVELOPES):
            raise KeyError(name)
        decode = self[name] = _forced(name)
        return decode


_DECODERS = _Decoders(auto=_decode_auto, none=_decode_plain)


def _receive_count(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ParseError(
            f"SQS attribute ApproximateReceiveCount is not a whole number (a {type(value).__name__}); "
            "the record's other Message fields are unaffected"
        ) from None


_record_id = text_at("messageId")
_group_key = text_at("attributes", "MessageGroupId")


def _fields(record: Record) -> Fields:
    attributes = record.get("attributes")
    if not isinstance(attributes, Mapping):
        attributes = {}
    receive_count = attributes.get("ApproximateReceiveCount")
    return {
        "attributes": Deferred(decode_attributes, record.get("messageAttributes")),
        "receive_count": Deferred(_receive_count, receive_count),
        "group_id": attributes.get("MessageGroupId"),
        "deduplication_id": attributes.get("MessageDeduplicationId"),
        "sequence_number": attributes.get("SequenceNumber"),
        "event_source_arn": record.get("eventSourceARN"),
        "sent_at": epoch_millis(attributes.get("SentTimestamp")),
    }


class _Sources(dict[tuple[str, bool], Source]):
    """The SQS source for each (body envelope, FIFO queue?) pair, made on first use."""

    def __missing__(self, key: tuple[str, bool]) -> Source:
        inner, fifo = key
        # Only FIFO queues are ordered by group: a standard (fair) queue may also carry
        # MessageGroupId, but there it asks for fairness, not order, and failing a whole
        # group would only cause needless retries.
        source = self[key] = Source(
            name="sqs",
            ordering=Ordering.BY_GROUP if fifo else Ordering.INDEPENDENT,
            partial_batch_response=True,
            record_id=_record_id,
            decode=_DECODERS[inner],
            fields=_fields,
            group_key=_group_key,
        )
        return source


SQS_SOURCES = _Sources()
"""``SQS_SOURCES[inner, fifo]``: ``inner`` is ``"auto"``, ``"none"`` or a body envelope's name."""
