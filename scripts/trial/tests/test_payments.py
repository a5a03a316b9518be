"""The FIFO consumer against a local AWS built from template.yaml (the plugin's
function-scoped ``local_aws`` fixture), and as a unit with in-memory stores."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from app import payments
from app.payments import Payment, handler

from msgworker import CircuitOpenError, Message
from msgworker.testing import LambdaContext, LocalAws, MemoryStores, sqs_event


@pytest.fixture(autouse=True)
def api() -> Iterator[payments.PaymentsApi]:
    payments.api = payments.PaymentsApi()
    yield payments.api


def batch(*payment_ids: str) -> dict[str, object]:
    bodies = [json.dumps({"payment_id": p, "customer_id": "c-1", "amount": 5}) for p in payment_ids]
    return sqs_event(bodies, queue="PaymentsQueue.fifo", group_ids=["c-1"] * len(bodies))


def test_each_payment_is_charged_once(
    local_aws: LocalAws, lambda_context: LambdaContext, api: payments.PaymentsApi
) -> None:
    assert handler(batch("p-1", "p-2", "p-1"), lambda_context) == {"batchItemFailures": []}
    assert api.charged == ["p-1", "p-2"]
    items = local_aws.client("dynamodb").scan(TableName=local_aws.environment["MSGWORKER_IDEMPOTENCY_TABLE"])
    assert sorted(item["id"]["S"] for item in items["Items"]) == ["charge-payment#p-1", "charge-payment#p-2"]


def test_an_outage_opens_the_breaker(
    local_aws: LocalAws, lambda_context: LambdaContext, api: payments.PaymentsApi
) -> None:
    api.down = True
    for payment_id in ("p-1", "p-2"):  # failure_threshold=2
        response = handler(batch(payment_id), lambda_context)
        assert response is not None and len(response["batchItemFailures"]) == 1
    result = handler.run(batch("p-3"), lambda_context)
    assert isinstance(result.failures[0].error, CircuitOpenError)


def test_the_next_test_starts_with_a_closed_breaker_and_no_records(
    local_aws: LocalAws, lambda_context: LambdaContext, api: payments.PaymentsApi
) -> None:
    # The previous test opened the breaker and claimed p-1: neither reaches this one.
    assert handler(batch("p-1"), lambda_context) == {"batchItemFailures": []}
    assert api.charged == ["p-1"]


def test_a_unit_test_needs_no_table(memory_stores: MemoryStores, api: payments.PaymentsApi) -> None:
    assert handler(batch("p-9", "p-9")) == {"batchItemFailures": []}
    assert api.charged == ["p-9"]
    assert list(memory_stores.idempotency.records) == ["charge-payment#p-9"]


def test_the_record_function_is_my_own_function(api: payments.PaymentsApi) -> None:
    # No table, no endpoint, no decorator in the way.
    handler.record_function(Payment(payment_id="p-5", customer_id="c-1", amount=1), Message.of(id="m-1"))
    handler.record_function(Payment(payment_id="p-5", customer_id="c-1", amount=1), Message.of(id="m-1"))
    assert api.charged == ["p-5", "p-5"]


def test_a_failing_record_reaches_no_real_aws(
    monkeypatch: pytest.MonkeyPatch, memory_stores: MemoryStores, api: payments.PaymentsApi
) -> None:
    # Credentials as a developer's machine has them, no local endpoint: redelivery= and
    # dead_letter= must not reach SQS, and the record is still reported failed.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKING")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    api.down = True
    response = handler(batch("p-6"), LambdaContext(timeout=30))
    assert response is not None and len(response["batchItemFailures"]) == 1
