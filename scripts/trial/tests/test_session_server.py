"""A session-scoped local AWS of the user's own: one server, no state shared between tests."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from app import payments
from app.payments import handler

from msgworker import BatchResult, CircuitOpenError
from msgworker.testing import LambdaContext, LocalAws, local_aws, sqs_event


@pytest.fixture(scope="session")
def shared_aws() -> Iterator[LocalAws]:
    with local_aws("template.yaml", apply=True) as aws:
        yield aws


def charge(payment_id: str) -> BatchResult:
    body = json.dumps({"payment_id": payment_id, "customer_id": "c-1", "amount": 5})
    return handler.run(sqs_event([body], queue="PaymentsQueue.fifo", group_ids=["c-1"]), LambdaContext(timeout=30))


def test_first_the_breaker_opens(shared_aws: LocalAws) -> None:
    payments.api = payments.PaymentsApi()
    payments.api.down = True
    charge("p-1")
    charge("p-2")
    result = charge("p-3")
    assert isinstance(result.failures[0].error, CircuitOpenError)


def test_then_it_is_closed_again_in_the_next_test(shared_aws: LocalAws) -> None:
    payments.api = payments.PaymentsApi()
    assert not charge("p-1").failures
    assert payments.api.charged == ["p-1"]
