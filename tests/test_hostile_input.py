"""Hostile and odd input: each fails its own record permanently and clearly, or works.

Deep nesting, lone surrogates in idempotency keys, Message fields that do not decode
(each field stands on its own), and rejections of events msgworker has no source for.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dynamodb_servers import (  # noqa: F401  (fixtures: moto, a moto server and dynalite)
    DynamoDB,
    dynalite_backend_fixture,
    dynamodb_fixture,
    moto_server_backend_fixture,
)
from pydantic import BaseModel

from msgworker import Message, ParseError, UnrecognisedEventError, worker
from msgworker.idempotency import DynamoDBStore, InMemoryStore, idempotent
from msgworker.testing import (
    LambdaContext,
    dynamodb_event,
    dynamodb_record,
    sns_event,
    sns_record,
    sqs_event,
    sqs_record,
)

DEPTH = 10_000
CARD = "4111-1111-1111-1111"


class Order(BaseModel):
    order_id: str


def deep(depth: int = DEPTH) -> str:
    """A body that looks like an SNS envelope and an EventBridge event, nested ``depth`` deep."""
    nested = "[" * depth + "]" * depth
    return (
        '{"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "MessageId": "m", '
        f'"Message": "x", "detail-type": "d", "deep": {nested}}}'
    )


# -- deep nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [None, Order, dict], ids=["untyped", "model", "dict"])
@pytest.mark.parametrize("envelope", ["auto", "sns", "sqs"])
def test_a_body_nested_ten_thousand_deep_is_a_permanent_parse_error_for_that_record(model: Any, envelope: str) -> None:
    ran: list[Any] = []
    handler = worker(model, envelope=envelope)(lambda payload: ran.append(payload))
    event = sqs_event([deep(), json.dumps({"order_id": "o-1"})])
    result = handler.run(event, LambdaContext())
    failure = result.failures[0]
    assert failure.index == 0
    assert isinstance(failure.error, ParseError)
    assert "nested deeper" in str(failure.error) or "recursion limit" in str(failure.error)  # pydantic's words
    if envelope != "sns":  # (a forced SNS envelope rejects the plain batch-mate)
        assert len(result.failures) == 1 and len(ran) == 1


def test_a_dynamodb_image_nested_ten_thousand_deep_is_a_parse_error() -> None:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(DEPTH):
        value = {"M": {"a": value}}
    record = dynamodb_record(new_image={"id": "k"})
    record["dynamodb"]["NewImage"] = {"id": value}
    result = worker(lambda image: None).run(dynamodb_event([record]))
    (failure,) = result.failures
    assert isinstance(failure.error, ParseError)


# -- lone surrogates ------------------------------------------------------------------------------


def test_a_lone_surrogate_in_a_key_works_in_memory() -> None:
    """json.loads accepts "\\ud800" (strict UTF-8 does not): the key is stored as its hash."""
    ran: list[str] = []
    store = InMemoryStore()

    @worker
    @idempotent(key="order_id", name="charge", store=store)
    def handler(order: Any) -> None:
        ran.append(order["order_id"])

    body = '{"order_id": "a\\ud800b"}'
    assert handler(sqs_event([body, '{"order_id": "plain"}']), LambdaContext()) == {"batchItemFailures": []}
    assert handler(sqs_event([body]), LambdaContext()) == {"batchItemFailures": []}  # a duplicate now
    assert ran == ["a\ud800b", "plain"]
    assert sorted(store.records)[1].startswith("charge#sha256:")


def test_a_lone_surrogate_in_a_key_works_on_dynamodb(dynamodb: DynamoDB) -> None:
    store = DynamoDBStore(dynamodb.create_table(), client=dynamodb.client())
    ran: list[str] = []
    charge = idempotent(key="order_id", name="charge", store=store)(lambda order: ran.append(order["order_id"]))
    charge({"order_id": "\ud800"})
    charge({"order_id": "\ud800"})  # a duplicate: not run again
    charge({"order_id": "\udfff"})  # another key
    assert ran == ["\ud800", "\udfff"]


# -- each Message field stands on its own ---------------------------------------------------------

# The MessageAttributes of AWS's own sample SNS event (and of `sam local generate-event sns
# notification`): "TestBinary" is not base64.
AWS_SAMPLE_ATTRIBUTES = {
    "Test": {"Type": "String", "Value": "TestString"},
    "TestBinary": {"Type": "Binary", "Value": "TestBinary"},
}


def read_fields(message: Message, names: tuple[str, ...]) -> dict[str, Any]:
    read: dict[str, Any] = {}
    for name in names:
        try:
            read[name] = getattr(message, name)
        except ParseError as error:
            read[name] = error
    return read


def test_a_binary_attribute_that_is_not_base64_breaks_only_the_attributes_field() -> None:
    seen: dict[str, Any] = {}

    @worker
    def handler(payload: Any, message: Message) -> None:
        seen.update(read_fields(message, ("id", "topic_arn", "subject", "sent_at", "attributes")))

    record = sns_record({"order_id": "o-1"}, subject="orders")
    record["Sns"]["MessageAttributes"] = AWS_SAMPLE_ATTRIBUTES
    assert handler(sns_event([]) | {"Records": [record]}, LambdaContext()) is None  # the record succeeds
    assert seen["id"] == record["Sns"]["MessageId"]
    assert seen["topic_arn"] == record["Sns"]["TopicArn"]
    assert seen["subject"] == "orders"
    assert isinstance(seen["attributes"], ParseError)
    assert "'TestBinary'" in str(seen["attributes"]) and "base64" in str(seen["attributes"])


@pytest.mark.parametrize("count", ["abc", "1.5", "", ["2"]])
def test_a_malformed_receive_count_breaks_only_that_field(count: Any) -> None:
    seen: dict[str, Any] = {}

    @worker
    def handler(payload: Any, message: Message) -> None:
        seen.update(read_fields(message, ("id", "group_id", "attributes", "receive_count")))

    record = sqs_record('{"order_id": "o-1"}', message_attributes={"tier": "gold"})
    record["attributes"]["ApproximateReceiveCount"] = count
    assert handler(sqs_event([]) | {"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    assert seen["id"] == record["messageId"]
    assert seen["attributes"] == {"tier": "gold"}
    assert isinstance(seen["receive_count"], ParseError)
    assert "ApproximateReceiveCount" in str(seen["receive_count"])


def test_a_bad_number_or_string_array_attribute_is_a_parse_error_of_that_field() -> None:
    seen: list[Any] = []

    @worker
    def handler(payload: Any, message: Message) -> None:
        seen.append(read_fields(message, ("id", "attributes"))["attributes"])

    for kind, value in (("Number", "twelve"), ("String.Array", "[not json")):
        record = sqs_record('{"order_id": "o-1"}')
        record["messageAttributes"] = {"bad": {"dataType": kind, "stringValue": value}}
        handler(sqs_event([]) | {"Records": [record]}, LambdaContext())
    assert [type(error) for error in seen] == [ParseError, ParseError]
    assert all("'bad'" in str(error) for error in seen)


# -- rejections -----------------------------------------------------------------------------------


def eventbridge_without_version() -> dict[str, Any]:
    return {"id": "e-1", "detail-type": "OrderPlaced", "source": "shop", "detail": {"card": CARD}}


@pytest.mark.parametrize("envelope", ["auto", "eventbridge"])
def test_an_eventbridge_like_event_without_version_names_what_is_missing(envelope: str) -> None:
    with pytest.raises(UnrecognisedEventError) as caught:
        worker(envelope=envelope)(lambda payload: None)(eventbridge_without_version(), LambdaContext())
    text = str(caught.value)
    assert "version" in text
    assert "Force a source" not in text  # forcing cannot fix a missing key (and may already be forced)
    assert CARD not in text


@pytest.mark.parametrize("origin", ["aws:kafka", "aws:mq", "aws:codecommit"])  # S3 is a source now
def test_records_of_an_event_source_msgworker_has_none_for_are_named(origin: str) -> None:
    event = {"Records": [{"eventSource": origin, "value": CARD, CARD: 1}]}
    with pytest.raises(UnrecognisedEventError) as caught:
        worker(lambda payload: None)(event, LambdaContext())
    text = str(caught.value)
    assert f"eventSource {origin!r}" in text and "has no source for" in text
    assert "Force a source" not in text
    assert CARD not in text  # keys msgworker does not know are counted, not named


def test_forcing_a_source_that_does_not_fit_does_not_suggest_forcing_one() -> None:
    with pytest.raises(UnrecognisedEventError) as caught:
        worker(envelope="kinesis")(lambda payload: None)(sqs_event(['{"a": 1}']), LambdaContext())
    assert "envelope='kinesis'" in str(caught.value)
    assert "Force a source" not in str(caught.value)
