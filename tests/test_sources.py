"""Every source and envelope is detected, decoded and parsed, and failures are reported its way."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from conftest import EVENTS, Order, load_event
from pydantic import BaseModel
from typing_extensions import TypedDict

import handlers.high_value_orders
import handlers.notifications
import handlers.orders
import handlers.uploads
from msgworker import (
    Message,
    NotStartedError,
    ParseError,
    PermanentError,
    RecordsFailedError,
    UnrecognisedEventError,
    worker,
)
from msgworker.testing import (
    LambdaContext,
    dynamodb_event,
    dynamodb_record,
    eventbridge_event,
    eventbridge_to_sqs_event,
    kinesis_event,
    sns_envelope,
    sns_event,
    sns_to_sqs_event,
    sqs_event,
    sqs_record,
)

T0 = datetime(2026, 11, 25, 10, 0, 0, 123_000, tzinfo=UTC)
T0_SECONDS = T0.replace(microsecond=0)


class Notification(BaseModel):
    user_id: str
    text: str


def collector(model: Any = None, **options: Any) -> tuple[Any, list[tuple[Any, Message]]]:
    """A worker that records every (payload, message) it is given."""
    seen: list[tuple[Any, Message]] = []

    @worker(model, **options)
    def handler(payload: Any, message: Message) -> None:
        seen.append((payload, message))

    return handler, seen


def reported(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def sqs_ids(event: dict[str, Any]) -> list[str]:
    return [record["messageId"] for record in event["Records"]]


def kinesis_ids(event: dict[str, Any]) -> list[str]:
    return [record["kinesis"]["sequenceNumber"] for record in event["Records"]]


def dynamodb_ids(event: dict[str, Any]) -> list[str]:
    return [record["dynamodb"]["SequenceNumber"] for record in event["Records"]]


# --------------------------------------------------------------------------------------------------
# SQS standard and FIFO


def test_sqs_standard_body_is_parsed_and_message_describes_the_record():
    handler, seen = collector(Order)
    event = sqs_event(
        [{"order_id": "a", "total": 1.5}, {"order_id": "b", "total": 2}],
        queue="orders",
        receive_count=2,
        sent_at=T0,
        message_attributes={"tenant": "acme", "version": 3, "ratio": 0.5, "blob": b"\x00\x01"},
    )
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}

    assert [payload for payload, _ in seen] == [Order(order_id="a", total=1.5), Order(order_id="b", total=2)]
    (_, message), record = seen[0], event["Records"][0]
    assert message.id == record["messageId"]
    assert message.source == "sqs"
    assert message.envelope_names == ("sqs",)
    assert message.envelopes[0].id == record["messageId"]
    assert message.raw is record
    assert message.receive_count == 2
    assert message.group_id is None
    assert message.deduplication_id is None
    assert message.sequence_number is None
    assert message.sent_at == T0
    assert message.event_source_arn == "arn:aws:sqs:us-east-1:123456789012:orders"
    assert message.attributes == {"tenant": "acme", "version": 3, "ratio": 0.5, "blob": b"\x00\x01"}
    assert message.topic_arn is None and message.subject is None
    assert message.event_source is None and message.detail_type is None and message.resources == ()


def test_sqs_fifo_message_carries_group_deduplication_and_sequence():
    handler, seen = collector(Order)
    event = sqs_event(
        [{"order_id": "a", "total": 1}, {"order_id": "b", "total": 2}],
        group_ids=["g1", "g2"],
        queue="orders.fifo",
        deduplication_id="dedup-1",
        sent_at=T0,
    )
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    by_id = {message.id: message for _, message in seen}
    for record in event["Records"]:
        message = by_id[record["messageId"]]
        assert message.source == "sqs"
        assert message.group_id == record["attributes"]["MessageGroupId"]
        assert message.deduplication_id == "dedup-1"
        assert message.sequence_number == record["attributes"]["SequenceNumber"]
        assert message.receive_count == 1
        assert message.sent_at == T0
        assert message.raw is record
    assert [message.group_id for _, message in seen] == ["g1", "g2"]


def test_sqs_fifo_failure_stops_only_its_group():
    ran: list[str] = []

    @worker(Order)
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        if order.order_id == "a1":
            raise RuntimeError("a1 fails")

    names = ["a0", "b0", "a1", "b1", "a2", "b2"]
    event = sqs_event([{"order_id": n, "total": 1} for n in names], group_ids=[n[0] for n in names])
    ids = sqs_ids(event)
    result = handler.run(event, LambdaContext())
    assert ran == ["a0", "b0", "a1", "b1", "b2"]
    assert result.failed_ids == [ids[2], ids[4]]
    assert isinstance(result.failures[1].error, NotStartedError)
    assert reported(result.response()) == [ids[2], ids[4]]


def test_standard_queue_with_message_group_ids_is_not_ordered_by_group():
    """Fair (standard) queues may carry MessageGroupId; only .fifo queues are ordered by group."""
    ran: list[str] = []

    @worker(Order)
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        if order.order_id == "a0":
            raise RuntimeError("fails")

    records = [sqs_record({"order_id": n, "total": 1}, queue="fair") for n in ["a0", "a1"]]
    for record in records:
        record["attributes"]["MessageGroupId"] = "a"
    event = sqs_event(records)
    assert reported(handler(event, LambdaContext())) == [records[0]["messageId"]]
    assert ran == ["a0", "a1"]


# --------------------------------------------------------------------------------------------------
# SNS and EventBridge inside SQS bodies


def test_sns_to_sqs_envelope_is_unwrapped_and_sns_fields_are_on_the_message():
    handler, seen = collector(Notification)
    event = sns_to_sqs_event(
        [{"user_id": "u1", "text": "hi"}],
        topic="notifications",
        queue="notifications",
        subject="Welcome",
        message_attributes={"kind": "signup", "priority": 2, "tags": ["a", "b"], "sig": b"\xff"},
        sent_at=T0,
        receive_count=4,
    )
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    ((payload, message),) = seen
    record = event["Records"][0]
    envelope = json.loads(record["body"])
    assert payload == Notification(user_id="u1", text="hi")
    assert message.envelope_names == ("sqs", "sns")
    assert message.id == record["messageId"]
    assert message.source == "sqs"
    assert message.envelopes[1].id == envelope["MessageId"]
    assert message.envelopes[1].data == envelope
    assert message.topic_arn == "arn:aws:sns:us-east-1:123456789012:notifications"
    assert message.subject == "Welcome"
    assert message.attributes == {"kind": "signup", "priority": 2, "tags": ["a", "b"], "sig": b"\xff"}
    assert message.receive_count == 4
    assert message.sent_at == T0
    assert message.raw is record


def test_sns_to_sqs_raw_delivery_body_is_the_message():
    handler, seen = collector(Notification)
    event = sns_to_sqs_event(
        [{"user_id": "u1", "text": "hi"}, {"user_id": "u2", "text": "yo"}],
        raw=True,
        message_attributes={"kind": "signup", "priority": 2},
    )
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [payload.user_id for payload, _ in seen] == ["u1", "u2"]
    for (_, message), record in zip(seen, event["Records"], strict=True):
        assert message.envelope_names == ("sqs",)
        assert message.id == record["messageId"]
        assert message.topic_arn is None
        assert message.attributes == {"kind": "signup", "priority": 2}


def test_sns_to_sqs_raw_attributes_decode_like_the_enveloped_ones():
    """With raw delivery SNS attributes become SQS attributes (a String.Array keeps its data type);
    Message.attributes should not depend on the subscription's raw-delivery setting."""
    attributes = {"tags": ["a", "b"], "priority": 2, "kind": "signup"}
    handler, seen = collector()
    handler(sns_to_sqs_event([{"x": 1}], message_attributes=attributes), LambdaContext())
    handler(sns_to_sqs_event([{"x": 1}], raw=True, message_attributes=attributes), LambdaContext())
    enveloped, raw = (message.attributes for _, message in seen)
    assert enveloped == attributes
    assert raw == enveloped


def test_eventbridge_to_sqs_detail_is_the_payload_and_event_fields_are_on_the_message():
    handler, seen = collector(Order)
    event = eventbridge_to_sqs_event(
        [{"order_id": "o1", "total": 3}],
        source="com.example.shop",
        detail_type="OrderPlaced",
        queue="high-value",
        eventbridge={"time": T0_SECONDS, "resources": ["arn:aws:s3:::bucket"]},
        sqs={"receive_count": 2},
    )
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    ((payload, message),) = seen
    record = event["Records"][0]
    inner = json.loads(record["body"])
    assert payload == Order(order_id="o1", total=3)
    assert message.envelope_names == ("sqs", "eventbridge")
    assert message.id == record["messageId"]
    assert message.envelopes[1].id == inner["id"]
    assert message.source == "sqs"
    assert message.event_source == "com.example.shop"
    assert message.detail_type == "OrderPlaced"
    assert message.event_time == T0_SECONDS
    assert message.resources == ("arn:aws:s3:::bucket",)
    assert message.receive_count == 2
    assert message.sent_at == T0_SECONDS


def test_user_json_that_merely_mentions_envelope_keys_is_not_unwrapped():
    handler, seen = collector()
    bodies = [
        {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "not an envelope"},
        {"detail-type": "mine", "detail": {"x": 1}},
    ]
    event = sqs_event(bodies)
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [payload for payload, _ in seen] == bodies
    assert [message.envelope_names for _, message in seen] == [("sqs",), ("sqs",)]


# --------------------------------------------------------------------------------------------------
# SNS → Lambda and EventBridge → Lambda: failures are raised


def test_sns_to_lambda_success_returns_none_and_message_describes_the_notification():
    handler, seen = collector(Notification)
    event = sns_event(
        [{"user_id": "u1", "text": "hi"}],
        topic="notifications",
        subject="Hello",
        message_attributes={"priority": 1},
        timestamp=T0,
    )
    assert handler(event, LambdaContext()) is None
    ((payload, message),) = seen
    record = event["Records"][0]
    assert payload == Notification(user_id="u1", text="hi")
    assert message.id == record["Sns"]["MessageId"]
    assert message.source == "sns"
    assert message.envelope_names == ("sns",)
    assert message.topic_arn == "arn:aws:sns:us-east-1:123456789012:notifications"
    assert message.subject == "Hello"
    assert message.attributes == {"priority": 1}
    assert message.sent_at == T0
    assert message.receive_count is None
    assert message.group_id is None
    assert message.event_source_arn == record["EventSubscriptionArn"]
    assert message.raw is record


class Boom(Exception):
    pass


def test_sns_to_lambda_single_failure_reraises_the_records_own_exception():
    raised = Boom("downstream said no")
    ran: list[str] = []

    @worker(Notification)
    def handler(notification: Notification) -> None:
        ran.append(notification.user_id)
        if notification.user_id == "bad":
            raise raised

    event = sns_event([{"user_id": "ok", "text": "1"}, {"user_id": "bad", "text": "2"}])
    with pytest.raises(Boom) as caught:
        handler(event, LambdaContext())
    # Its type, not its text (which may quote the payload): log_payload=True raises it as it is.
    assert type(caught.value) is Boom and "said no" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert sorted(ran) == ["bad", "ok"]
    with pytest.raises(Boom) as caught:
        worker(Notification, log_payload=True)(handler.record_function)(event, LambdaContext())
    assert caught.value is raised


def test_sns_to_lambda_users_own_validation_error_is_raised_as_records_failed_naming_it():
    """A ValidationError cannot be rebuilt without its input values: RecordsFailedError names
    its type and the payload-free summary instead (Lambda logs the raised exception)."""

    class Card(BaseModel):
        number: int

    @worker(Notification)
    def handler(notification: Notification) -> None:
        Card.model_validate({"number": notification.text})

    event = sns_event([{"user_id": "u", "text": "4111-1111-1111-1111"}])
    with pytest.raises(RecordsFailedError) as caught:
        handler(event, LambdaContext())
    assert "ValidationError" in str(caught.value) and "number" in str(caught.value)
    assert "4111" not in str(caught.value) and caught.value.__cause__ is None
    assert [type(error).__name__ for error in caught.value.failures] == ["ValidationError"]


def test_sns_to_lambda_invalid_payload_raises_parse_error():
    handler, _ = collector(Notification)
    with pytest.raises(ParseError):
        handler(sns_event(["not json"]), LambdaContext())


def test_sns_to_lambda_several_failures_raise_records_failed_error():
    errors = {"a": Boom("a"), "b": ValueError("b")}

    @worker(Notification)
    def handler(notification: Notification) -> None:
        if notification.user_id in errors:
            raise errors[notification.user_id]

    event = sns_event([{"user_id": u, "text": "t"} for u in ["a", "ok", "b"]])
    message_ids = [record["Sns"]["MessageId"] for record in event["Records"]]
    with pytest.raises(RecordsFailedError) as caught:
        handler(event, LambdaContext())
    assert caught.value.failures == [errors["a"], errors["b"]]
    assert message_ids[0] in str(caught.value) and message_ids[2] in str(caught.value)
    assert message_ids[1] not in str(caught.value)


def test_sns_and_eventbridge_to_lambda_out_of_time_raise_so_the_event_comes_back():
    handler, seen = collector(timeout_margin=1.0)
    with pytest.raises(NotStartedError):
        handler(sns_event(["one"]), LambdaContext(remaining_ms=10))
    with pytest.raises(RecordsFailedError) as caught:
        handler(sns_event(["one", "two"]), LambdaContext(remaining_ms=10))
    assert all(isinstance(error, NotStartedError) for error in caught.value.failures)
    with pytest.raises(NotStartedError):
        handler(eventbridge_event({"x": 1}), LambdaContext(remaining_ms=10))
    assert seen == []


def test_eventbridge_to_lambda_detail_is_the_payload():
    handler, seen = collector(Order)
    event = eventbridge_event(
        {"order_id": "o1", "total": 5},
        source="com.example.orders",
        detail_type="OrderPlaced",
        time=T0_SECONDS,
        resources=["arn:aws:events:us-east-1:123456789012:rule/r"],
    )
    assert handler(event, LambdaContext()) is None
    ((payload, message),) = seen
    assert payload == Order(order_id="o1", total=5)
    assert message.id == event["id"]
    assert message.source == "eventbridge"
    assert message.envelope_names == ("eventbridge",)
    assert message.event_source == "com.example.orders"
    assert message.detail_type == "OrderPlaced"
    assert message.event_time == T0_SECONDS
    assert message.sent_at == T0_SECONDS
    assert message.resources == ("arn:aws:events:us-east-1:123456789012:rule/r",)
    assert message.receive_count is None
    assert message.raw is event


def test_eventbridge_to_lambda_failure_reraises_the_records_own_exception():
    raised = Boom("no")

    @worker(Order)
    def handler(order: Order) -> None:
        raise raised

    event = eventbridge_event({"order_id": "o1", "total": 5})
    with pytest.raises(Boom) as caught:
        handler(event, LambdaContext())
    assert type(caught.value) is Boom and str(caught.value).startswith("message withheld")
    result = handler.run(event, LambdaContext())
    assert result.failed_ids == [event["id"]]
    assert result.succeeded_ids == []


def test_eventbridge_to_lambda_invalid_detail_raises_parse_error():
    handler, _ = collector(Order)
    with pytest.raises(ParseError, match="total"):
        handler(eventbridge_event({"order_id": "o1", "total": -1}), LambdaContext())


# --------------------------------------------------------------------------------------------------
# Kinesis


def test_kinesis_data_is_base64_decoded_and_parsed():
    handler, seen = collector(Order)
    event = kinesis_event(
        [{"order_id": "a", "total": 1}, {"order_id": "b", "total": 2}],
        partition_key="customer-1",
        stream="orders",
        arrival=T0,
    )
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [payload for payload, _ in seen] == [Order(order_id="a", total=1), Order(order_id="b", total=2)]
    for (_, message), record in zip(seen, event["Records"], strict=True):
        assert message.id == record["kinesis"]["sequenceNumber"]
        assert message.sequence_number == record["kinesis"]["sequenceNumber"]
        assert message.partition_key == "customer-1"
        assert message.source == "kinesis"
        assert message.envelope_names == ("kinesis",)
        assert message.event_source_arn == "arn:aws:kinesis:us-east-1:123456789012:stream/orders"
        assert abs(message.sent_at - T0) < timedelta(milliseconds=1)
        assert message.receive_count is None and message.group_id is None
        assert message.raw is record


def test_kinesis_stops_at_the_first_failure_and_reports_it_and_everything_after():
    ran: list[str] = []

    @worker(Order, concurrency=4)
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        if order.order_id == "1":
            raise RuntimeError("fails")

    event = kinesis_event([{"order_id": str(i), "total": 1} for i in range(5)])
    ids = kinesis_ids(event)
    response = handler(event, LambdaContext())
    assert ran == ["0", "1"]
    assert reported(response) == ids[1:]
    result = handler.run(event, LambdaContext())
    assert [failure.started for failure in result.failures] == [True, False, False, False]


def test_kinesis_bytes_model_gets_the_raw_bytes():
    handler, seen = collector(bytes)
    event = kinesis_event([b"\x00\xffraw", "text"])
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [payload for payload, _ in seen] == [b"\x00\xffraw", b"text"]


# --------------------------------------------------------------------------------------------------
# DynamoDB Streams


def test_dynamodb_new_image_is_deserialised_to_plain_python():
    image = {
        "id": "o1",
        "count": 3,
        "negative": -7,
        "price": Decimal("12.5"),
        "big": 12345678901234567890123456789012345678,
        "flag": True,
        "nothing": None,
        "tags": {"a", "b"},
        "scores": {1, 2},
        "blob": b"\x00\x01",
        "blobs": {b"x", b"y"},
        "nested": {"list": [1, "two", {"three": Decimal("3.25")}], "map": {"deep": False}},
    }
    handler, seen = collector()
    event = dynamodb_event([image])
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    ((payload, message),) = seen
    assert payload == image
    assert type(payload["count"]) is int
    assert type(payload["price"]) is Decimal
    assert type(payload["big"]) is int
    assert isinstance(payload["tags"], set) and isinstance(payload["blob"], bytes)
    assert message.new_image == image
    assert message.old_image is None
    assert message.keys == {"id": "o1"}
    assert message.event_name == "INSERT"


def test_dynamodb_message_fields_for_insert_modify_and_remove():
    handler, seen = collector(Order)
    event = dynamodb_event(
        [
            {"id": "o1", "order_id": "o1", "total": 1},
            ({"id": "o1", "order_id": "o1", "total": 2}, {"id": "o1", "order_id": "o1", "total": 1}),
            (None, {"id": "o1", "order_id": "o1", "total": 2}),
        ],
        table="orders",
        created_at=T0_SECONDS,
    )
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [payload.total for payload, _ in seen] == [1, 2, 2]
    insert, modify, remove = (message for _, message in seen)
    assert [m.event_name for m in (insert, modify, remove)] == ["INSERT", "MODIFY", "REMOVE"]
    assert modify.new_image == {"id": "o1", "order_id": "o1", "total": 2}
    assert modify.old_image == {"id": "o1", "order_id": "o1", "total": 1}
    assert remove.new_image is None
    assert remove.old_image == {"id": "o1", "order_id": "o1", "total": 2}
    assert remove.keys == {"id": "o1"}
    for message, record in zip((insert, modify, remove), event["Records"], strict=True):
        assert message.id == record["dynamodb"]["SequenceNumber"]
        assert message.sequence_number == record["dynamodb"]["SequenceNumber"]
        assert message.source == "dynamodb"
        assert message.envelope_names == ("dynamodb",)
        assert message.sent_at == T0_SECONDS
        assert message.event_source_arn == record["eventSourceARN"]
        assert message.receive_count is None and message.group_id is None
        assert message.raw is record


def test_dynamodb_keys_only_record_gives_the_keys():
    handler, seen = collector()
    record = dynamodb_record({"id": "k1", "other": 1})
    del record["dynamodb"]["NewImage"]
    assert handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    assert seen[0][0] == {"id": "k1"}


def test_dynamodb_stops_at_the_first_failure_and_reports_sequence_numbers():
    ran: list[str] = []

    @worker
    def handler(image: dict[str, Any]) -> None:
        ran.append(image["id"])
        if image["id"] == "2":
            raise RuntimeError("fails")

    event = dynamodb_event([{"id": str(i)} for i in range(5)])
    ids = dynamodb_ids(event)
    assert reported(handler(event, LambdaContext())) == ids[2:]
    assert ran == ["0", "1", "2"]


# --------------------------------------------------------------------------------------------------
# The sample events through the example handlers

SAMPLES: dict[str, tuple[Any, list[int] | None]] = {
    # file: (handler, indexes expected to fail; None when failures are raised rather than reported)
    "sqs/orders.json": (handlers.orders.handler, [3]),
    "sqs/orders-fifo.json": (handlers.orders.handler, []),
    "sns/notifications-to-sqs.json": (handlers.notifications.handler, []),
    "sns/notifications-to-sqs-raw.json": (handlers.notifications.handler, []),
    "sns/notification.json": (handlers.notifications.handler, None),
    "eventbridge/high-value-orders-to-sqs.json": (handlers.high_value_orders.handler, []),
    "eventbridge/high-value-order.json": (handlers.high_value_orders.handler, None),
    "kinesis/orders.json": (handlers.orders.handler, []),
    "dynamodb/orders-stream.json": (handlers.orders.handler, []),
    "kafka/orders-msk.json": (handlers.orders.handler, []),
    "kafka/orders-self-managed.json": (handlers.orders.handler, []),
    "s3/uploads-to-sqs.json": (handlers.uploads.handler, []),
    "s3/uploads-via-sns-to-sqs.json": (handlers.uploads.handler, []),
    "s3/object-created.json": (handlers.uploads.handler, None),
}


def test_every_sample_event_has_an_example_handler():
    assert set(SAMPLES) == {str(path.relative_to(EVENTS)) for path in EVENTS.rglob("*.json")}


def _sample_ids(event: Any, source: str) -> list[str]:
    return {
        "sqs": lambda: sqs_ids(event),
        "kinesis": lambda: kinesis_ids(event),
        "dynamodb": lambda: dynamodb_ids(event),
        "sns": lambda: [record["Sns"]["MessageId"] for record in event["Records"]],
        "eventbridge": lambda: [event["id"]],
        "kafka": lambda: [
            f"{r['topic']}-{r['partition']}@{r['offset']}" for rs in event["records"].values() for r in rs
        ],
    }[source]()


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.usefixtures("template_aws")
def test_sample_event_through_its_example_handler(name: str):
    handler, failing = SAMPLES[name]
    event = load_event(name)
    result = handler.run(event, LambdaContext())
    assert result.source is not None
    ids = _sample_ids(event, result.source.name)
    expected_failed = [ids[index] for index in failing or []]
    assert result.failed_ids == expected_failed
    assert result.succeeded_ids == [i for i in ids if i not in expected_failed]
    response = handler(event, LambdaContext())
    if failing is None:
        assert response is None
    else:
        assert reported(response) == expected_failed


def test_sample_sqs_orders_invalid_record_is_a_parse_error():
    result = handlers.orders.handler.run(load_event("sqs/orders.json"), LambdaContext())
    (failure,) = result.failures
    assert isinstance(failure.error, ParseError)
    assert "total" in str(failure.error)


def test_example_notifications_handler_sees_sns_fields_from_the_samples(caplog):
    caplog.set_level(logging.INFO, logger="handlers.notifications")
    handlers.notifications.handler(load_event("sns/notifications-to-sqs.json"), LambdaContext())
    lines = [record.getMessage() for record in caplog.records if record.name == "handlers.notifications"]
    assert lines[0] == (
        "notify user-42 by email (topic arn:aws:sns:us-east-1:123456789012:notifications, subject Order shipped)"
    )
    assert len(lines) == 3


SAMPLE_SOURCES = {
    "sqs/orders.json": ("sqs", ("sqs",)),
    "sqs/orders-fifo.json": ("sqs", ("sqs",)),
    "sns/notifications-to-sqs.json": ("sqs", ("sqs", "sns")),
    "sns/notifications-to-sqs-raw.json": ("sqs", ("sqs",)),
    "sns/notification.json": ("sns", ("sns",)),
    "eventbridge/high-value-orders-to-sqs.json": ("sqs", ("sqs", "eventbridge")),
    "eventbridge/high-value-order.json": ("eventbridge", ("eventbridge",)),
    "kinesis/orders.json": ("kinesis", ("kinesis",)),
    "dynamodb/orders-stream.json": ("dynamodb", ("dynamodb",)),
}


@pytest.mark.parametrize("name", sorted(SAMPLE_SOURCES))
def test_sample_event_source_and_envelopes_are_detected(name: str):
    handler, seen = collector()
    event = load_event(name)
    handler.run(event, LambdaContext())
    source, envelopes = SAMPLE_SOURCES[name]
    records = event.get("Records", [event])
    assert len(seen) == len(records)
    for (payload, message), record in zip(seen, records, strict=True):
        assert message.source == source
        assert message.envelope_names == envelopes
        assert message.raw is record
        assert isinstance(payload, dict) and ("order_id" in payload or "user_id" in payload)


def test_sample_sns_to_sqs_message_fields():
    handler, seen = collector()
    event = load_event("sns/notifications-to-sqs.json")
    handler.run(event, LambdaContext())
    first, second, _ = (message for _, message in seen)
    assert first.id == "c4a9d677-1a02-4b39-af5e-d63dc90d1c16"
    assert first.envelopes[1].id == "37bd2fb6-d197-49d9-b201-eb97ba7d3940"
    assert first.subject == "Order shipped"
    assert first.attributes == {"event_type": "order.shipped", "priority": 2}
    assert second.subject is None
    assert second.attributes == {}
    assert first.sent_at == datetime.fromtimestamp(1795600802023 / 1000, tz=UTC)


def test_sample_fifo_and_stream_message_fields():
    handler, seen = collector()
    handler.run(load_event("sqs/orders-fifo.json"), LambdaContext())
    assert [message.group_id for _, message in seen] == [
        "customer-1",
        "customer-2",
        "customer-1",
        "customer-1",
        "customer-2",
    ]
    seen.clear()
    handler.run(load_event("kinesis/orders.json"), LambdaContext())
    assert [message.partition_key for _, message in seen] == ["cust-17", "cust-42", "cust-17"]
    seen.clear()
    handler.run(load_event("dynamodb/orders-stream.json"), LambdaContext())
    remove = seen[2]
    assert remove[0] == {"order_id": "ord-4999", "customer_id": "cust-42", "total": 15, "currency": "USD"}
    assert remove[1].event_name == "REMOVE"
    assert remove[1].keys == {"order_id": "ord-4999"}
    assert seen[1][0]["total"] == Decimal("95.5")


# --------------------------------------------------------------------------------------------------
# Forcing the envelope


def test_forced_sns_fails_only_the_records_that_are_not_sns_envelopes():
    handler, seen = collector(Notification, envelope="sns")
    good = json.dumps(sns_envelope({"user_id": "u1", "text": "hi"}))
    event = sqs_event([good, json.dumps({"user_id": "u2", "text": "plain"})])
    ids = sqs_ids(event)
    result = handler.run(event, LambdaContext())
    assert result.failed_ids == [ids[1]]
    assert isinstance(result.failures[0].error, ParseError)
    assert "sns" in str(result.failures[0].error)
    assert [payload.user_id for payload, _ in seen] == ["u1"]
    assert reported(handler(event, LambdaContext())) == [ids[1]]


def test_forced_sqs_keeps_an_sns_envelope_as_the_payload():
    handler, seen = collector(envelope="sqs")
    event = sns_to_sqs_event([{"user_id": "u1"}])
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    ((payload, message),) = seen
    assert payload == json.loads(event["Records"][0]["body"])
    assert payload["Type"] == "Notification"
    assert message.envelope_names == ("sqs",)
    assert message.topic_arn is None


def test_forced_eventbridge_unwraps_eventbridge_and_rejects_sns_bodies():
    handler, seen = collector(envelope="eventbridge")
    event = sqs_event(
        [
            sqs_record(json.dumps(eventbridge_event({"n": 1}), separators=(",", ":"))),
            sqs_record(json.dumps(sns_envelope({"n": 2}))),
        ]
    )
    ids = sqs_ids(event)
    result = handler.run(event, LambdaContext())
    assert [payload for payload, _ in seen] == [{"n": 1}]
    assert result.failed_ids == [ids[1]]
    assert isinstance(result.failures[0].error, ParseError)


def test_forced_envelope_that_does_not_fit_the_event_names_what_it_saw():
    handler, seen = collector(envelope="kinesis")
    with pytest.raises(UnrecognisedEventError) as caught:
        handler(sqs_event(["x"]), LambdaContext())
    text = str(caught.value)
    assert "aws:sqs" in text and "kinesis" in text
    assert seen == []


@pytest.mark.parametrize(
    ("envelope", "make_event"),
    [
        ("dynamodb", lambda: kinesis_event([b"x"])),
        ("sns", lambda: eventbridge_event({"x": 1})),
        ("eventbridge", lambda: sns_event(["x"])),
        ("kinesis", lambda: dynamodb_event([{"id": "x"}])),
    ],
)
def test_forced_envelope_mismatch_is_unrecognised(envelope: str, make_event: Callable[[], Any]):
    handler, seen = collector(envelope=envelope)
    with pytest.raises(UnrecognisedEventError, match=envelope):
        handler(make_event(), LambdaContext())
    assert seen == []


@pytest.mark.parametrize(
    ("envelope", "make_event", "source"),
    [
        ("sns", lambda: sns_event(["x"]), "sns"),
        ("eventbridge", lambda: eventbridge_event({"x": 1}), "eventbridge"),
        ("kinesis", lambda: kinesis_event([b"x"]), "kinesis"),
        ("dynamodb", lambda: dynamodb_event([{"id": "x"}]), "dynamodb"),
    ],
)
def test_forced_envelope_matching_the_event_works(envelope: str, make_event: Callable[[], Any], source: str):
    handler, seen = collector(envelope=envelope)
    handler(make_event(), LambdaContext())
    assert [message.source for _, message in seen] == [source]


def test_unknown_envelope_name_is_rejected_at_decoration():
    with pytest.raises(ValueError, match="envelope"):
        worker(envelope="kafka-connect")(lambda payload: None)


# --------------------------------------------------------------------------------------------------
# Models


class Line(TypedDict):
    sku: str
    quantity: int


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        (list[int], "[1, 2, 3]", [1, 2, 3]),
        (dict[str, int], '{"a": 1, "b": "2"}', {"a": 1, "b": 2}),
        (Line, '{"sku": "s1", "quantity": "4"}', {"sku": "s1", "quantity": 4}),
        (str, '{"order_id": "a"}', '{"order_id": "a"}'),
        (str, "plain text", "plain text"),
        (None, '{"order_id": "a", "n": [1, 2]}', {"order_id": "a", "n": [1, 2]}),
        (None, "plain text", "plain text"),
        (None, "42", 42),
        (bytes, "text", b"text"),
    ],
)
def test_models_on_sqs(model: Any, body: str, expected: Any):
    handler, seen = collector(model)
    assert handler(sqs_event([body]), LambdaContext()) == {"batchItemFailures": []}
    assert seen[0][0] == expected
    assert type(seen[0][0]) is type(expected)


@pytest.mark.parametrize(
    ("model", "bad_body"),
    [(list[int], '["x"]'), (dict[str, int], '{"a": "b"}'), (Line, '{"sku": "s1"}'), (Order, '{"total": 1}')],
)
def test_models_reject_invalid_payloads_with_parse_error(model: Any, bad_body: str):
    handler, seen = collector(model)
    event = sqs_event([bad_body])
    result = handler.run(event, LambdaContext())
    assert result.failed_ids == sqs_ids(event)
    assert isinstance(result.failures[0].error, ParseError)
    assert seen == []


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        (Order, b'{"order_id": "a", "total": 1}', Order(order_id="a", total=1)),
        (list[int], b"[1, 2]", [1, 2]),
        (str, "h\u00e9llo".encode(), "h\u00e9llo"),
        (bytes, b"\x00\x01\xfe", b"\x00\x01\xfe"),
        (None, b'{"a": 1}', {"a": 1}),
        (None, b"not json", "not json"),
    ],
)
def test_models_on_kinesis(model: Any, data: bytes, expected: Any):
    handler, seen = collector(model)
    assert handler(kinesis_event([data]), LambdaContext()) == {"batchItemFailures": []}
    assert seen[0][0] == expected


def test_models_on_eventbridge_sns_and_dynamodb():
    handler, seen = collector(Line)
    assert handler(eventbridge_event({"sku": "s", "quantity": 2}), LambdaContext()) is None
    assert handler(sns_event(['{"sku": "s", "quantity": 3}']), LambdaContext()) is None
    assert handler(dynamodb_event([{"id": "x", "sku": "s", "quantity": 4}]), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert [payload for payload, _ in seen] == [
        {"sku": "s", "quantity": 2},
        {"sku": "s", "quantity": 3},
        {"sku": "s", "quantity": 4},
    ]
    text_handler, texts = collector(str)
    assert text_handler(sns_event(["raw text"]), LambdaContext()) is None
    assert texts[0][0] == "raw text"


def test_payload_only_function_works_on_every_source():
    seen: list[Any] = []

    @worker
    def handler(payload: Any) -> None:
        seen.append(payload)

    handler(sqs_event([{"a": 1}]), LambdaContext())
    handler(sns_event([{"a": 2}]), LambdaContext())
    handler(eventbridge_event({"a": 3}), LambdaContext())
    handler(kinesis_event([{"a": 4}]), LambdaContext())
    handler(dynamodb_event([{"id": "x", "a": 5}]), LambdaContext())
    assert [payload["a"] for payload in seen] == [1, 2, 3, 4, 5]


# --------------------------------------------------------------------------------------------------
# async record functions on every source

SOURCES: dict[str, tuple[Callable[[list[dict[str, Any]]], Any], Callable[[Any], list[str]] | None]] = {
    # name: (event from payloads, reported ids of an event; None when failures raise)
    "sqs": (lambda payloads: sqs_event(payloads), sqs_ids),
    "sqs-fifo": (lambda payloads: sqs_event(payloads, group_ids=["g"] * len(payloads)), sqs_ids),
    "sns-to-sqs": (lambda payloads: sns_to_sqs_event(payloads), sqs_ids),
    "eventbridge-to-sqs": (lambda payloads: eventbridge_to_sqs_event(payloads), sqs_ids),
    "sns": (lambda payloads: sns_event(payloads), None),
    "eventbridge": (lambda payloads: eventbridge_event(payloads[0]), None),
    "kinesis": (lambda payloads: kinesis_event(payloads), kinesis_ids),
    "dynamodb": (lambda payloads: dynamodb_event([{"id": p["order_id"], **p} for p in payloads]), dynamodb_ids),
}


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_async_record_functions_on_every_source(name: str, concurrency: int):
    make_event, ids_of = SOURCES[name]
    seen: list[str] = []

    @worker(Order, concurrency=concurrency)
    async def handler(order: Order, message: Message) -> None:
        await asyncio.sleep(0)
        assert message.id is not None
        seen.append(order.order_id)

    count = 1 if name == "eventbridge" else 3
    event = make_event([{"order_id": str(i), "total": i} for i in range(count)])
    response = handler(event, LambdaContext())
    assert sorted(seen) == [str(i) for i in range(count)]
    if ids_of is None:
        assert response is None
    else:
        assert response == {"batchItemFailures": []}


@pytest.mark.parametrize("name", ["kinesis", "dynamodb", "sqs-fifo"])
def test_async_failure_stops_ordered_sources(name: str):
    make_event, ids_of = SOURCES[name]
    assert ids_of is not None
    seen: list[str] = []

    @worker(Order, concurrency=4)
    async def handler(order: Order) -> None:
        await asyncio.sleep(0)
        seen.append(order.order_id)
        if order.order_id == "1":
            raise PermanentError("stop here")

    event = make_event([{"order_id": str(i), "total": i} for i in range(4)])
    assert reported(handler(event, LambdaContext())) == ids_of(event)[1:]
    assert seen == ["0", "1"]


def test_async_failure_on_sns_to_lambda_reraises():
    @worker(Order)
    async def handler(order: Order) -> None:
        raise Boom(order.order_id)

    with pytest.raises(Boom):
        handler(sns_event([{"order_id": "a", "total": 1}]), LambdaContext())
    with pytest.raises(Boom):
        handler(eventbridge_event({"order_id": "a", "total": 1}), LambdaContext())


def test_async_function_behind_a_plain_decorator_is_not_reported_done_without_running():
    """A sync wrapper (functools.wraps-style decorator) around ``async def`` returns a coroutine; the
    record must not be reported succeeded unless that coroutine actually ran."""
    ran: list[str] = []

    def plain_decorator(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any) -> Any:
            return function(*args)

        return wrapper

    @worker(Order)
    @plain_decorator
    async def handler(order: Order) -> None:
        await asyncio.sleep(0)
        ran.append(order.order_id)

    event = sqs_event([{"order_id": "a", "total": 1}, {"order_id": "b", "total": 1}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "coroutine ... was never awaited"
        result = handler.run(event, LambdaContext())
    by_id = dict(zip(sqs_ids(event), ["a", "b"], strict=True))
    assert [by_id[message_id] for message_id in result.succeeded_ids] == [name for name in ["a", "b"] if name in ran]
