"""Kafka (Amazon MSK and self-managed): detection, decoding, per-partition order, the
partial batch response Lambda reads for Kafka, Message fields and bad input."""

from __future__ import annotations

import base64
import io
import json
import logging
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from conftest import Order, load_event
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sources import collector

from msgworker import Message, worker
from msgworker.errors import BatchReportError, NotStartedError, ParseError, UnrecognisedEventError
from msgworker.routing import Router
from msgworker.sources.kafka import avro_deserializer
from msgworker.testing import LambdaContext, kafka_event, kafka_record, sqs_event


def order(order_id: str, total: float = 10.0) -> dict[str, Any]:
    return {"order_id": order_id, "customer_id": "c-1", "total": total}


# --------------------------------------------------------------------------------------------------
# Detection


@pytest.mark.parametrize("event_source", ["aws:kafka", "SelfManagedKafka", "aws:SelfManagedKafka"])
def test_msk_and_self_managed_events_are_detected(event_source: str) -> None:
    handler, seen = collector(Order)
    event = kafka_event([order("o-1"), order("o-2")], topic="orders")
    event["eventSource"] = event_source
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [payload.order_id for payload, _ in seen] == ["o-1", "o-2"]
    assert {message.source for _, message in seen} == {"kafka"}
    assert {message.envelope_names for _, message in seen} == {("kafka",)}


def test_forcing_kafka_accepts_kafka_and_rejects_an_sqs_batch() -> None:
    handler, seen = collector(envelope="kafka")
    assert handler(kafka_event([b"x"]), LambdaContext()) == {"batchItemFailures": []}
    assert [payload for payload, _ in seen] == ["x"]
    with pytest.raises(UnrecognisedEventError, match="envelope='kafka'"):
        handler(sqs_event(["x"]), LambdaContext())
    with pytest.raises(UnrecognisedEventError, match="envelope='sqs'"):
        collector(envelope="sqs")[0](kafka_event([b"x"]), LambdaContext())


def test_an_empty_kafka_batch_reports_nothing() -> None:
    handler, seen = collector()
    assert handler({"eventSource": "aws:kafka", "records": {}}, LambdaContext()) == {"batchItemFailures": []}
    assert seen == []


def test_sample_events_carry_their_partitions_in_order() -> None:
    handler, seen = collector(Order)
    assert handler(load_event("kafka/orders-msk.json"), LambdaContext()) == {"batchItemFailures": []}
    assert [(m.topic, m.partition, m.offset) for _, m in seen] == [
        ("orders", 0, 15),
        ("orders", 0, 16),
        ("orders", 1, 9),
    ]
    seen.clear()
    handler(load_event("kafka/orders-self-managed.json"), LambdaContext())
    assert [payload.order_id for payload, _ in seen] == ["ord-7001", "ord-7002"]


# --------------------------------------------------------------------------------------------------
# Decoding the value


def test_values_decode_as_json_text_or_bytes_and_a_tombstone_is_none() -> None:
    handler, seen = collector()
    event = kafka_event([{"a": 1}, "plain text", b"\xff\xfe", None])
    handler(event, LambdaContext())
    assert [payload for payload, _ in seen] == [{"a": 1}, "plain text", b"\xff\xfe", None]
    text_handler, text_seen = collector(str)
    text_handler(kafka_event(["héllo"]), LambdaContext())
    assert text_seen[0][0] == "héllo"
    bytes_handler, bytes_seen = collector(bytes)
    bytes_handler(kafka_event([b"\x00\x01"]), LambdaContext())
    assert bytes_seen[0][0] == b"\x00\x01"


def test_value_deserializer_reads_the_bytes_before_the_model() -> None:
    handler, seen = collector(Order, value_deserializer=lambda data: json.loads(data.decode("utf-16")))
    handler(kafka_event([json.dumps(order("o-9")).encode("utf-16")]), LambdaContext())
    assert seen[0][0] == Order(**order("o-9"))


def test_a_failing_value_deserializer_fails_its_record_without_quoting_the_payload() -> None:
    def strict(data: bytes) -> Any:
        raise ValueError(f"cannot read {data!r}")

    handler, seen = collector(value_deserializer=strict)
    event = kafka_event([b"secret-card-4111"], topic="orders")
    result = handler.run(event, LambdaContext())
    (failure,) = result.failures
    assert isinstance(failure.error, ParseError)
    assert "value_deserializer" in str(failure.error) and "ValueError" in str(failure.error)
    assert "secret" not in str(failure.error)
    assert seen == []


AVRO_SCHEMA = {
    "type": "record",
    "name": "Order",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "customer_id", "type": "string"},
        {"name": "total", "type": "double"},
    ],
}


def avro(value: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(AVRO_SCHEMA), value)
    return out.getvalue()


def test_avro_values_with_a_schema_as_powertools_reads_them() -> None:
    handler, seen = collector(Order, value_deserializer=avro_deserializer(AVRO_SCHEMA))
    handler(kafka_event([avro(order("o-1", 5.5))]), LambdaContext())
    assert seen[0][0] == Order(**order("o-1", 5.5))
    confluent, confluent_seen = collector(
        Order, value_deserializer=avro_deserializer(json.dumps(AVRO_SCHEMA), confluent=True)
    )
    confluent(kafka_event([b"\x00\x00\x00\x00\x07" + avro(order("o-2"))]), LambdaContext())
    assert confluent_seen[0][0].order_id == "o-2"


def test_a_value_that_is_not_avro_is_a_parse_error_naming_the_schema() -> None:
    handler, _ = collector(Order, value_deserializer=avro_deserializer(AVRO_SCHEMA))
    result = handler.run(kafka_event([b"\x02"]), LambdaContext())
    assert isinstance(result.failures[0].error, ParseError)
    assert "not Order Avro" in str(result.failures[0].error)
    confluent, _ = collector(Order, value_deserializer=avro_deserializer(AVRO_SCHEMA, confluent=True))
    result = confluent.run(kafka_event([avro(order("o-1"))]), LambdaContext())
    assert "Confluent wire format" in str(result.failures[0].error)


# --------------------------------------------------------------------------------------------------
# Order per partition and the partial batch response


def test_the_report_names_the_first_failure_of_each_partition_as_lambda_expects() -> None:
    ran: list[str] = []

    @worker(Order)
    def handler(payload: Order) -> None:
        ran.append(payload.order_id)
        if payload.order_id in ("b", "e"):
            raise RuntimeError("downstream refused")

    records = [
        kafka_record(order("a"), topic="orders", partition=0, offset=10),
        kafka_record(order("b"), topic="orders", partition=0, offset=11),
        kafka_record(order("c"), topic="orders", partition=0, offset=12),
        kafka_record(order("d"), topic="orders", partition=1, offset=5),
        kafka_record(order("e"), topic="payments", partition=0, offset=3),
    ]
    response = handler(kafka_event(records), LambdaContext())
    # {"itemIdentifier": {"partition": "<topic>-<partition>", "offset": n}}: the shape of
    # Lambda's Kafka partial batch response (see msgworker/sources/kafka.py).
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": "orders-0", "offset": 11}},
            {"itemIdentifier": {"partition": "payments-0", "offset": 3}},
        ]
    }
    assert ran == ["a", "b", "d", "e"]  # c waits behind b; partition orders-1 went on


partitions_and_failures = st.lists(
    st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=25
)  # (partition, does this record fail?) in batch order


@settings(max_examples=150, deadline=None)
@given(plan=partitions_and_failures, concurrency=st.sampled_from([1, 4]))
def test_each_partition_runs_in_order_and_stops_at_its_first_failure(
    plan: list[tuple[int, bool]], concurrency: int
) -> None:
    offsets: dict[int, int] = {}
    records = []
    failing: set[str] = set()
    for number, (partition, fails) in enumerate(plan):
        offset = offsets[partition] = offsets.get(partition, 99) + 1
        records.append(kafka_record({"n": number}, topic="t", partition=partition, offset=offset))
        if fails:
            failing.add(f"t-{partition}@{offset}")
    calls: list[tuple[int, int]] = []

    @worker(concurrency=concurrency)
    def handler(payload: Any, message: Message) -> None:
        calls.append((message.partition, message.offset))  # type: ignore[arg-type]
        if message.id in failing:
            raise RuntimeError("fails")

    event = kafka_event(records)
    response = handler(event, LambdaContext())
    expected_reports = []
    for key, partition_records in event["records"].items():
        ran = []
        for record in partition_records:
            ran.append((record["partition"], record["offset"]))
            if f"{key}@{record['offset']}" in failing:
                expected_reports.append({"itemIdentifier": {"partition": key, "offset": record["offset"]}})
                break
        assert [call for call in calls if call[0] == partition_records[0]["partition"]] == ran
    assert sorted(response["batchItemFailures"], key=str) == sorted(expected_reports, key=str)  # type: ignore[index]


def test_records_after_a_failure_are_reported_unstarted_by_run() -> None:
    @worker
    def handler(payload: Any) -> None:
        raise RuntimeError("down")

    event = kafka_event([b"1", b"2"], topic="t")
    offsets = [record["offset"] for record in event["records"]["t-0"]]
    result = handler.run(event, LambdaContext())
    assert [type(failure.error) for failure in result.failures] == [RuntimeError, NotStartedError]
    assert result.failed_ids == [f"t-0@{offset}" for offset in offsets]
    assert "an earlier record of partition 't-0' failed" in str(result.failures[1].error)


# --------------------------------------------------------------------------------------------------
# Message fields


def test_message_exposes_topic_partition_offset_key_headers_and_timestamp() -> None:
    handler, seen = collector()
    moment = datetime(2026, 11, 26, 8, 0, 0, 123000, tzinfo=UTC)
    record = kafka_record(
        b"v", topic="orders", partition=3, offset=42, key="cust-17", headers={"trace": b"abc"}, timestamp=moment
    )
    record["headers"].append({"signed": [-1, 127]})  # Java bytes arrive signed
    event = kafka_event([record])
    handler(event, LambdaContext())
    ((_, message),) = seen
    assert (message.topic, message.partition, message.offset) == ("orders", 3, 42)
    assert message.id == "orders-3@42"
    assert message.key == b"cust-17"
    assert message.headers == {"trace": b"abc", "signed": b"\xff\x7f"}
    assert message.sent_at == moment and message.timestamp_type == "CREATE_TIME"
    assert message.raw is event["records"]["orders-3"][0]


def test_a_record_without_key_or_headers_has_none_and_an_empty_mapping() -> None:
    handler, seen = collector()
    record = kafka_record(b"v")
    del record["headers"]
    handler(kafka_event([record]), LambdaContext())
    assert (seen[0][1].key, seen[0][1].headers) == (None, {})


# --------------------------------------------------------------------------------------------------
# Bad input: a clear error for that record (and its partition after it), no payload bytes


def test_bad_base64_value_fails_that_record_with_a_clear_error_and_no_payload(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    handler, seen = collector()
    bad = kafka_record(b"x", topic="t", partition=0, offset=1)
    bad["value"] = "c2VjcmV0LXRva2Vu!!"  # not base64 ("secret-token" before the junk)
    after = kafka_record(b"after", topic="t", partition=0, offset=2)
    other = kafka_record(b"other", topic="t", partition=1, offset=1)
    event = kafka_event([bad, after, other])
    result = handler.run(event, LambdaContext())
    assert [type(failure.error) for failure in result.failures] == [ParseError, NotStartedError]
    assert "Kafka record value is not valid base64" in str(result.failures[0].error)
    assert [payload for payload, _ in seen] == ["other"]  # untyped: UTF-8 text that is not JSON
    response = handler(event, LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": {"partition": "t-0", "offset": 1}}]}
    assert "secret" not in caplog.text and "c2VjcmV0" not in caplog.text


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"value": 12}, "Kafka record value is a int, expected base64 text"),
        ({"key": "@@not base64@@"}, "Kafka record key is not valid base64"),
        ({"headers": [{"h": "text"}]}, "Kafka record headers are not a list"),
    ],
)
def test_malformed_fields_fail_the_record_that_has_them(change: dict[str, Any], says: str) -> None:
    @worker
    def handler(payload: Any, message: Message) -> None:
        message.key, message.headers  # noqa: B018  (each field decodes, or fails the record, when read)

    record = kafka_record(b"v", key=b"k", topic="t", offset=7) | change
    result = handler.run(kafka_event([record]), LambdaContext())
    (failure,) = result.failures
    assert isinstance(failure.error, ParseError) and says in str(failure.error)


def test_a_record_that_is_not_an_object_fails_alone_and_cannot_be_reported() -> None:
    handler, seen = collector()
    event = {
        "eventSource": "aws:kafka",
        "records": {"t-0": ["garbage"], "t-1": [kafka_record(b"ok", topic="t", partition=1)]},
    }
    result = handler.run(event, LambdaContext())
    assert "Kafka record is a str, expected an object" in str(result.failures[0].error)
    assert [payload for payload, _ in seen] == ["ok"]
    # Without topic, partition and offset Lambda could not be told where to resume: the
    # invocation fails as a whole so that the batch comes back, rather than losing it.
    with pytest.raises(BatchReportError, match="no id to report"):
        handler(event, LambdaContext())


def test_headers_keep_bytes_even_when_a_value_is_base64_looking_text() -> None:
    handler, seen = collector()
    handler(kafka_event([kafka_record(b"v", headers={"h": base64.b64encode(b"x")})]), LambdaContext())
    assert seen[0][1].headers == {"h": b"eA=="}


# --------------------------------------------------------------------------------------------------
# Against a stub of the Kafka event source mapping. No local Kafka or MSK emulation is at hand
# (moto has none), so this stub does what AWS documents for a provisioned-mode mapping with
# ReportBatchItemFailures: each reported partition resumes at the reported offset, the
# others are committed past the batch; an identifier naming no record of the batch, or a
# function error, retries the whole batch.


class KafkaMappingStub:
    def __init__(self, partitions: dict[int, int], batch_size: int) -> None:
        self.log = {
            p: [kafka_record({"p": p, "o": o}, topic="t", partition=p, offset=o) for o in range(n)]
            for p, n in partitions.items()
        }
        self.position = dict.fromkeys(partitions, 0)
        self.batch_size = batch_size

    def done(self) -> bool:
        return all(self.position[p] == len(records) for p, records in self.log.items())

    def poll(self, handler: Any) -> None:
        batch = {p: records[self.position[p] : self.position[p] + self.batch_size] for p, records in self.log.items()}
        event = kafka_event([record for records in batch.values() for record in records])
        try:
            response = handler(event, LambdaContext())
        except Exception:
            return  # the whole batch again
        resume: dict[int, int] = {}
        for item in response["batchItemFailures"]:
            identifier = item["itemIdentifier"]
            partition = int(identifier["partition"].rsplit("-", 1)[1])
            offsets = [record["offset"] for record in batch.get(partition, [])]
            if not identifier["partition"].startswith("t-") or identifier["offset"] not in offsets:
                return  # not a record of this batch: Lambda treats the batch as failed
            resume[partition] = min(resume.get(partition, identifier["offset"]), identifier["offset"])
        for partition, records in batch.items():
            if records:
                self.position[partition] = resume.get(partition, records[-1]["offset"] + 1)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.dictionaries(st.integers(0, 3), st.integers(1, 8), min_size=1, max_size=4),
    flaky=st.sets(st.tuples(st.integers(0, 3), st.integers(0, 7)), max_size=10),
    batch_size=st.integers(1, 5),
    concurrency=st.sampled_from([1, 3]),
)
def test_through_the_mapping_every_record_takes_effect_once_and_in_order(
    sizes: dict[int, int], flaky: set[tuple[int, int]], batch_size: int, concurrency: int
) -> None:
    effects: dict[int, list[int]] = {p: [] for p in sizes}
    failing = set(flaky)

    @worker(concurrency=concurrency, metrics=False)
    def handler(payload: dict[str, int]) -> None:
        position = (payload["p"], payload["o"])
        if position in failing:
            failing.discard(position)  # fails once, then succeeds on the redelivery
            raise ConnectionError("broker of the downstream service unreachable")
        effects[payload["p"]].append(payload["o"])

    mapping = KafkaMappingStub(sizes, batch_size)
    for _ in range(200):
        if mapping.done():
            break
        mapping.poll(handler)
    assert mapping.done()
    assert effects == {p: list(range(n)) for p, n in sizes.items()}


def test_routes_match_kafka_records_as_lambda_event_filtering_sees_them() -> None:
    seen: list[tuple[str, Any]] = []
    router = Router()

    @router.route({"topic": ["payments"]})
    def payments(value: Any) -> None:
        seen.append(("payments", value))

    @router.route({"value": {"total": [{"numeric": [">=", 100]}]}})
    def large(value: Any) -> None:
        seen.append(("large", value["order_id"]))

    @router.route()
    def rest(value: Any) -> None:
        seen.append(("rest", value))

    handler = worker(router)
    records = [
        kafka_record(order("o-1", 500), topic="orders"),
        kafka_record(order("o-2", 5), topic="orders"),
        kafka_record("refund", topic="payments"),
    ]
    assert handler(kafka_event(records), LambdaContext()) == {"batchItemFailures": []}
    assert sorted(seen, key=str) == sorted(
        [("large", "o-1"), ("rest", order("o-2", 5)), ("payments", "refund")], key=str
    )


def test_value_deserializer_also_reads_other_sources_undecoded_payloads() -> None:
    handler, seen = collector(value_deserializer=lambda text: {"upper": text.upper()})
    handler(sqs_event(["hello"]), LambdaContext())
    assert seen[0][0] == {"upper": "HELLO"}
