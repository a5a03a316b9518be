"""msgworker.testing's Kafka and S3 factories: the shapes AWS sends, and the events/ samples
they reproduce key for key (the helpers are test_testing.py's)."""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote_plus

from test_testing import assert_same_keys, load, sqs_sample

from msgworker.testing import (
    kafka_event,
    kafka_record,
    s3_eventbridge_event,
    s3_notification,
    s3_record,
    s3_test_event,
    s3_to_sqs_event,
    sns_envelope,
)


def test_kafka_records_are_grouped_by_topic_partition_with_rising_offsets() -> None:
    event = kafka_event([b"a", b"b", b"c", b"d"], topic="orders", partitions=[0, 1])
    assert list(event["records"]) == ["orders-0", "orders-1"]
    for key, records in event["records"].items():
        assert all(f"{r['topic']}-{r['partition']}" == key for r in records)
        offsets = [r["offset"] for r in records]
        assert offsets == sorted(set(offsets))
    assert event["eventSourceArn"].startswith("arn:aws:kafka:us-east-1:123456789012:cluster/")
    managed = kafka_event([b"a"], self_managed=True)
    assert managed["eventSource"] == "SelfManagedKafka" and "eventSourceArn" not in managed


def test_kafka_record_encodes_key_value_and_headers_as_lambda_does() -> None:
    record = kafka_record({"n": 1}, key="k-1", headers=[("h", b"\x00\xff"), ("h", "text")], offset=3)
    assert base64.b64decode(record["value"]) == b'{"n": 1}'
    assert base64.b64decode(record["key"]) == b"k-1"
    assert record["headers"] == [{"h": [0, 255]}, {"h": list(b"text")}]
    assert "value" not in kafka_record(None)  # a tombstone


def test_sample_kafka_events() -> None:
    for name, self_managed in (("kafka/orders-msk.json", False), ("kafka/orders-self-managed.json", True)):
        sample = load(name)
        records = [record for records in sample["records"].values() for record in records]
        built = kafka_event(
            [
                kafka_record(
                    base64.b64decode(r["value"]),
                    topic=r["topic"],
                    partition=r["partition"],
                    offset=r["offset"],
                    key=base64.b64decode(r["key"]),
                    headers=[(n, bytes(v)) for h in r["headers"] for n, v in h.items()],
                )
                for r in records
            ],
            self_managed=self_managed,
        )
        assert_same_keys(sample, built)
        assert list(sample["records"]) == list(built["records"])
        for record in records:
            json.loads(base64.b64decode(record["value"]))  # every value is an Order's JSON


def test_s3_records_carry_keys_url_encoded_and_deletes_no_size() -> None:
    record = s3_record("b", "a b/c+d%.txt")
    assert record["s3"]["object"]["key"] == "a+b/c%2Bd%25.txt"
    assert unquote_plus(record["s3"]["object"]["key"]) == "a b/c+d%.txt"
    removed = s3_record("b", "k", event_name="ObjectRemoved:Delete")
    assert "size" not in removed["s3"]["object"] and "eTag" not in removed["s3"]["object"]
    first, second = s3_record("b", "1"), s3_record("b", "2")
    assert int(first["s3"]["object"]["sequencer"], 16) < int(second["s3"]["object"]["sequencer"], 16)


def test_sample_s3_to_sqs() -> None:
    records = sqs_sample("s3/uploads-to-sqs.json")
    bodies = [json.loads(record["body"]) for record in records]
    assert_same_keys(bodies[0], s3_test_event(bodies[0]["Bucket"]))
    for body in bodies[1:]:
        (s3,) = body["Records"]
        obj = s3["s3"]["object"]
        rebuilt = s3_record(s3["s3"]["bucket"]["name"], unquote_plus(obj["key"]), size=obj["size"])
        assert_same_keys(s3, rebuilt)
        assert rebuilt["s3"]["object"]["key"] == obj["key"]  # the same encoding S3 uses
    assert_same_keys(records[1], s3_to_sqs_event([bodies[1]])["Records"][0])


def test_sample_s3_via_sns_to_sqs() -> None:
    (record,) = sqs_sample("s3/uploads-via-sns-to-sqs.json")
    envelope = json.loads(record["body"])
    assert_same_keys(envelope, sns_envelope(envelope["Message"], subject=envelope["Subject"]))
    notification = json.loads(envelope["Message"])
    assert_same_keys(notification, s3_notification([s3_record("b", "k")]))


def test_sample_s3_eventbridge_event() -> None:
    event = load("s3/object-created.json")
    detail = event["detail"]
    rebuilt = s3_eventbridge_event(
        detail["bucket"]["name"],
        unquote_plus(detail["object"]["key"]),
        size=detail["object"]["size"],
        version_id=detail["object"]["version-id"],
    )
    assert_same_keys(event, rebuilt)
    assert (event["source"], event["detail-type"], event["resources"]) == (
        "aws.s3",
        "Object Created",
        ["arn:aws:s3:::msgworker-uploads"],
    )
