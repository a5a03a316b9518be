"""Kinesis Data Streams: base64 data, strictly ordered, checkpointed at the first failure."""

from __future__ import annotations

from .._message import Fields
from ..errors import ParseError
from .base import Decoded, Ordering, Record, Source, decode_base64, dig, epoch_seconds, text_at


def _decode(record: Record) -> Decoded:
    data = dig(record, "kinesis", "data")
    if not isinstance(data, str):
        raise ParseError("Kinesis record has no base64 'kinesis.data'")
    # Bytes go on to the parser, which decides: bytes models keep them, text and JSON
    # models need UTF-8 and say so clearly when it is not.
    return decode_base64(data, "Kinesis record data"), True, ()


def _fields(record: Record) -> Fields:
    kinesis = record.get("kinesis") or {}
    return {
        "sequence_number": kinesis.get("sequenceNumber"),
        "partition_key": kinesis.get("partitionKey"),
        "event_source_arn": record.get("eventSourceARN"),
        "sent_at": epoch_seconds(kinesis.get("approximateArrivalTimestamp")),
    }


KINESIS = Source(
    name="kinesis",
    ordering=Ordering.STREAM,
    partial_batch_response=True,
    record_id=text_at("kinesis", "sequenceNumber"),
    decode=_decode,
    fields=_fields,
)
