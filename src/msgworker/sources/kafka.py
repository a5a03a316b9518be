"""Kafka: Amazon MSK and self-managed Apache Kafka event source mappings.

Lambda groups a Kafka batch by topic-partition (``{"records": {"orders-0": [...]}}``);
records are run in order within their partition and a failure stops the rest of that
partition, like a stream; other partitions go on. ``key`` and ``value`` are base64,
headers are lists of ``{name: [byte, ...]}``, timestamps are epoch milliseconds.

The partial batch response names a failed record by its topic-partition and offset::

    {"batchItemFailures": [{"itemIdentifier": {"partition": "orders-0", "offset": 15}}]}

That shape is the one Lambda reads for Kafka event source mappings with
``FunctionResponseTypes: [ReportBatchItemFailures]``, which need the mapping's
provisioned mode (AWS Lambda Developer Guide, "Configuring error handling controls for
Kafka event sources"; the same shape as Powertools for AWS Lambda's Kafka batch processor,
aws-powertools/powertools-lambda-python#7941, and aws-lambda-rust-runtime#1164). Lambda
resumes each reported partition at the reported offset, so only the first failure of each
partition is reported (:attr:`Source.report_first_of_group`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._message import Deferred, Fields
from ..errors import ConfigurationError, ParseError
from .base import Decoded, Ordering, Record, Source, decode_base64, epoch_millis

# "SelfManagedKafka" in AWS's documentation; Powertools' sample events spell it "aws:SelfManagedKafka".
EVENT_SOURCES = ("aws:kafka", "SelfManagedKafka", "aws:SelfManagedKafka")


def records_of(event: Mapping[str, Any]) -> Sequence[Record] | None:
    """The records of a Kafka event, partition after partition in the event's order
    (each in offset order, as Lambda delivers them); None when ``event`` is not one."""
    if event.get("eventSource") not in EVENT_SOURCES:
        return None
    by_partition = event.get("records")
    if not isinstance(by_partition, Mapping) or not all(isinstance(part, list) for part in by_partition.values()):
        return None
    return [record for records in by_partition.values() for record in records]


def _partition(record: Record) -> str | None:
    topic, partition = record.get("topic"), record.get("partition")
    if isinstance(topic, str) and isinstance(partition, int):
        return f"{topic}-{partition}"  # the event's own key for the partition's list
    return None


def _group_key(record: Record) -> str | None:
    return _partition(record) if isinstance(record, Mapping) else None


def _record_id(record: Record) -> str | None:
    partition = _group_key(record)
    offset = record.get("offset") if partition is not None else None
    return f"{partition}@{offset}" if isinstance(offset, int) else None


def _report_item(record: Record) -> object:
    partition = _group_key(record)
    offset = record.get("offset") if partition is not None else None
    return {"partition": partition, "offset": offset} if isinstance(offset, int) else None


def _decode(record: Record) -> Decoded:
    if not isinstance(record, Mapping):
        raise ParseError(f"Kafka record is a {type(record).__name__}, expected an object")
    value = record.get("value")
    if value is None:
        return None, False, ()  # a tombstone: a key without a value
    if not isinstance(value, str):
        raise ParseError(f"Kafka record value is a {type(value).__name__}, expected base64 text")
    # Bytes go on to the parser (or the worker's value_deserializer), which decides.
    return decode_base64(value, "Kafka record value"), True, ()


def decode_headers(headers: Any) -> dict[str, bytes]:
    """Kafka headers as Lambda sends them (a list of ``{name: [byte, ...]}``) to a dict of
    bytes; a name given twice keeps its last value. Bytes may come signed (Java's ``byte``).

    Example:
        >>> decode_headers([{"trace": [104, 105]}, {"neg": [-1]}])
        {'trace': b'hi', 'neg': b'\\xff'}
    """
    if headers is None:
        return {}
    decoded: dict[str, bytes] = {}
    try:
        for header in headers:
            for name, values in header.items():
                decoded[str(name)] = bytes(value & 0xFF for value in values)
    except (AttributeError, TypeError):
        raise ParseError("Kafka record headers are not a list of {name: [byte, ...]} objects") from None
    return decoded


def _fields(record: Record) -> Fields:
    key = record.get("key")
    return {
        "topic": record.get("topic"),
        "partition": record.get("partition"),
        "offset": record.get("offset"),
        # Decoded when read, each on its own: a bad key fails only code that reads it.
        "key": Deferred(decode_base64, key, "Kafka record key") if isinstance(key, str) else None,
        "headers": Deferred(decode_headers, record.get("headers")),
        "sent_at": epoch_millis(record.get("timestamp")),
        "timestamp_type": record.get("timestampType"),
    }


KAFKA = Source(
    name="kafka",
    ordering=Ordering.BY_GROUP,
    partial_batch_response=True,
    record_id=_record_id,
    decode=_decode,
    fields=_fields,
    group_key=_group_key,
    report_item=_report_item,
    report_first_of_group=True,
    group_noun="partition",
)


def avro_deserializer(schema: Mapping[str, Any] | str, *, confluent: bool = False) -> Callable[[bytes], Any]:
    """A ``worker(value_deserializer=...)`` reading Avro with ``schema`` (a dict or its JSON
    text), through fastavro (``pip install 'msgworker[avro]'``): the values Powertools'
    Kafka consumer reads with ``SchemaConfig(value_schema_type="AVRO", value_schema=...)``.

    ``confluent=True`` reads values in the Confluent Schema Registry wire format (a zero
    byte and a four-byte schema id before the Avro data); the schema is still the one given.

    Example:
        >>> import io, fastavro
        >>> schema = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
        >>> out = io.BytesIO(); fastavro.schemaless_writer(out, schema, {"id": "o-1"})
        >>> avro_deserializer(schema)(out.getvalue())
        {'id': 'o-1'}
    """
    try:
        import fastavro
    except ImportError:
        raise ConfigurationError(
            "avro_deserializer needs fastavro: install msgworker with the avro extra (pip install 'msgworker[avro]')"
        ) from None
    parsed = fastavro.parse_schema(json.loads(schema) if isinstance(schema, str) else dict(schema))
    name = parsed.get("name", "Avro") if isinstance(parsed, dict) else "Avro"

    def deserialize(data: bytes) -> Any:
        if confluent:
            if len(data) < 5 or data[0] != 0:
                raise ParseError(
                    f"value is not in the Confluent wire format (no zero magic byte and schema id); "
                    f"expected {name} Avro after a 5-byte header"
                )
            data = data[5:]
        try:
            return fastavro.schemaless_reader(io.BytesIO(data), parsed, None)
        except Exception as error:  # fastavro raises EOFError, ValueError, UnicodeDecodeError...
            raise ParseError(f"value is not {name} Avro ({type(error).__name__})") from None

    deserialize.__qualname__ = f"avro_deserializer({name})"
    return deserialize
