"""Poison messages straight to the dead-letter queue (``worker(dead_letter=...)``), on real
queues (moto's server) through the emulated event source mapping."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from esm_emulator import (
    ApiCalls,
    EventSourceMappingEmulator,
    QueuePair,
    create_queue_pair,
    drain,
    local_endpoint,
    log_lines,
    messages_in,
)
from pydantic import BaseModel, Field

from msgworker import worker
from msgworker.errors import ConfigurationError, IdempotencyKeyReusedError, PermanentError
from msgworker.failure_actions import (
    ERROR_MESSAGE_ATTRIBUTE,
    ERROR_TYPE_ATTRIBUTE,
    MESSAGE_ID_ATTRIBUTE,
    RECEIVE_COUNT_ATTRIBUTE,
    SOURCE_ARN_ATTRIBUTE,
    DeadLetter,
    failure_actions,
)
from msgworker.testing import LambdaContext, LocalAws, sns_event, sqs_event


class Order(BaseModel):
    order_id: str
    total: float = Field(ge=0)


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_endpoint() as local:
        yield local


def queue_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def attribute(message: dict[str, Any], name: str) -> str:
    return str(message["MessageAttributes"][name]["StringValue"])


def orders_handler(processed: list[str], **options: Any) -> Any:
    @worker(Order, metrics=False, **options)
    def handler(order: Order) -> None:
        if order.order_id == "unknown-customer":
            raise PermanentError(f"order {order.order_id}: customer does not exist")
        processed.append(order.order_id)

    return handler


def send(aws: LocalAws, queue: QueuePair, *bodies: str, **options: Any) -> None:
    sqs = aws.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=queue.url, MessageBody=body, **options)


def test_poison_reaches_the_dlq_on_its_first_receive_with_the_error_attached(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, queue_name("poison"), visibility_timeout=30, max_receive_count=5)
    send(aws, queue, '{"order_id": "o-1", "total": 10}', '{"order_id": "o-2", "total": "lots"}')
    send(aws, queue, '{"order_id": "unknown-customer", "total": 5}')
    processed: list[str] = []
    handler = orders_handler(processed, dead_letter=True)

    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=queue_name("fn"))
    poll = emulator.poll()

    assert poll is not None and poll.received and poll.failed == []  # dead-lettered records are done
    assert processed == ["o-1"]
    assert messages_in(aws, queue.url) == 0, "nothing left in the source queue"
    letters = {json.loads(message["Body"])["order_id"]: message for message in drain(aws, queue.dead_letter_url)}
    assert set(letters) == {"o-2", "unknown-customer"}

    invalid = letters["o-2"]
    assert invalid["Body"] == '{"order_id": "o-2", "total": "lots"}', "the original body, untouched"
    assert attribute(invalid, ERROR_TYPE_ATTRIBUTE) == "msgworker.errors.ParseError"
    assert "total" in attribute(invalid, ERROR_MESSAGE_ATTRIBUTE)
    assert attribute(invalid, RECEIVE_COUNT_ATTRIBUTE) == "1"
    assert invalid["MessageAttributes"][RECEIVE_COUNT_ATTRIBUTE]["DataType"] == "Number"
    assert attribute(invalid, SOURCE_ARN_ATTRIBUTE) == queue.arn
    received = {message_id for message_id in poll.received}
    assert attribute(invalid, MESSAGE_ID_ATTRIBUTE) in received

    business = letters["unknown-customer"]
    assert attribute(business, ERROR_TYPE_ATTRIBUTE) == "msgworker.errors.PermanentError"
    assert attribute(business, ERROR_MESSAGE_ATTRIBUTE) == "order unknown-customer: customer does not exist"


def test_the_dead_letter_queue_may_be_named_by_url_or_arn(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, queue_name("explicit"), visibility_timeout=30)
    elsewhere = create_queue_pair(aws, queue_name("elsewhere"))
    for target in (elsewhere.dead_letter_url, elsewhere.dead_letter_arn):
        send(aws, queue, "not json at all")
        emulator = EventSourceMappingEmulator(
            aws, orders_handler([], dead_letter=target), queue_url=queue.url, function_name=queue_name("fn")
        )
        poll = emulator.poll()
        assert poll is not None and poll.failed == []
        assert [message["Body"] for message in drain(aws, elsewhere.dead_letter_url)] == ["not json at all"]
        assert messages_in(aws, queue.dead_letter_url) == 0


def test_a_failing_send_leaves_the_message_in_its_queue(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    queue = create_queue_pair(aws, queue_name("lost-dlq"), visibility_timeout=1, max_receive_count=10)
    aws.client("sqs").delete_queue(QueueUrl=queue.dead_letter_url)
    send(aws, queue, '{"order_id": "o-9", "total": -1}')
    handler = orders_handler([], dead_letter=True)
    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=queue_name("fn"))

    capsys.readouterr()
    first = emulator.poll()
    assert first is not None and first.failed == first.received, "reported failed: nothing lost"
    emulator.run(lambda: len(emulator.polls) == 2, timeout=15)
    assert emulator.polls[1].failed == first.received
    assert emulator.polls[1].receive_counts[first.received[0]] == 2, "it came back"

    warnings = [line for line in log_lines(capsys.readouterr().out) if "dead-letter queue" in line["message"]]
    assert len(warnings) == 1, "warned once per container, not per batch"
    # The cause is a missing queue, not a missing permission: the warning says which.
    assert "NonExistentQueue" in warnings[0]["message"]
    assert "allow sqs:SendMessage" not in warnings[0]["message"]


def test_a_bogus_dead_letter_queue_leaves_the_record_failed(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, queue_name("bogus"), visibility_timeout=30)
    send(aws, queue, "{}")
    handler = orders_handler([], dead_letter="https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue")
    poll = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=queue_name("fn")).poll()
    assert poll is not None and poll.failed == poll.received
    assert messages_in(aws, queue.url) == 1


def test_a_queue_without_a_redrive_policy_keeps_its_records_failed(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    name = queue_name("no-redrive")
    url = aws.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    handler = orders_handler([], dead_letter=True)
    capsys.readouterr()
    for _ in range(2):
        response = handler(sqs_event(["{}"], queue=name), LambdaContext())
        assert len(response["batchItemFailures"]) == 1
    warnings = [line for line in log_lines(capsys.readouterr().out) if "RedrivePolicy" in line["message"]]
    assert len(warnings) == 1
    assert name in warnings[0]["message"]
    assert messages_in(aws, url) == 0


def test_fifo_letters_keep_their_group_and_deduplicate_on_the_message_id(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, queue_name("poison"), visibility_timeout=30, fifo=True)
    send(aws, queue, '{"order_id": "a-1", "total": "x"}', MessageGroupId="customer-a")
    send(aws, queue, '{"order_id": "a-2", "total": 1}', MessageGroupId="customer-a")
    processed: list[str] = []
    emulator = EventSourceMappingEmulator(
        aws, orders_handler(processed, dead_letter=True), queue_url=queue.url, function_name=queue_name("fn")
    )
    emulator.run(lambda: processed == ["a-2"], timeout=15)

    [letter] = drain(aws, queue.dead_letter_url)
    assert letter["Attributes"]["MessageGroupId"] == "customer-a"
    assert letter["Attributes"]["MessageDeduplicationId"] == attribute(letter, MESSAGE_ID_ATTRIBUTE)
    assert messages_in(aws, queue.url) == 0


def test_original_attributes_travel_with_the_letter_as_far_as_sqs_allows(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = create_queue_pair(aws, queue_name("attributes"), visibility_timeout=30)
    attributes = {f"a{number}": {"DataType": "String", "StringValue": f"v{number}"} for number in range(4)}
    attributes["blob"] = {"DataType": "Binary", "BinaryValue": b"\x00\x01"}
    attributes["priority"] = {"DataType": "Number", "StringValue": "7"}
    send(aws, queue, "not json", MessageAttributes=attributes)
    handler = orders_handler([], dead_letter=True)
    capsys.readouterr()
    EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=queue_name("fn")).poll()

    [letter] = drain(aws, queue.dead_letter_url)
    kept = letter["MessageAttributes"]
    assert len(kept) == 10, "SQS's limit: msgworker's five and five of the original six"
    assert {ERROR_TYPE_ATTRIBUTE, ERROR_MESSAGE_ATTRIBUTE, MESSAGE_ID_ATTRIBUTE} <= set(kept)
    originals = set(kept) & set(attributes)
    assert len(originals) == 5
    for name in originals:
        assert kept[name] == {key: value for key, value in attributes[name].items()} | kept[name]
    [log] = [
        line for line in log_lines(capsys.readouterr().out) if line["message"] == "record sent to the dead-letter queue"
    ]
    assert log["dropped_attributes"] == sorted(set(attributes) - originals)
    assert log["error_type"] == "msgworker.errors.ParseError"
    assert log["dead_letter_queue"] == queue.dead_letter_arn


def test_large_batches_go_in_calls_of_at_most_ten(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, queue_name("batch"))
    calls = ApiCalls()
    name = queue.arn.rsplit(":", 1)[1]

    @worker(metrics=True, dead_letter=True)
    def handler(payload: Any) -> None:
        raise IdempotencyKeyReusedError("key reused with another payload")

    response = handler(sqs_event([f'{{"n": {n}}}' for n in range(23)], queue=name), LambdaContext())

    assert response == {"batchItemFailures": []}
    assert sorted(len(request["Entries"]) for request in calls.of("SendMessageBatch")) == [3, 10, 10]
    assert messages_in(aws, queue.dead_letter_url) == 23


def test_other_errors_are_not_dead_lettered_and_the_error_types_are_configurable(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, queue_name("types"))
    name = queue.arn.rsplit(":", 1)[1]

    class CustomerUnknown(Exception):
        pass

    @worker(metrics=False, dead_letter=DeadLetter(on=(CustomerUnknown,)))
    def handler(payload: dict[str, Any]) -> None:
        if payload["kind"] == "unknown":
            raise CustomerUnknown("no such customer")
        raise ConnectionError("down")

    event = sqs_event(['{"kind": "unknown"}', '{"kind": "transient"}'], queue=name)
    response = handler(event, LambdaContext())
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    [letter] = drain(aws, queue.dead_letter_url)
    assert attribute(letter, ERROR_TYPE_ATTRIBUTE).endswith("CustomerUnknown")


def test_sns_to_lambda_is_untouched_by_dead_letter(aws: LocalAws) -> None:
    calls = ApiCalls()

    @worker(metrics=False, dead_letter=True)
    def handler(payload: Any) -> None:
        raise PermanentError("bad")

    with pytest.raises(PermanentError):
        handler(sns_event(["{}"]), LambdaContext())
    assert calls.calls == []


def test_dead_letter_option_forms() -> None:
    def actions(option: object) -> list[str]:
        return [type(action).__name__ for action in failure_actions(dead_letter=option).actions]

    for off in (None, False):
        assert "DeadLetterAction" not in actions(off)
    custom = DeadLetter(on=(ValueError,))
    for on in (True, "arn:aws:sqs:eu-west-1:123456789012:dlq", "https://sqs.eu-west-1.amazonaws.com/1/dlq", custom):
        assert actions(on)[0] == "DeadLetterAction", "dead-lettering runs first"
    with pytest.raises(ConfigurationError, match=r"worker\(dead_letter=...\) takes True"):
        worker(dead_letter=42)(lambda payload: None)
    with pytest.raises(ValueError, match="neither an SQS queue URL nor an SQS queue ARN"):
        DeadLetter("arn:aws:sns:us-east-1:123456789012:topic")
    with pytest.raises(ConfigurationError, match="tuple of exception types"):
        DeadLetter(on=("ValueError",))  # type: ignore[arg-type]


def test_error_attributes_are_safe_to_send(aws: LocalAws) -> None:
    queue = create_queue_pair(aws, queue_name("safe"), visibility_timeout=30)
    errors = {
        "long": PermanentError("x" * 5000),
        "control": PermanentError("bad\x00byte\x1b"),
        "empty": PermanentError(),
    }
    send(aws, queue, *errors)

    @worker(metrics=False, dead_letter=True)
    def handler(payload: str) -> None:
        raise errors[payload]

    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=queue_name("fn"))
    emulator.run(lambda: messages_in(aws, queue.url) == 0, timeout=15)
    letters = {message["Body"]: message for message in drain(aws, queue.dead_letter_url)}
    assert len(attribute(letters["long"], ERROR_MESSAGE_ATTRIBUTE)) == 1000
    assert attribute(letters["control"], ERROR_MESSAGE_ATTRIBUTE) == "bad?byte?"
    assert attribute(letters["empty"], ERROR_MESSAGE_ATTRIBUTE) == "(no message)"
    assert letters["empty"]["MessageAttributes"][RECEIVE_COUNT_ATTRIBUTE]["DataType"] == "Number"
    assert attribute(letters["empty"], SOURCE_ARN_ATTRIBUTE) == queue.arn
