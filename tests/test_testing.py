"""Tests for msgworker.testing: event shapes, encodings, counters, the fake context and events/ files."""

from __future__ import annotations

import base64
import doctest
import hashlib
import importlib
import json
import math
import pkgutil
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

import msgworker.sources
import msgworker.testing
from msgworker.testing import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    LambdaContext,
    ManualClock,
    MessageAttributeValue,
    dynamodb_event,
    dynamodb_record,
    eventbridge_event,
    eventbridge_to_sqs_event,
    kinesis_event,
    kinesis_record,
    sns_envelope,
    sns_event,
    sns_record,
    sns_to_sqs_event,
    sqs_event,
    sqs_record,
    to_dynamodb_json,
)

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
NOON = datetime(2026, 11, 25, 10, 0, 0, 123_000, tzinfo=UTC)

SQS_RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}
SNS_ENVELOPE_KEYS = {
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "UnsubscribeURL",
}


class Order(BaseModel):
    order_id: str
    customer_id: str
    total: float = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)


class Notification(BaseModel):
    user_id: str
    channel: Literal["email", "sms", "push"]
    text: str


class HighValueOrder(BaseModel):
    order_id: str
    customer_id: str
    total: float
    currency: str


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# the module itself


TESTING_MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(msgworker.testing.__path__, prefix="msgworker.testing.")
)


def test_there_is_one_module_per_source() -> None:
    # Private modules of sources/ (the S3 typed models) are parts of a source, not sources.
    sources = {
        name for _, name, _ in pkgutil.iter_modules(msgworker.sources.__path__) if name != "base" and name[0] != "_"
    }
    assert {f"msgworker.testing._{name}" for name in sources} <= set(TESTING_MODULES)


@pytest.mark.parametrize("name", ["msgworker.testing", *TESTING_MODULES])
def test_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


def test_import_is_cheap() -> None:
    # A fresh interpreter, so the check is about what msgworker.testing itself pulls in:
    # neither the AWS SDK nor moto until local_aws() actually starts a server.
    code = (
        "import sys\n"
        "import msgworker.testing as testing\n"
        "testing.sqs_event(['x'])\n"
        "print(sorted({'boto3', 'botocore', 'moto'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_all_lists_the_public_names() -> None:
    # Names defined in the package's private modules and imported into it are its public face.
    public = {
        name
        for name, value in vars(msgworker.testing).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("msgworker.testing.")
    }
    assert {"LambdaContext", "ManualClock", "sqs_event", "local_aws"} <= public
    assert public <= set(msgworker.testing.__all__)
    assert all(hasattr(msgworker.testing, name) for name in msgworker.testing.__all__)


# --------------------------------------------------------------------------------------------------
# SQS


def test_sqs_record_has_the_lambda_shape() -> None:
    record = sqs_record({"order_id": "o-1"}, queue="orders", sent_at=NOON)

    assert set(record) == SQS_RECORD_KEYS
    assert record["body"] == '{"order_id": "o-1"}'
    assert record["md5OfBody"] == md5(record["body"])
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:orders"
    assert record["awsRegion"] == DEFAULT_REGION
    assert record["messageAttributes"] == {}
    assert uuid.UUID(record["messageId"]).version == 4
    assert record["receiptHandle"].startswith("AQEB")
    assert record["attributes"] == {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1795600800123",
        "SenderId": record["attributes"]["SenderId"],
        "ApproximateFirstReceiveTimestamp": record["attributes"]["ApproximateFirstReceiveTimestamp"],
    }
    assert int(record["attributes"]["ApproximateFirstReceiveTimestamp"]) >= 1795600800123


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("plain text", "plain text"),
        ("caf\u00e9".encode(), "caf\u00e9"),
        ({"a": [1, 2]}, '{"a": [1, 2]}'),
        (42, "42"),
        (Order(order_id="o", customer_id="c", total=1.5, currency="EUR"), None),
    ],
)
def test_sqs_body_encodings(body: object, expected: str | None) -> None:
    record = sqs_record(body)
    if isinstance(body, BaseModel):
        expected = body.model_dump_json()
    assert record["body"] == expected
    assert record["md5OfBody"] == md5(record["body"])


def test_sqs_message_attributes_use_lambda_casing() -> None:
    record = sqs_record(
        "x",
        message_attributes={"s": "v", "n": 7, "f": 2.5, "b": b"\x00\x01", "a": ["x", "y"]},
    )

    empty_lists: dict[str, list[str]] = {"stringListValues": [], "binaryListValues": []}
    assert record["messageAttributes"] == {
        "s": {"stringValue": "v", **empty_lists, "dataType": "String"},
        "n": {"stringValue": "7", **empty_lists, "dataType": "Number"},
        "f": {"stringValue": "2.5", **empty_lists, "dataType": "Number"},
        "b": {"binaryValue": "AAE=", **empty_lists, "dataType": "Binary"},
        "a": {"stringValue": '["x","y"]', **empty_lists, "dataType": "String.Array"},
    }
    assert set(record) == SQS_RECORD_KEYS | {"md5OfMessageAttributes"}


@pytest.mark.parametrize(
    ("attributes", "digest"),
    [
        # Published reference values for SQS's message-attribute digest.
        ({"attribName1": "attribValue 1"}, "19e27d4e946b072f3f58da80d94fd778"),
        ({"binaryAttribute": b"Hello binary world!"}, "31a92b15d92f8db860eda32aceb656c3"),
    ],
)
def test_md5_of_message_attributes_matches_sqs(attributes: Mapping[str, MessageAttributeValue], digest: str) -> None:
    assert sqs_record("x", message_attributes=attributes)["md5OfMessageAttributes"] == digest


@pytest.mark.parametrize("bad", [True, None, {"k": "v"}, [1, 2]])
def test_unsupported_message_attribute_values_are_rejected(bad: Any) -> None:
    with pytest.raises(TypeError, match="message attribute 'k'"):
        sqs_record("x", message_attributes={"k": bad})


def test_fifo_record_attributes() -> None:
    record = sqs_record("hello", queue="orders.fifo", sent_at=NOON)
    attributes = record["attributes"]

    assert attributes["MessageGroupId"] == "group-1"
    assert attributes["MessageDeduplicationId"] == hashlib.sha256(b"hello").hexdigest()
    assert re.fullmatch(r"\d{20}", attributes["SequenceNumber"])
    assert record["eventSourceARN"].endswith(":orders.fifo")

    explicit = sqs_record("hello", queue="q.fifo", group_id="g", deduplication_id="d", receive_count=4)
    assert explicit["attributes"]["MessageGroupId"] == "g"
    assert explicit["attributes"]["MessageDeduplicationId"] == "d"
    assert explicit["attributes"]["ApproximateReceiveCount"] == "4"


def test_standard_queue_has_no_fifo_attributes() -> None:
    attributes = sqs_record("x")["attributes"]
    assert not {"MessageGroupId", "MessageDeduplicationId", "SequenceNumber"} & set(attributes)


@pytest.mark.parametrize("option", ["group_id", "deduplication_id"])
def test_fifo_options_on_a_standard_queue_are_an_error(option: str) -> None:
    with pytest.raises(ValueError, match="standard queue"):
        sqs_record("x", queue="orders", **{option: "g"})  # type: ignore[arg-type]


def test_receive_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="receive_count"):
        sqs_record("x", receive_count=0)


def test_timestamps_are_epoch_milliseconds_and_naive_means_utc() -> None:
    naive = sqs_record("x", sent_at=datetime(2026, 11, 25, 10, 0, 0, 123_000))
    aware = sqs_record("x", sent_at=NOON.astimezone(timezone(timedelta(hours=5))))
    assert naive["attributes"]["SentTimestamp"] == aware["attributes"]["SentTimestamp"] == "1795600800123"


def test_sqs_event_mixes_bodies_and_records_and_sets_groups() -> None:
    ready = sqs_record("kept", queue="other")
    event = sqs_event(["a", ready, "b"], group_ids=["g1", "ignored", "g2"])

    records = event["Records"]
    assert list(event) == ["Records"]
    assert records[1] == ready
    assert [records[0]["attributes"]["MessageGroupId"], records[2]["attributes"]["MessageGroupId"]] == [
        "g1",
        "g2",
    ]
    assert records[0]["eventSourceARN"].endswith(":msgworker-queue.fifo")


def test_sqs_event_group_ids_need_one_per_body_and_a_fifo_queue() -> None:
    with pytest.raises(ValueError, match="group_ids"):
        sqs_event(["a", "b"], group_ids=["g"])
    with pytest.raises(ValueError, match="FIFO"):
        sqs_event(["a"], group_ids=["g"], queue="standard")


def test_sequence_numbers_strictly_increase_across_calls() -> None:
    fifo = [int(r["attributes"]["SequenceNumber"]) for r in sqs_event(["a"] * 5, queue="q.fifo")["Records"]]
    fifo.append(int(sqs_record("b", queue="q.fifo")["attributes"]["SequenceNumber"]))
    kinesis = [int(kinesis_record(b"x")["kinesis"]["sequenceNumber"]) for _ in range(5)]
    dynamo = [int(dynamodb_record({"id": "1"})["dynamodb"]["SequenceNumber"]) for _ in range(5)]
    for numbers in (fifo, kinesis, dynamo):
        assert numbers == sorted(set(numbers))


def test_ids_are_unique() -> None:
    records = sqs_event(range(50))["Records"]
    assert len({r["messageId"] for r in records}) == 50
    assert len({r["receiptHandle"] for r in records}) == 50


@given(st.text())
def test_md5_of_body_always_matches(body: str) -> None:
    assert sqs_record(body)["md5OfBody"] == md5(body)


# --------------------------------------------------------------------------------------------------
# SNS


def test_sns_envelope_keys_and_values() -> None:
    envelope = sns_envelope({"user_id": "u"}, topic="notifications", timestamp=NOON)

    assert set(envelope) == SNS_ENVELOPE_KEYS
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:notifications"
    assert envelope["Message"] == '{"user_id": "u"}'
    assert envelope["Timestamp"] == "2026-11-25T10:00:00.123Z"
    assert envelope["SigningCertURL"].startswith("https://sns.us-east-1.amazonaws.com/")
    assert "SubscriptionArn=arn:aws:sns:us-east-1:123456789012:notifications:" in envelope["UnsubscribeURL"]
    assert len(base64.b64decode(envelope["Signature"])) == 256


def test_sns_envelope_subject_and_attributes() -> None:
    envelope = sns_envelope(
        "m",
        subject="Hi",
        message_attributes={"s": "v", "n": 3, "b": b"\xff", "a": ["x", "y"]},
    )
    assert set(envelope) == SNS_ENVELOPE_KEYS | {"Subject", "MessageAttributes"}
    assert envelope["Subject"] == "Hi"
    assert envelope["MessageAttributes"] == {
        "s": {"Type": "String", "Value": "v"},
        "n": {"Type": "Number", "Value": "3"},
        "b": {"Type": "Binary", "Value": "/w=="},
        "a": {"Type": "String.Array", "Value": '["x","y"]'},
    }


def test_sns_envelope_serialises_models() -> None:
    note = Notification(user_id="u", channel="sms", text="hi")
    assert sns_envelope(note)["Message"] == note.model_dump_json()


def test_sns_to_sqs_event_wraps_envelopes() -> None:
    event = sns_to_sqs_event(
        ["one", {"two": 2}], topic="notifications", subject="S", queue="notifications", sent_at=NOON
    )

    records = event["Records"]
    assert records[0]["body"].startswith('{\n  "Type" : "Notification",\n')
    envelopes = [json.loads(r["body"]) for r in records]
    assert [e["Message"] for e in envelopes] == ["one", '{"two": 2}']
    assert all(e["Subject"] == "S" and e["Timestamp"] == "2026-11-25T10:00:00.123Z" for e in envelopes)
    assert all(r["eventSourceARN"].endswith(":notifications") for r in records)
    assert all(r["messageAttributes"] == {} for r in records)


def test_sns_to_sqs_raw_delivery_moves_attributes_to_sqs() -> None:
    event = sns_to_sqs_event(["one"], raw=True, message_attributes={"kind": "greeting", "tags": ["a"]})

    record = event["Records"][0]
    assert record["body"] == "one"
    assert record["messageAttributes"]["kind"]["stringValue"] == "greeting"
    assert record["messageAttributes"]["tags"] == {
        "stringValue": '["a"]',
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String.Array",
    }


def test_sns_record_uses_lambda_spelling() -> None:
    record = sns_record("hello", topic="notifications", timestamp=NOON)
    sns = record["Sns"]

    assert set(record) == {"EventSource", "EventVersion", "EventSubscriptionArn", "Sns"}
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"].startswith("arn:aws:sns:us-east-1:123456789012:notifications:")
    assert set(sns) == (SNS_ENVELOPE_KEYS - {"SigningCertURL", "UnsubscribeURL"}) | {
        "SigningCertUrl",
        "UnsubscribeUrl",
        "Subject",
        "MessageAttributes",
    }
    assert sns["Subject"] is None
    assert sns["MessageAttributes"] == {}
    assert sns["UnsubscribeUrl"].endswith(record["EventSubscriptionArn"])


def test_sns_event_keeps_records() -> None:
    ready = sns_record("kept")
    event = sns_event(["a", ready], subject="S")
    assert event["Records"][1] == ready
    assert event["Records"][0]["Sns"]["Subject"] == "S"


# --------------------------------------------------------------------------------------------------
# EventBridge


def test_eventbridge_event_shape() -> None:
    event = eventbridge_event({"order_id": "o-1"}, time=NOON, resources=["arn:x"], bus="orders")

    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert event["version"] == "0"
    assert event["time"] == "2026-11-25T10:00:00Z"
    assert event["source"] == "com.example.orders"
    assert event["detail-type"] == "OrderPlaced"
    assert event["resources"] == ["arn:x"]
    assert (event["account"], event["region"]) == (DEFAULT_ACCOUNT, DEFAULT_REGION)


def test_eventbridge_detail_forms() -> None:
    model = HighValueOrder(order_id="o", customer_id="c", total=1, currency="EUR")
    assert eventbridge_event(model)["detail"] == model.model_dump(mode="json")
    assert eventbridge_event('{"a": 1}')["detail"] == {"a": 1}
    with pytest.raises(TypeError, match="JSON object"):
        eventbridge_event([1, 2])
    with pytest.raises(ValueError, match="bus"):
        eventbridge_event({}, bus="")


def test_eventbridge_to_sqs_event_splits_options() -> None:
    event = eventbridge_to_sqs_event(
        [{"order_id": "o-1"}],
        source="com.example.billing",
        detail_type="InvoicePaid",
        queue="high-value-orders",
        eventbridge={"time": NOON, "resources": ["arn:r"]},
        sqs={"receive_count": 2},
    )

    record = event["Records"][0]
    assert record["body"].startswith('{"version":"0","id":"')
    body = json.loads(record["body"])
    assert body["source"] == "com.example.billing"
    assert body["detail-type"] == "InvoicePaid"
    assert body["resources"] == ["arn:r"]
    assert record["eventSourceARN"].endswith(":high-value-orders")
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["attributes"]["SentTimestamp"] == "1795600800123"


def test_eventbridge_to_sqs_keeps_whole_events() -> None:
    whole = eventbridge_event({"k": 1})
    assert json.loads(eventbridge_to_sqs_event([whole])["Records"][0]["body"]) == whole


# --------------------------------------------------------------------------------------------------
# Kinesis


def test_kinesis_record_shape_and_base64_round_trip() -> None:
    order = Order(order_id="o", customer_id="c", total=3, currency="EUR")
    record = kinesis_record(order, partition_key="c", stream="orders", arrival=NOON)

    assert set(record) == {
        "kinesis",
        "eventSource",
        "eventVersion",
        "eventID",
        "eventName",
        "invokeIdentityArn",
        "awsRegion",
        "eventSourceARN",
    }
    kinesis = record["kinesis"]
    assert set(kinesis) == {
        "kinesisSchemaVersion",
        "partitionKey",
        "sequenceNumber",
        "data",
        "approximateArrivalTimestamp",
    }
    assert Order.model_validate_json(base64.b64decode(kinesis["data"])) == order
    assert kinesis["approximateArrivalTimestamp"] == 1795600800.123
    assert kinesis["partitionKey"] == "c"
    assert record["eventSource"] == "aws:kinesis"
    assert record["eventName"] == "aws:kinesis:record"
    assert record["eventID"] == f"shardId-000000000000:{kinesis['sequenceNumber']}"
    assert record["eventSourceARN"] == "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
    assert record["invokeIdentityArn"].startswith("arn:aws:iam::123456789012:role/")


@given(st.binary())
def test_kinesis_data_round_trips_bytes(data: bytes) -> None:
    assert base64.b64decode(kinesis_record(data)["kinesis"]["data"]) == data


def test_kinesis_event_and_explicit_sequence() -> None:
    ready = kinesis_record("x", sequence_number=5)
    event = kinesis_event(["a", {"b": 1}, ready])
    assert event["Records"][2] == ready
    assert ready["kinesis"]["sequenceNumber"] == "5"
    assert base64.b64decode(event["Records"][1]["kinesis"]["data"]) == b'{"b": 1}'


# --------------------------------------------------------------------------------------------------
# DynamoDB


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s", {"S": "s"}),
        (True, {"BOOL": True}),
        (False, {"BOOL": False}),
        (7, {"N": "7"}),
        (-2.5, {"N": "-2.5"}),
        (10.0, {"N": "10"}),
        (Decimal("10.50"), {"N": "10.5"}),
        (Decimal("1E+3"), {"N": "1000"}),
        (b"\x00\xff", {"B": "AP8="}),
        (None, {"NULL": True}),
        ({"a": 1, "b": None}, {"M": {"a": {"N": "1"}, "b": {"NULL": True}}}),
        ([1, "x"], {"L": [{"N": "1"}, {"S": "x"}]}),
        ((True,), {"L": [{"BOOL": True}]}),
        ({"b", "a"}, {"SS": ["a", "b"]}),
        ({3, 1.5, Decimal("2")}, {"NS": ["1.5", "2", "3"]}),
        (frozenset({b"b", b"a"}), {"BS": ["YQ==", "Yg=="]}),
    ],
)
def test_to_dynamodb_json(value: object, expected: dict[str, Any]) -> None:
    assert to_dynamodb_json(value) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (set(), ValueError),
        (math.nan, ValueError),
        (Decimal("Infinity"), ValueError),
        ({"a", 1}, TypeError),
        ({1: "x"}, TypeError),
        (object(), TypeError),
    ],
)
def test_to_dynamodb_json_rejects(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        to_dynamodb_json(value)


def from_dynamodb_json(attribute: Mapping[str, Any]) -> Any:
    """The inverse of to_dynamodb_json (numbers come back as Decimal, sets as sets)."""
    ((kind, value),) = attribute.items()
    decoders: dict[str, Any] = {
        "S": lambda v: v,
        "N": Decimal,
        "B": base64.b64decode,
        "BOOL": lambda v: v,
        "NULL": lambda v: None,
        "M": lambda v: {k: from_dynamodb_json(m) for k, m in v.items()},
        "L": lambda v: [from_dynamodb_json(m) for m in v],
        "SS": set,
        "NS": lambda v: {Decimal(n) for n in v},
        "BS": lambda v: {base64.b64decode(b) for b in v},
    }
    return decoders[kind](value)


def canonical(value: Any) -> Any:
    """What a value looks like after a DynamoDB round trip."""
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes):
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return {canonical(v) for v in value}


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.text() | st.binary() | st.integers() | finite_floats
dynamo_values = st.recursive(
    scalars
    | st.frozensets(st.text(), min_size=1)
    | st.frozensets(st.integers(), min_size=1)
    | st.frozensets(st.binary(), min_size=1),
    lambda children: st.lists(children) | st.tuples(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(dynamo_values)
def test_to_dynamodb_json_round_trips(value: Any) -> None:
    encoded = to_dynamodb_json(value)
    assert json.loads(json.dumps(encoded)) == encoded  # plain JSON all the way down
    assert from_dynamodb_json(encoded) == canonical(value)


def test_dynamodb_record_shape() -> None:
    record = dynamodb_record({"order_id": "o", "total": 5}, table="orders", key_names=("order_id",))

    assert set(record) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert set(record["dynamodb"]) == {
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert re.fullmatch(r"[0-9a-f]{32}", record["eventID"])
    assert record["eventName"] == "INSERT"
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == (
        "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-25T00:00:00.000"
    )
    assert record["dynamodb"]["Keys"] == {"order_id": {"S": "o"}}
    assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["SizeBytes"] > 0


def test_dynamodb_event_names_and_keys() -> None:
    modify = dynamodb_record({"id": "a", "n": 2}, {"id": "a", "n": 1})
    remove = dynamodb_record(old_image={"id": "a"})
    assert modify["eventName"] == "MODIFY"
    assert {"NewImage", "OldImage"} <= set(modify["dynamodb"])
    assert remove["eventName"] == "REMOVE"
    assert "NewImage" not in remove["dynamodb"]
    assert remove["dynamodb"]["Keys"] == {"id": {"S": "a"}}

    explicit = dynamodb_record({"pk": "p", "sk": 1}, keys={"pk": "p", "sk": 1}, event_name="MODIFY")
    assert explicit["dynamodb"]["Keys"] == {"pk": {"S": "p"}, "sk": {"N": "1"}}
    assert explicit["eventName"] == "MODIFY"


def test_dynamodb_record_errors() -> None:
    with pytest.raises(ValueError, match="image"):
        dynamodb_record()
    with pytest.raises(ValueError, match="key attribute"):
        dynamodb_record({"order_id": "o"})
    with pytest.raises(ValueError, match="event_name"):
        dynamodb_record({"id": "o"}, event_name="UPDATE")


def test_dynamodb_event_accepts_records_images_and_pairs() -> None:
    ready = dynamodb_record({"id": "r"})
    event = dynamodb_event([{"id": "a"}, ({"id": "a", "n": 2}, {"id": "a"}), (None, {"id": "a"}), ready])
    assert [r["eventName"] for r in event["Records"]] == ["INSERT", "MODIFY", "REMOVE", "INSERT"]
    assert event["Records"][3] == ready


# --------------------------------------------------------------------------------------------------
# LambdaContext


def test_lambda_context_attributes() -> None:
    context = LambdaContext(function_name="orders", memory_limit_in_mb=512, aws_request_id="req-1")

    assert context.function_name == "orders"
    assert context.function_version == "$LATEST"
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:orders"
    assert context.memory_limit_in_mb == 512
    assert context.aws_request_id == "req-1"
    assert context.log_group_name == "/aws/lambda/orders"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", context.log_stream_name)
    assert uuid.UUID(LambdaContext().aws_request_id).version == 4


def test_lambda_context_counts_down_on_its_clock() -> None:
    clock = ManualClock(start=1_000.0)
    context = LambdaContext(timeout=30, clock=clock)
    assert context.get_remaining_time_in_millis() == 30_000

    clock.advance(10)
    assert context.get_remaining_time_in_millis() == 20_000
    context.advance(0.25)  # the context's own offset adds to the clock's
    assert context.get_remaining_time_in_millis() == 19_750
    clock.advance(25)
    assert context.get_remaining_time_in_millis() == 0


def test_lambda_context_rounds_down_to_whole_milliseconds() -> None:
    clock = ManualClock()
    context = LambdaContext(remaining_ms=500, clock=clock)
    clock.advance(0.0004)
    assert context.get_remaining_time_in_millis() == 499


def test_lambda_context_by_default_counts_down_in_real_time() -> None:
    context = LambdaContext(timeout=30)
    first = context.get_remaining_time_in_millis()
    assert 0 < first <= 30_000
    assert context.get_remaining_time_in_millis() <= first


def test_lambda_context_remaining_ms_and_set_remaining() -> None:
    clock = ManualClock()
    context = LambdaContext(remaining_ms=500, clock=clock)
    assert context.get_remaining_time_in_millis() == 500

    clock.advance(1)
    assert context.get_remaining_time_in_millis() == 0
    context.set_remaining(60_000)  # from the clock's time now
    assert context.get_remaining_time_in_millis() == 60_000
    clock.advance(0.5)
    assert context.get_remaining_time_in_millis() == 59_500
    context.set_remaining(0)
    assert context.get_remaining_time_in_millis() == 0


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(start=5.0)
    assert clock() == clock() == 5.0
    clock.advance(0)
    clock.advance(1.5)
    assert clock() == 6.5
    with pytest.raises(ValueError):
        clock.advance(-0.1)


def test_manual_clock_sleep_records_and_advances_without_waiting() -> None:
    clock = ManualClock()
    for seconds in (0.05, 0.1, 3600):
        clock.sleep(seconds)
    assert clock.sleeps == [0.05, 0.1, 3600]
    assert clock() == pytest.approx(3600.15)
    with pytest.raises(ValueError):
        clock.sleep(-1)
    assert clock.sleeps == [0.05, 0.1, 3600]


def test_manual_clock_is_safe_to_advance_from_many_threads() -> None:
    clock = ManualClock()

    def tick() -> None:
        for _ in range(1_000):
            clock.advance(1)

    threads = [threading.Thread(target=tick) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock() == 8_000


def test_lambda_context_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        LambdaContext(timeout=0)
    with pytest.raises(ValueError):
        LambdaContext(remaining_ms=-1)
    with pytest.raises(ValueError):
        LambdaContext().advance(-1)
    with pytest.raises(ValueError):
        LambdaContext().set_remaining(-5)


# --------------------------------------------------------------------------------------------------
# events/ sample files: every file is reproduced by the factories, key for key


def key_paths(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path in a JSON value; list positions collapse to "[]" so records compare as a set."""
    if isinstance(value, dict):
        for key, member in value.items():
            yield (*path, key)
            yield from key_paths(member, (*path, key))
    elif isinstance(value, list):
        for member in value:
            yield from key_paths(member, (*path, "[]"))


def assert_same_keys(sample: Any, built: Any) -> None:
    assert set(key_paths(sample)) == set(key_paths(built))


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def sqs_attributes_back(attributes: Mapping[str, Any]) -> dict[str, MessageAttributeValue]:
    result: dict[str, MessageAttributeValue] = {}
    for name, attribute in attributes.items():
        data_type = attribute["dataType"]
        if data_type == "Binary":
            result[name] = base64.b64decode(attribute["binaryValue"])
        elif data_type == "Number" or data_type == "String.Array":
            result[name] = json.loads(attribute["stringValue"])
        else:
            result[name] = attribute["stringValue"]
    return result


def sns_attributes_back(attributes: Mapping[str, Any]) -> dict[str, MessageAttributeValue]:
    return sqs_attributes_back(
        {
            name: {"dataType": a["Type"], "stringValue": a["Value"], "binaryValue": a["Value"]}
            for name, a in attributes.items()
        }
    )


def rebuild_sqs(record: Mapping[str, Any], body: object | None = None) -> dict[str, Any]:
    attributes = record["attributes"]
    return sqs_record(
        record["body"] if body is None else body,
        queue=record["eventSourceARN"].rsplit(":", 1)[1],
        group_id=attributes.get("MessageGroupId"),
        receive_count=int(attributes["ApproximateReceiveCount"]),
        message_attributes=sqs_attributes_back(record["messageAttributes"]) or None,
    )


def check_sqs_record_facts(record: Mapping[str, Any]) -> None:
    """Facts AWS guarantees, checked on the sample files' hand-frozen values."""
    assert record["md5OfBody"] == md5(record["body"])
    assert record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"].startswith("arn:aws:sqs:us-east-1:123456789012:")
    if record["messageAttributes"]:
        rebuilt = sqs_record("x", message_attributes=sqs_attributes_back(record["messageAttributes"]))
        assert record["md5OfMessageAttributes"] == rebuilt["md5OfMessageAttributes"]
    attributes = record["attributes"]
    assert int(attributes["SentTimestamp"]) <= int(attributes["ApproximateFirstReceiveTimestamp"])


def sqs_sample(name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = load(name)["Records"]
    for record in records:
        check_sqs_record_facts(record)
        assert_same_keys(record, rebuild_sqs(record))
    return records


def test_sample_sqs_orders() -> None:
    records = sqs_sample("sqs/orders.json")
    assert len(records) == 4
    assert all(r["eventSourceARN"].endswith(":orders") for r in records)
    valid = invalid = 0
    for record in records:
        try:
            Order.model_validate_json(record["body"])
            valid += 1
        except ValidationError:
            invalid += 1
    assert (valid, invalid) == (3, 1)
    assert any(r["messageAttributes"] for r in records)


def test_sample_sqs_orders_fifo() -> None:
    records = sqs_sample("sqs/orders-fifo.json")
    assert len(records) == 5
    groups = [r["attributes"]["MessageGroupId"] for r in records]
    assert set(groups) == {"customer-1", "customer-2"}
    assert groups != sorted(groups)  # interleaved, not one group after the other
    sequence = [int(r["attributes"]["SequenceNumber"]) for r in records]
    assert sequence == sorted(set(sequence))
    for record in records:
        order = Order.model_validate_json(record["body"])
        assert order.customer_id == record["attributes"]["MessageGroupId"]
        assert record["attributes"]["MessageDeduplicationId"] == hashlib.sha256(record["body"].encode()).hexdigest()


def test_sample_sns_to_sqs() -> None:
    records = sqs_sample("sns/notifications-to-sqs.json")
    assert len(records) == 3
    envelopes = [json.loads(r["body"]) for r in records]
    for envelope in envelopes:
        assert envelope["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:notifications"
        Notification.model_validate_json(envelope["Message"])
        rebuilt = sns_envelope(
            envelope["Message"],
            subject=envelope.get("Subject"),
            message_attributes=sns_attributes_back(envelope.get("MessageAttributes", {})) or None,
        )
        assert_same_keys(envelope, rebuilt)
    assert any("Subject" in e and "MessageAttributes" in e for e in envelopes)


def test_sample_sns_to_sqs_raw() -> None:
    records = sqs_sample("sns/notifications-to-sqs-raw.json")
    assert len(records) == 2
    for record in records:
        Notification.model_validate_json(record["body"])
    # The shape raw delivery produces from an SNS message with the same attributes.
    first = records[0]
    built = sns_to_sqs_event(
        [first["body"]], raw=True, message_attributes=sqs_attributes_back(first["messageAttributes"])
    )
    assert_same_keys(first, built["Records"][0])


def test_sample_sns_notification() -> None:
    event = load("sns/notification.json")
    (record,) = event["Records"]
    sns = record["Sns"]
    Notification.model_validate_json(sns["Message"])
    rebuilt = sns_record(
        sns["Message"],
        subject=sns["Subject"],
        message_attributes=sns_attributes_back(sns["MessageAttributes"]),
    )
    assert_same_keys(record, rebuilt)


def test_sample_eventbridge_to_sqs() -> None:
    records = sqs_sample("eventbridge/high-value-orders-to-sqs.json")
    assert len(records) == 2
    for record in records:
        assert record["eventSourceARN"].endswith(":high-value-orders")
        event = json.loads(record["body"])
        assert (event["source"], event["detail-type"]) == ("com.example.orders", "OrderPlaced")
        HighValueOrder.model_validate(event["detail"])
        assert_same_keys(event, eventbridge_event(event["detail"], resources=event["resources"]))


def test_sample_eventbridge_event() -> None:
    event = load("eventbridge/high-value-order.json")
    assert "Records" not in event
    HighValueOrder.model_validate(event["detail"])
    assert_same_keys(event, eventbridge_event(event["detail"], resources=event["resources"]))


def test_sample_kinesis() -> None:
    records = load("kinesis/orders.json")["Records"]
    assert len(records) == 3
    sequence = [int(r["kinesis"]["sequenceNumber"]) for r in records]
    assert sequence == sorted(set(sequence))
    for record in records:
        data = base64.b64decode(record["kinesis"]["data"])
        Order.model_validate_json(data)
        assert record["eventID"].endswith(":" + record["kinesis"]["sequenceNumber"])
        assert_same_keys(record, kinesis_record(data, partition_key=record["kinesis"]["partitionKey"]))


def test_sample_dynamodb() -> None:
    records = load("dynamodb/orders-stream.json")["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    for record in records:
        stream = record["dynamodb"]
        new_image = from_dynamodb_json({"M": stream["NewImage"]}) if "NewImage" in stream else None
        old_image = from_dynamodb_json({"M": stream["OldImage"]}) if "OldImage" in stream else None
        for image in (new_image, old_image):
            if image is not None:
                Order.model_validate(image)
        rebuilt = dynamodb_record(new_image, old_image, table="orders", key_names=("order_id",))
        assert_same_keys(record, rebuilt)
        # Same images and keys, encoded identically: the file is exactly what the factory produces.
        for part in ("Keys", "NewImage", "OldImage"):
            assert stream.get(part) == rebuilt["dynamodb"].get(part)
        assert record["eventSourceARN"] == rebuilt["eventSourceARN"]


@pytest.mark.parametrize("path", sorted(EVENTS.rglob("*.json")), ids=lambda p: str(p.relative_to(EVENTS)))
def test_every_sample_is_pretty_json_for_the_default_account(path: Path) -> None:
    text = path.read_text()
    event = json.loads(text)
    assert text == json.dumps(event, indent=2, ensure_ascii=False) + "\n"
    # A self-managed Kafka event names no AWS resource, so no account (its brokers are in us-east-1).
    assert ("123456789012" in text or event.get("eventSource") == "SelfManagedKafka") and "us-east-1" in text
    assert re.search(r"arn:aws:[a-z]+:(?!us-east-1)[a-z]+-[a-z]+-\d", text) is None
