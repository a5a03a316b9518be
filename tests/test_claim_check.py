"""Offloaded payloads (claim check, in AWS's extended-client format) under ``worker``, on
moto's S3: every envelope that can carry a pointer, what a record function sees, missing
and unreadable objects, ``delete_payload``, and nothing fetched for ordinary records."""

from __future__ import annotations

import json
import uuid
from typing import Any

import claim_check_helpers
import pytest
from esm_emulator import ApiCalls
from pydantic import BaseModel

import msgworker._aws_clients as aws_clients
from msgworker import Message, PayloadMissingError, PayloadPointer, PayloadUnavailableError, worker
from msgworker.testing import LocalAws, sns_event, sns_to_sqs_event, sqs_event, sqs_record

# The shared fixtures: a moto server for the module, a new bucket per test.
aws = claim_check_helpers.aws
bucket = claim_check_helpers.bucket

POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY = "com.amazon.sqs.javamessaging.MessageS3Pointer"


class Order(BaseModel):
    order_id: str
    lines: list[str]


def offloaded(aws: LocalAws, bucket: str, payload: str, *, cls: str = POINTER) -> tuple[str, str]:
    """Store ``payload`` as the AWS clients do; returns (pointer body, key)."""
    key = str(uuid.uuid4())
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=payload.encode())
    return json.dumps([cls, {"s3BucketName": bucket, "s3Key": key}]), key


def big_order(order_id: str) -> str:
    return json.dumps({"order_id": order_id, "lines": ["x" * 1000] * 300})  # ~300 KB: above SNS's limit


def objects(aws: LocalAws, bucket: str) -> set[str]:
    return {item["Key"] for item in aws.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])}


def recording_handler(seen: list[tuple[Any, Message]], **options: Any) -> Any:
    @worker(Order, metrics=False, **options)
    def handler(order: Order, message: Message) -> None:
        if order.order_id.startswith("fail"):
            raise RuntimeError("business failure")
        seen.append((order, message))

    return handler


def test_an_sqs_body_pointer_is_fetched_and_the_function_sees_the_payload(aws: LocalAws, bucket: str) -> None:
    payload = big_order("o-1")
    body, key = offloaded(aws, bucket, payload)
    size = len(payload.encode())
    attributes = {"ExtendedPayloadSize": size, "tenant": "acme"}
    event = sqs_event([sqs_record(body, message_attributes=attributes), sqs_record('{"order_id":"o-2","lines":[]}')])
    seen: list[tuple[Any, Message]] = []

    assert recording_handler(seen)(event) == {"batchItemFailures": []}

    by_id = {order.order_id: message for order, message in seen}
    assert set(by_id) == {"o-1", "o-2"}
    assert by_id["o-1"].payload_pointer == PayloadPointer(bucket, key, size)
    # The reserved attribute is the format's, not the producer's: it is not shown.
    assert by_id["o-1"].attributes == {"tenant": "acme"}
    assert by_id["o-2"].payload_pointer is None
    assert key in objects(aws, bucket)  # kept: delete_payload is off


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "enveloped"])
def test_sns_to_sqs_pointers_are_fetched_raw_or_enveloped(aws: LocalAws, bucket: str, raw: bool) -> None:
    payload = big_order("o-sns")
    body, key = offloaded(aws, bucket, payload, cls=LEGACY)
    event = sns_to_sqs_event([body], raw=raw, message_attributes={"SQSLargePayloadSize": len(payload.encode())})
    seen: list[tuple[Any, Message]] = []

    assert recording_handler(seen)(event) == {"batchItemFailures": []}

    [(order, message)] = seen
    assert order.order_id == "o-sns" and len(order.lines) == 300
    assert message.payload_pointer == PayloadPointer(bucket, key, len(payload.encode()), legacy=True)
    assert message.envelope_names == (("sqs",) if raw else ("sqs", "sns"))


def test_sns_to_lambda_pointer_is_fetched(aws: LocalAws, bucket: str) -> None:
    body, key = offloaded(aws, bucket, big_order("o-lambda"))
    seen: list[tuple[Any, Message]] = []

    recording_handler(seen)(sns_event([body], message_attributes={"ExtendedPayloadSize": 5}))

    [(order, message)] = seen
    assert order.order_id == "o-lambda" and message.payload_pointer == PayloadPointer(bucket, key, 5)


def test_a_missing_object_fails_its_record_for_good_without_quoting_the_payload(aws: LocalAws, bucket: str) -> None:
    gone = json.dumps([POINTER, {"s3BucketName": bucket, "s3Key": "expired-key"}])
    event = sqs_event([gone, '{"order_id":"o-2","lines":["secret-line"]}'])
    seen: list[tuple[Any, Message]] = []

    result = recording_handler(seen).run(event)

    assert [order.order_id for order, _ in seen] == ["o-2"]
    [failure] = result.failures
    assert failure.index == 0 and isinstance(failure.error, PayloadMissingError)
    assert f"s3://{bucket}/expired-key" in str(failure.error) and "does not exist" in str(failure.error)
    assert "secret-line" not in str(failure.error)


def test_unreadable_is_transient_and_missing_is_permanent(aws: LocalAws, bucket: str) -> None:
    from botocore.exceptions import ClientError

    body, _ = offloaded(aws, bucket, big_order("o-1"))

    def deny(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    aws_clients.reset()
    aws_clients.session().register("before-call.s3.GetObject", deny)
    try:
        event = sqs_event([body, '{"order_id":"o-2","lines":[]}'])
        response = recording_handler([])(event)
        [failure] = recording_handler([]).run(event).failures
    finally:
        aws_clients.session().unregister("before-call.s3.GetObject", deny)
        aws_clients.reset()
    # Reported failed (it comes back), the other record done.
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert isinstance(failure.error, PayloadUnavailableError) and not isinstance(failure.error, PayloadMissingError)
    assert "AccessDenied" in str(failure.error) and "s3:GetObject" in str(failure.error)


def test_delete_payload_deletes_only_what_completed_after_the_batch(aws: LocalAws, bucket: str) -> None:
    done_body, done_key = offloaded(aws, bucket, big_order("o-done"))
    failed_body, failed_key = offloaded(aws, bucket, big_order("fail-1"))
    event = sqs_event([done_body, failed_body])
    keys_while_running: list[set[str]] = []

    @worker(Order, metrics=False, delete_payload=True)
    def handler(order: Order) -> None:
        keys_while_running.append(objects(aws, bucket))
        if order.order_id.startswith("fail"):
            raise RuntimeError("business failure")

    result = handler(event)

    assert len(result["batchItemFailures"]) == 1
    assert all({done_key, failed_key} <= keys for keys in keys_while_running)  # never before completion
    assert objects(aws, bucket) == {failed_key}  # the failed record comes back and needs its payload


def test_sns_to_lambda_deletes_nothing_when_the_event_will_be_retried(aws: LocalAws, bucket: str) -> None:
    body, key = offloaded(aws, bucket, big_order("o-1"))
    other, other_key = offloaded(aws, bucket, big_order("fail-2"))

    with pytest.raises(RuntimeError):
        recording_handler([], delete_payload=True)(sns_event([body, other]))

    assert objects(aws, bucket) == {key, other_key}


def test_ordinary_records_cost_no_s3_call(aws: LocalAws) -> None:
    calls = ApiCalls()
    event = sqs_event(['{"order_id":"o-1","lines":["mentions S3Pointer in text"]}', '{"order_id":"o-2","lines":[]}'])

    assert recording_handler([], delete_payload=True)(event) == {"batchItemFailures": []}

    assert [call for call in calls.calls if call[0] == "s3"] == []


def test_a_malformed_pointer_is_a_permanent_parse_failure(aws: LocalAws) -> None:
    from msgworker import ParseError

    [failure] = recording_handler([]).run(sqs_event([json.dumps([POINTER, {"s3BucketName": "b"}])])).failures

    assert isinstance(failure.error, ParseError) and "malformed pointer" in str(failure.error)


def test_a_batch_of_pointers_is_fetched_before_any_record_runs(aws: LocalAws, bucket: str) -> None:
    bodies = [offloaded(aws, bucket, big_order(f"o-{n}"))[0] for n in range(10)]
    calls = ApiCalls()
    order_of_work: list[str] = []

    @worker(Order, metrics=False)
    def handler(order: Order) -> None:
        order_of_work.append(f"run:{order.order_id}")

    def fetched(model: Any, **_: Any) -> None:
        order_of_work.append("fetch")

    aws_clients.session().register("after-call.s3.GetObject", fetched)
    handler(sqs_event(bodies))

    assert len(calls.of("GetObject")) == 10
    assert order_of_work[:10] == ["fetch"] * 10 and len(order_of_work) == 20


def test_idempotency_keys_come_from_the_fetched_payload(aws: LocalAws, bucket: str) -> None:
    from msgworker.idempotency import InMemoryStore, idempotent

    body, _ = offloaded(aws, bucket, big_order("o-7"))
    runs: list[str] = []

    @worker(Order, metrics=False)
    @idempotent(key="order_id", store=InMemoryStore())
    def handler(order: Order) -> None:
        runs.append(order.order_id)

    # The second delivery of the same offloaded order is recognised by its payload's key.
    assert handler(sqs_event([body])) == {"batchItemFailures": []}
    assert handler(sqs_event([body])) == {"batchItemFailures": []}
    assert runs == ["o-7"]
