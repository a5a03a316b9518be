"""Kinesis Data Streams: base64 data, strictly ordered, checkpointed at the first failure."""

from __future__ import annotations

from ..errors import ParseError
from ..message import Envelope, Fields
from .base import Decoded, Ordering, Record, Source, decode_base64, dig, epoch_seconds, finish_fields


def _record_id(record: Record) -> str | None:
    value = dig(record, "kinesis", "sequenceNumber")
    return value if isinstance(value, str) else None


def _decode(record: Record) -> Decoded:
    data = dig(record, "kinesis", "data")
    if not isinstance(data, str):
        raise ParseError("Kinesis record has no base64 'kinesis.data'")
    # Bytes go on to the parser, which decides: bytes models keep them, text and JSON
    # models need UTF-8 and say so clearly when it is not.
    return decode_base64(data, "Kinesis record data"), True, ()


def _describe(record: Record, inner: tuple[Envelope, ...]) -> Fields:
    kinesis = record.get("kinesis") or {}
    fields: Fields = {
        "outer": Envelope("kinesis", _record_id(record), record),
        "id": _record_id(record),
        "source": "kinesis",
        "raw": record,
        "sequence_number": kinesis.get("sequenceNumber"),
        "partition_key": kinesis.get("partitionKey"),
        "event_source_arn": record.get("eventSourceARN"),
        "sent_at": epoch_seconds(kinesis.get("approximateArrivalTimestamp")),
    }
    return finish_fields(fields, inner)


KINESIS = Source(
    name="kinesis",
    ordering=Ordering.STREAM,
    partial_batch_response=True,
    record_id=_record_id,
    group_key=lambda record: None,
    decode=_decode,
    describe=_describe,
)
