"""The natural set-up: a function-scoped fixture starting its own local AWS for each test.
The second test must not call the first test's stopped server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from app import payments
from app.payments import handler

from msgworker.testing import LambdaContext, LocalAws, local_aws, sqs_event


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with local_aws("template.yaml", apply=True) as aws:
        yield aws


@pytest.mark.parametrize("run", [1, 2, 3])
def test_every_test_gets_a_working_server(aws: LocalAws, run: int) -> None:
    payments.api = payments.PaymentsApi()
    body = json.dumps({"payment_id": f"p-{run}", "customer_id": "c-1", "amount": 5})
    event = sqs_event([body], queue="PaymentsQueue.fifo", group_ids=["c-1"])
    assert handler(event, LambdaContext(timeout=30)) == {"batchItemFailures": []}
    assert payments.api.charged == [f"p-{run}"]
