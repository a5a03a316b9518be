"""SQS, standard and FIFO, with SNS or EventBridge envelopes optionally inside the body."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .._message import Deferred, Fields
from ..errors import ParseError
from . import eventbridge, sns
from .base import Decoded, Ordering, Record, Source, epoch_millis, text_at
from .base import decode_attributes as _decode_attributes

INNER_ENVELOPES = ("auto", "none", "sns", "eventbridge")


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
    # The hot path: one subscript and two substring scans. A missing or non-string body
    # fails one of them, and only then is the record looked at closely.
    try:
        body = record["body"]
        # SNS envelopes have "Type" and EventBridge events "detail-type": both end in
        # 'ype"', so most plain bodies are cleared by one scan instead of two.
        if 'ype"' not in body or ('"TopicArn"' not in body and '"detail-type"' not in body):
            return body, True, ()
    except (KeyError, TypeError):
        raise _bad_body(record) from None
    return _unwrap_any(body)


def _unwrap_any(body: str) -> Decoded:
    try:
        candidate = json.loads(body)
    except (ValueError, TypeError):  # TypeError: a body that is not text fails in the parser
        return body, True, ()
    if sns.is_envelope(candidate):
        return sns.unwrap(candidate)
    if eventbridge.is_event(candidate):
        return eventbridge.unwrap(candidate)
    return body, True, ()


def _forced(
    name: str, recognise: Callable[[Any], bool], unwrap: Callable[[Any], Decoded]
) -> Callable[[Record], Decoded]:
    def decode(record: Record) -> Decoded:
        body = _decode_plain(record)[0]
        try:
            candidate = json.loads(body)
        except ValueError:
            candidate = None
        if not recognise(candidate):
            raise ParseError(f"SQS body is not an {name} envelope, but worker(envelope={name!r}) requires one")
        return unwrap(candidate)

    return decode


_DECODERS: dict[str, Callable[[Record], Decoded]] = {
    "auto": _decode_auto,
    "none": _decode_plain,
    "sns": _forced("sns", sns.is_envelope, sns.unwrap),
    "eventbridge": _forced("eventbridge", eventbridge.is_event, eventbridge.unwrap),
}


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


# Only FIFO queues are ordered by group: a standard (fair) queue may also carry
# MessageGroupId, but there it asks for fairness, not order, and failing a whole group
# would only cause needless retries.
SQS_SOURCES: dict[tuple[str, bool], Source] = {
    (inner, fifo): Source(
        name="sqs",
        ordering=Ordering.BY_GROUP if fifo else Ordering.INDEPENDENT,
        partial_batch_response=True,
        record_id=_record_id,
        decode=decode,
        fields=_fields,
        group_key=_group_key,
    )
    for inner, decode in _DECODERS.items()
    for fifo in (False, True)
}
