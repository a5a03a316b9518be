"""``@idempotent`` against real DynamoDB implementations (moto in-process, a moto server,
dynalite): duplicates, key reuse, release on failure, leases, namespacing, the worker's
batch hooks, configuration errors, outages and the warm-container cache."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import threading
import time
from collections import Counter
from typing import Any

import pytest
from conftest import Order
from dynamodb_servers import (  # noqa: F401  (fixtures: each test runs on moto, a moto server and dynalite)
    CallCounter,
    DynamoDB,
    dynalite_backend_fixture,
    dynamodb_fixture,
    inject_error,
    lose_answers,
    moto_server,
    moto_server_backend_fixture,
)
from pydantic import BaseModel

from msgworker import Message, PermanentError, worker
from msgworker._layers import current_invocation, find_layers
from msgworker.errors import (
    ConfigurationError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyStoreError,
)
from msgworker.idempotency import DynamoDBStore, InMemoryStore, idempotent
from msgworker.idempotency._keys import payload_hash
from msgworker.idempotency._store import Claim, StoredRecord
from msgworker.testing import LambdaContext, ManualClock, sqs_event, sqs_record


class Customer(BaseModel):
    id: int
    name: str


class Purchase(BaseModel):
    purchase_id: str
    customer: Customer


class Metrics:
    """Collects what worker emits (a stand-in for Powertools' Metrics)."""

    def __init__(self) -> None:
        self.values: Counter[str] = Counter()

    def add_metric(self, name: str, unit: Any, value: float, *args: Any, **kwargs: Any) -> None:
        self.values[name] += int(value)


def reported(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def store_for(backend: DynamoDB, table: str, counter: CallCounter | None = None, **config: Any) -> DynamoDBStore:
    """A store with its own client, as one Lambda container would have."""
    client = backend.client(**config)
    if counter is not None:
        counter.attach(client)
    return DynamoDBStore(table, client=client)


def order(order_id: str, total: float = 10.0) -> dict[str, Any]:
    return {"order_id": order_id, "total": total}


# -- basics ---------------------------------------------------------------------------------------


def test_first_delivery_runs_and_a_duplicate_returns_the_stored_result(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []

    def charge(payload: dict[str, Any]) -> dict[str, Any]:
        ran.append(payload["order_id"])
        return {"charged": payload["total"], "currency": "EUR"}

    # Two containers: separate caches, so the second must learn of the first from DynamoDB.
    first = idempotent(key="order_id", table=table, name="charge", store_result=True)(charge)
    second = idempotent(key="order_id", table=table, name="charge", store_result=True)(charge)

    before = time.time()
    assert first(order("o-1", 12.5)) == {"charged": 12.5, "currency": "EUR"}
    after = time.time()
    assert second(order("o-1", 12.5)) == {"charged": 12.5, "currency": "EUR"}
    assert first(order("o-1", 12.5)) == {"charged": 12.5, "currency": "EUR"}
    assert ran == ["o-1"]

    item = dynamodb.item(table, "charge#o-1")
    assert item is not None
    assert item["status"]["S"] == "COMPLETED"
    assert item["validation"]["S"] == payload_hash(order("o-1", 12.5))
    assert json.loads(item["data"]["S"]) == {"charged": 12.5, "currency": "EUR"}
    # The TTL (3600 s) counts from when the first call completed, rounded up to whole seconds.
    assert math.ceil(before + 3600) <= int(item["expiration"]["N"]) <= math.ceil(after + 3600)
    assert "in_progress_expiration" not in item


def test_without_store_result_a_duplicate_returns_none_and_the_item_stays_small(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    calls = Counter[str]()

    @idempotent(key="order_id", table=table, name="ship")
    def ship(payload: dict[str, Any]) -> str:
        calls[payload["order_id"]] += 1
        return "shipped"

    assert ship(order("o-1")) == "shipped"
    assert ship(order("o-1")) is None
    assert calls == {"o-1": 1}
    item = dynamodb.item(table, "ship#o-1")
    assert item is not None and "data" not in item
    size = sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())
    assert size < 1024  # one write unit per write


def test_same_key_with_a_different_payload_is_a_permanent_key_reused_error(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[float] = []

    def charge(payload: dict[str, Any]) -> None:
        ran.append(payload["total"])

    strict = idempotent(key="order_id", table=table, name="charge")(charge)
    other_container = idempotent(key="order_id", table=table, name="charge")(charge)
    lenient = idempotent(key="order_id", table=table, name="charge", on_payload_mismatch="duplicate")(charge)

    strict(order("o-1", 10))
    with pytest.raises(
        IdempotencyKeyReusedError, match=r"'charge' key sha256:[0-9a-f]{12} was already used for a different payload"
    ):
        strict(order("o-1", 99))  # from the warm cache
    with pytest.raises(IdempotencyKeyReusedError) as raised:
        other_container(order("o-1", 99))  # from DynamoDB
    assert isinstance(raised.value, PermanentError)
    assert lenient(order("o-1", 99)) is None
    assert ran == [10]


def test_a_function_that_raises_releases_its_claim_so_a_retry_runs(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    attempts: list[int] = []

    @idempotent(key="order_id", table=table, name="charge")
    def charge(payload: dict[str, Any]) -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise ConnectionError("payments API timed out")
        return "ok"

    with pytest.raises(ConnectionError):
        charge(order("o-1"))
    assert dynamodb.item(table, "charge#o-1") is None
    assert charge(order("o-1")) == "ok"
    assert charge(order("o-1")) is None
    assert attempts == [1, 2]


def test_a_key_held_by_a_running_delivery_is_in_progress_for_others(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    seen: list[BaseException] = []

    def charge(payload: dict[str, Any]) -> None:
        # While this delivery runs, a duplicate arrives in another container.
        with pytest.raises(IdempotencyInProgressError, match="is being processed by another delivery") as raised:
            other_container(payload)
        seen.append(raised.value)

    first = idempotent(key="order_id", table=table, name="charge")(charge)
    other_container = idempotent(key="order_id", table=table, name="charge")(charge)
    first(order("o-1"))
    assert len(seen) == 1
    item = dynamodb.item(table, "charge#o-1")
    assert item is not None and item["status"]["S"] == "COMPLETED"


def test_names_namespace_keys_so_two_functions_sharing_a_table_both_run(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []

    @idempotent(key="order_id", table=table, name="charge")
    def charge(payload: dict[str, Any]) -> None:
        ran.append("charge")

    @idempotent(key="order_id", table=table, name="email")
    def email(payload: dict[str, Any]) -> None:
        ran.append("email")

    for _ in range(2):
        charge(order("o-1"))
        email(order("o-1"))
    assert ran == ["charge", "email"]
    assert sorted(item["id"]["S"] for item in dynamodb.items(table)) == ["charge#o-1", "email#o-1"]


def test_the_default_name_is_module_and_qualname(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()

    @idempotent(key="order_id", table=table)
    def refund(payload: dict[str, Any]) -> None:
        pass

    refund(order("o-1"))
    (layer,) = find_layers(refund)
    assert layer.name == "test_idempotency.test_the_default_name_is_module_and_qualname.refund"
    assert [item["id"]["S"] for item in dynamodb.items(table)] == [f"{layer.name}#o-1"]


def test_keys_from_dotted_paths_callables_and_the_payload_hash(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    runs = Counter[str]()

    @idempotent(key="customer.id", table=table, name="by-path")
    def by_path(purchase: Purchase) -> None:
        runs["path"] += 1

    @idempotent(key=lambda payload, message: f"{message.id}:{payload['n']}", table=table, name="by-callable")
    def by_callable(payload: dict[str, Any], message: Message) -> None:
        runs["callable"] += 1

    @idempotent(table=table, name="by-hash")
    def by_hash(payload: dict[str, Any]) -> None:
        runs["hash"] += 1

    purchase = Purchase(purchase_id="p-1", customer=Customer(id=7, name="Ada"))
    by_path(purchase)
    by_path(purchase)
    by_path({"customer": {"id": 8}})  # dicts walk the same path
    message = Message.of(id="m-1")
    by_callable({"n": 1}, message)
    by_callable({"n": 1}, message)
    by_hash({"b": 1, "a": 2})
    by_hash({"a": 2, "b": 1})  # same canonical JSON
    by_hash({"a": 3})
    assert runs == {"path": 2, "callable": 1, "hash": 2}
    assert {item["id"]["S"] for item in dynamodb.items(table)} == {
        "by-callable#m-1:1",
        f"by-hash#{payload_hash({'a': 2, 'b': 1})}",
        f"by-hash#{payload_hash({'a': 3})}",
        "by-path#7",
        "by-path#8",
    }


def test_a_missing_key_fails_the_record_permanently_without_running(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[Any] = []

    @idempotent(key="customer.id", table=table, name="by-path")
    def by_path(payload: Any) -> None:
        ran.append(payload)

    with pytest.raises(PermanentError, match=r"idempotency key 'customer.id' is missing or empty"):
        by_path({"customer": {}})
    assert ran == [] and dynamodb.items(table) == []


def test_an_expired_completed_item_counts_as_absent_even_before_ttl_deletes_it(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    dynamodb.client().put_item(
        TableName=table,
        Item={
            "id": {"S": "charge#o-1"},
            "status": {"S": "COMPLETED"},
            "owner": {"S": "long-gone"},
            "validation": {"S": payload_hash(order("o-1"))},
            "expiration": {"N": str(int(time.time()) - 5)},
        },
    )
    ran: list[str] = []

    @idempotent(key="order_id", table=table, name="charge")
    def charge(payload: dict[str, Any]) -> None:
        ran.append(payload["order_id"])

    charge(order("o-1"))
    assert ran == ["o-1"]


def test_a_condition_failure_without_the_item_falls_back_to_a_consistent_read(dynamodb: DynamoDB) -> None:
    """dynalite ignores ReturnValuesOnConditionCheckFailure: the store reads the item
    instead, with the same outcomes (duplicate, in progress, key reused) as on moto."""
    table = dynamodb.create_table()
    counter = CallCounter()
    writer = idempotent(key="order_id", name="charge", store=store_for(dynamodb, table))(lambda payload: None)
    writer(order("o-1"))
    store = store_for(dynamodb, table, counter)
    duplicate = idempotent(key="order_id", name="charge", store=store, cache_size=0)(lambda payload: "ran")

    assert duplicate(order("o-1")) is None
    with pytest.raises(IdempotencyKeyReusedError):
        duplicate(order("o-1", 99))
    extra_reads = 0 if dynamodb.returns_item_on_condition_failure else 2
    assert counter.count("GetItem") == extra_reads == store.fallback_reads
    assert counter.count("PutItem") == 2


def test_a_claim_whose_answer_was_lost_is_recognised_as_its_own_on_retry(dynamodb: DynamoDB) -> None:
    """The claim's PutItem lands, its answer is lost and botocore retries: the retry's
    condition fails on this delivery's own INPROGRESS item. The owner token tells it is
    ours, so the record runs (once) instead of failing as "in progress elsewhere"."""
    table = dynamodb.create_table()
    store = store_for(dynamodb, table)
    lost = lose_answers(store.client, "PutItem")
    ran: list[str] = []

    @worker(Order)
    @idempotent(key="order_id", name="charge", store=store)
    def handler(order: Order) -> None:
        ran.append(order.order_id)

    assert handler(sqs_event([json.dumps(order("o-1"))]), LambdaContext()) == {"batchItemFailures": []}
    assert lost == [1]
    assert ran == ["o-1"]
    assert [item["status"]["S"] for item in dynamodb.items(table)] == ["COMPLETED"]

    # The same outside worker (one call, claimed alone).
    lost_alone = lose_answers(store.client, "PutItem")
    charge = idempotent(key="order_id", name="charge-alone", store=store)(lambda payload: "charged")
    assert charge(order("o-2")) == "charged"
    assert lost_alone == [1]


# -- leases ---------------------------------------------------------------------------------------


def test_the_lease_ends_at_the_lambdas_end_or_sooner_when_configured(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    leases: dict[str, float] = {}

    def record_lease(payload: dict[str, Any]) -> None:
        item = dynamodb.item(table, f"{payload['name']}#{payload['order_id']}")
        assert item is not None and item["status"]["S"] == "INPROGRESS"
        leases[payload["name"]] = int(item["in_progress_expiration"]["N"]) / 1000 - time.time()

    @worker(timeout_margin=0.5)
    @idempotent(key="order_id", table=table, name="to-lambda-end")
    def to_lambda_end(payload: dict[str, Any]) -> None:
        record_lease(payload)

    @worker(timeout_margin=0.5)
    @idempotent(key="order_id", table=table, name="short", lease=5)
    def short(payload: dict[str, Any]) -> None:
        record_lease(payload)

    def run(handler: Any, name: str) -> float:
        """Run one record; the seconds the invocation took. The context's clock stands still, so
        the Lambda's end is exactly 60 s after the invocation began."""
        context = LambdaContext(timeout=60, clock=ManualClock())
        before = time.time()
        assert handler(sqs_event([{"order_id": "o-1", "name": name}]), context) == {"batchItemFailures": []}
        return time.time() - before

    # Seen from inside the record, the lease has at most its length left and at least its length
    # less the invocation's duration, whatever that was; the lease end is stored in whole ms.
    spent = run(to_lambda_end, "to-lambda-end")
    assert 60 - spent - 0.001 <= leases["to-lambda-end"] <= 60
    spent = run(short, "short")
    assert 5 - spent - 0.001 <= leases["short"] <= 5


def test_a_record_starting_late_in_a_batch_renews_its_claim_first(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    counter = CallCounter()
    ran: list[str] = []

    @worker(Order)
    @idempotent(key="order_id", name="renew", lease=1.0, store=store_for(dynamodb, table, counter))
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        if order.order_id == "o-0":
            time.sleep(0.6)  # over half of o-1's lease (claimed with o-0's) is gone when o-1 starts

    assert handler(sqs_event([json.dumps(order("o-0")), json.dumps(order("o-1"))]), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert ran == ["o-0", "o-1"]
    assert Counter(counter.calls) == {"PutItem": 2, "UpdateItem": 3}  # two claims, one renewal, two completions


def test_a_claim_taken_over_before_its_record_started_fails_that_record(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []
    other_container = idempotent(key="order_id", table=table, name="lapsed")(lambda payload: ran.append("other"))

    @worker(Order)
    @idempotent(key="order_id", name="lapsed", lease=0.5, table=table)
    def handler(record: Order) -> None:
        ran.append(record.order_id)
        if record.order_id == "o-0":
            item = dynamodb.item(table, "lapsed#o-1")
            assert item is not None
            while time.time() <= int(item["in_progress_expiration"]["N"]) / 1000 + 0.05:
                time.sleep(0.05)
            other_container(order("o-1"))  # o-1's lease ended: another delivery takes it over

    event = sqs_event([json.dumps(order("o-0")), json.dumps(order("o-1"))])
    result = handler.run(event, LambdaContext())
    assert [failure.index for failure in result.failures] == [1]
    assert isinstance(result.failures[0].error, IdempotencyInProgressError)
    assert ran == ["o-0", "other"]


# -- under worker ---------------------------------------------------------------------------------


def test_worker_batch_reports_exactly_the_records_whose_work_did_not_complete(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []
    lock = threading.Lock()
    metrics = Metrics()

    @worker(Order, concurrency=4, metrics=metrics)
    @idempotent(key="order_id", table=table, name="orders")
    def handler(order: Order) -> None:
        with lock:
            ran.append(order.order_id)
        if order.order_id == "o-6":
            raise ConnectionError("payments down")

    first = sqs_event([json.dumps(order(f"o-{n}")) for n in range(1, 5)])
    assert handler(first, LambdaContext()) == {"batchItemFailures": []}
    assert sorted(ran) == ["o-1", "o-2", "o-3", "o-4"]

    ran.clear()
    second = sqs_event(
        [
            json.dumps(order("o-1")),  # duplicate: skipped, success
            json.dumps(order("o-2", 99)),  # same key, other payload: permanent failure
            json.dumps(order("o-5")),  # fresh
            json.dumps(order("o-6")),  # fresh, raises
            "not json",  # parse error
            json.dumps(order("o-3")),  # duplicate
        ]
    )
    record_ids = [record["messageId"] for record in second["Records"]]
    response = handler(second, LambdaContext())
    assert sorted(reported(response)) == sorted([record_ids[1], record_ids[3], record_ids[4]])
    assert sorted(ran) == ["o-5", "o-6"]
    assert metrics.values["IdempotentDuplicates"] == 2

    ran.clear()
    retry = sqs_event([json.dumps(order("o-6")), json.dumps(order("o-5"))])
    assert handler(retry, LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": retry["Records"][0]["messageId"]}]
    }
    assert ran == ["o-6"]  # released after the failure, so the retry ran it; o-5 is a duplicate
    states = {item["id"]["S"]: item["status"]["S"] for item in dynamodb.items(table)}
    assert states == {f"orders#o-{n}": "COMPLETED" for n in (1, 2, 3, 4, 5)}


def test_async_record_functions_under_worker(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []
    attempts = Counter[str]()

    @worker(Order, concurrency=4)
    @idempotent(key="order_id", table=table, name="orders-async")
    async def handler(order: Order, message: Message) -> None:
        await asyncio.sleep(0)
        ran.append(order.order_id)
        attempts[order.order_id] += 1
        if order.order_id == "o-3" and attempts["o-3"] == 1:
            raise ConnectionError("payments down")

    event = sqs_event([json.dumps(order(f"o-{n}")) for n in range(1, 6)])
    record_ids = [record["messageId"] for record in event["Records"]]
    assert reported(handler(event, LambdaContext())) == [record_ids[2]]
    assert sorted(ran) == ["o-1", "o-2", "o-3", "o-4", "o-5"]

    ran.clear()
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert ran == ["o-3"]


def test_async_function_called_directly(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []

    @idempotent(key="order_id", table=table, name="direct-async", store_result=True)
    async def charge(payload: dict[str, Any]) -> int:
        ran.append(payload["order_id"])
        return 42

    assert asyncio.run(charge(order("o-1"))) == 42
    assert asyncio.run(charge(order("o-1"))) == 42
    assert ran == ["o-1"]


def test_a_batch_claims_every_record_before_the_first_runs_and_completes_them_in_finish(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    counter = CallCounter()
    store = store_for(dynamodb, table, counter)
    claimed_at_first_run: list[int] = []

    @worker(Order)
    @idempotent(key="order_id", name="batch", store=store)
    def handler(order: Order) -> None:
        if not claimed_at_first_run:
            claimed_at_first_run.append(len(dynamodb.items(table)))

    event = sqs_event([json.dumps(order(f"o-{n}")) for n in range(10)])
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert claimed_at_first_run == [10]
    assert Counter(counter.calls) == {"PutItem": 10, "UpdateItem": 10}
    assert {item["status"]["S"] for item in dynamodb.items(table)} == {"COMPLETED"}


def test_a_key_repeated_within_a_batch_is_claimed_once_and_the_repeat_is_a_duplicate(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    counter = CallCounter()
    ran: list[str] = []

    @worker(Order)
    @idempotent(key="order_id", name="repeats", store=store_for(dynamodb, table, counter))
    def handler(order: Order) -> None:
        ran.append(order.order_id)

    event = sqs_event([json.dumps(order("o-1")), json.dumps(order("o-2")), json.dumps(order("o-1"))])
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert ran == ["o-1", "o-2"]
    assert counter.count("PutItem") == 2


def test_records_a_batch_never_started_give_their_claims_back(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []

    @worker(Order, timeout_margin=1)
    @idempotent(key="order_id", table=table, name="deadline")
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        invocation = current_invocation()
        assert invocation is not None
        while order.order_id == "o-0" and invocation.remaining() > 0:  # use up the time: nothing more starts
            time.sleep(0.02)

    event = sqs_event([json.dumps(order(f"o-{n}")) for n in range(4)])
    record_ids = [record["messageId"] for record in event["Records"]]
    assert reported(handler(event, LambdaContext(timeout=30, remaining_ms=2500))) == record_ids[1:]
    assert ran == ["o-0"]
    assert [item["id"]["S"] for item in dynamodb.items(table)] == ["deadline#o-0"]

    ran.clear()
    assert handler(sqs_event([json.dumps(order("o-1"))]), LambdaContext()) == {"batchItemFailures": []}
    assert ran == ["o-1"]


def test_the_same_decorated_function_called_outside_worker_afterwards(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []

    @idempotent(key="order_id", table=table, name="both")
    def process(payload: dict[str, Any]) -> None:
        ran.append(payload["order_id"])

    handler = worker(process)
    handler(sqs_event([order("o-1")]), LambdaContext())
    process(order("o-1"))
    process(order("o-2"))
    assert ran == ["o-1", "o-2"]


# -- configuration errors -------------------------------------------------------------------------


def test_no_table_configured_is_a_configuration_error_naming_the_variable(
    dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MSGWORKER_IDEMPOTENCY_TABLE", raising=False)
    ran: list[str] = []

    @idempotent(key="order_id", name="unset")
    def charge(payload: dict[str, Any]) -> None:
        ran.append("ran")

    with pytest.raises(ConfigurationError, match="MSGWORKER_IDEMPOTENCY_TABLE"):
        charge(order("o-1"))

    handler = worker(Order)(charge)
    result = handler.run(sqs_event([json.dumps(order("o-1")), json.dumps(order("o-2"))]), LambdaContext())
    assert [type(failure.error) for failure in result.failures] == [ConfigurationError, ConfigurationError]
    assert ran == []


def test_the_table_variable_is_read_at_first_use(dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MSGWORKER_IDEMPOTENCY_TABLE", raising=False)

    @idempotent(key="order_id", name="late")
    def charge(payload: dict[str, Any]) -> None:
        pass

    table = dynamodb.create_table()
    monkeypatch.setenv("MSGWORKER_IDEMPOTENCY_TABLE", table)
    charge(order("o-1"))
    assert [item["id"]["S"] for item in dynamodb.items(table)] == ["late#o-1"]


def test_a_missing_table_is_a_configuration_error_naming_it(dynamodb: DynamoDB) -> None:
    ran: list[str] = []

    @idempotent(key="order_id", table="no-such-table", name="missing")
    def charge(payload: dict[str, Any]) -> None:
        ran.append("ran")

    with pytest.raises(ConfigurationError, match="idempotency table 'no-such-table' does not exist"):
        charge(order("o-1"))
    result = worker(Order)(charge).run(sqs_event([json.dumps(order("o-1"))]), LambdaContext())
    assert isinstance(result.failures[0].error, ConfigurationError)
    assert ran == []


def test_options_are_checked_when_decorating() -> None:
    with pytest.raises(ValueError, match="ttl"):
        idempotent(ttl=0)
    with pytest.raises(ValueError, match="on_payload_mismatch"):
        idempotent(on_payload_mismatch="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'#'"):
        idempotent(name="a#b")(lambda payload: None)
    with pytest.raises(ValueError, match="dotted path"):
        idempotent(key="customer..id")
    # @idempotent without parentheses: the record function became the key function.
    bare = idempotent(lambda payload: None)
    with pytest.raises(TypeError, match=r"write @idempotent\(\)"):
        bare({"order_id": "o-1"})  # type: ignore[arg-type]


# -- outages --------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable_store() -> DynamoDBStore:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=0.5, read_timeout=0.5, retries={"mode": "standard", "max_attempts": 1}),
    )
    return DynamoDBStore("idempotency", client=client)


def test_an_unreachable_store_fails_the_record_without_running_it() -> None:
    ran: list[str] = []
    metrics = Metrics()

    @worker(Order, metrics=metrics)
    @idempotent(key="order_id", name="down", store=unreachable_store())
    def handler(order: Order) -> None:
        ran.append(order.order_id)

    event = sqs_event([json.dumps(order("o-1")), json.dumps(order("o-2"))])
    result = handler.run(event, LambdaContext())
    assert [type(failure.error) for failure in result.failures] == [IdempotencyStoreError] * 2
    assert "could not be reached" in str(result.failures[0].error)
    assert ran == []
    with pytest.raises(IdempotencyStoreError):
        handler.__wrapped__(order("o-1"))
    assert ran == []
    handler(event, LambdaContext())
    assert metrics.values["IdempotencyStoreErrors"] == 2


def test_unguarded_mode_runs_the_function_when_the_store_is_down(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []
    metrics = Metrics()

    @worker(Order, metrics=metrics)
    @idempotent(key="order_id", name="down", store=unreachable_store(), on_store_error="run")
    def handler(order: Order) -> None:
        ran.append(order.order_id)

    with caplog.at_level(logging.WARNING, logger="msgworker.idempotency"):
        assert handler(sqs_event([json.dumps(order("o-1"))]), LambdaContext()) == {"batchItemFailures": []}
        handler.__wrapped__(Order(order_id="o-2", total=1))
    assert ran == ["o-1", "o-2"]
    assert metrics.values["IdempotencyUnguardedRuns"] == 1
    assert "running without idempotency" in caplog.text


def test_throttling_fails_the_record_without_running_it(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    store = store_for(dynamodb, table, retries={"mode": "standard", "max_attempts": 1})
    ran: list[str] = []

    @worker(Order)
    @idempotent(key="order_id", name="throttled", store=store)
    def handler(order: Order) -> None:
        ran.append(order.order_id)

    remove = inject_error(store.client, "ProvisionedThroughputExceededException")
    result = handler.run(sqs_event([json.dumps(order("o-1"))]), LambdaContext())
    assert isinstance(result.failures[0].error, IdempotencyStoreError)
    assert "ProvisionedThroughputExceededException" in str(result.failures[0].error)
    assert ran == []
    remove()
    assert handler.run(sqs_event([json.dumps(order("o-1"))]), LambdaContext()).failures == []
    assert ran == ["o-1"]


def test_a_failed_completion_reports_the_record_done_and_counts_it(
    dynamodb: DynamoDB, caplog: pytest.LogCaptureFixture
) -> None:
    table = dynamodb.create_table()
    store = store_for(dynamodb, table, retries={"mode": "standard", "max_attempts": 1})
    ran: list[str] = []
    metrics = Metrics()

    @worker(Order, metrics=metrics)
    @idempotent(key="order_id", name="completion", store=store)
    def handler(order: Order) -> None:
        ran.append(order.order_id)

    inject_error(store.client, "InternalServerError", operations=("UpdateItem",), status=500)
    with caplog.at_level(logging.ERROR, logger="msgworker.idempotency"):
        assert handler(sqs_event([json.dumps(order("o-1"))]), LambdaContext()) == {"batchItemFailures": []}
    assert ran == ["o-1"]
    assert metrics.values["IdempotencyCompletionFailed"] == 1
    assert "completion not recorded" in caplog.text
    item = dynamodb.item(table, "completion#o-1")
    assert item is not None and item["status"]["S"] == "INPROGRESS"  # until its lease ends


def test_stopping_the_server_mid_test_fails_records_without_running_them() -> None:
    with moto_server() as backend:
        table = backend.create_table()
        store = store_for(backend, table, retries={"mode": "standard", "max_attempts": 1}, connect_timeout=0.5)
        ran: list[str] = []

        @worker(Order)
        @idempotent(key="order_id", name="stopping", store=store)
        def handler(order: Order) -> None:
            ran.append(order.order_id)

        assert handler.run(sqs_event([json.dumps(order("o-1"))]), LambdaContext()).failures == []
    result = handler.run(sqs_event([json.dumps(order("o-2"))]), LambdaContext())
    assert isinstance(result.failures[0].error, IdempotencyStoreError)
    assert ran == ["o-1"]


# -- the warm container's cache -------------------------------------------------------------------


def test_duplicates_seen_by_a_warm_container_cost_no_dynamodb_call(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    counter = CallCounter()
    ran: list[str] = []

    @worker(Order)
    @idempotent(key="order_id", name="cached", store=store_for(dynamodb, table, counter))
    def handler(order: Order) -> None:
        ran.append(order.order_id)

    bodies = [json.dumps(order(f"o-{n}")) for n in range(3)]
    handler(sqs_event(bodies), LambdaContext())
    assert counter.count() == 6
    counter.reset()
    assert handler(sqs_event(bodies), LambdaContext()) == {"batchItemFailures": []}
    handler.__wrapped__(order("o-1"))
    assert counter.count() == 0
    assert ran == ["o-0", "o-1", "o-2"]


class ClaimCountingStore(InMemoryStore):
    """An in-memory store that notes the key of every claim it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[str] = []

    def claim(self, claim: Claim, now: float) -> StoredRecord | None:
        self.claims.append(claim.key)
        return super().claim(claim, now)


def test_the_cache_is_bounded_and_forgets_expired_keys() -> None:
    store = ClaimCountingStore()
    ran: list[str] = []

    @idempotent(key="order_id", name="bounded", store=store, cache_size=2, ttl=60)
    def charge(payload: dict[str, Any]) -> None:
        ran.append(payload["order_id"])

    for n in range(3):
        charge(order(f"o-{n}"))
    store.claims.clear()
    charge(order("o-2"))
    charge(order("o-1"))
    assert store.claims == []  # the two most recent keys: answered by the warm cache
    charge(order("o-0"))
    assert store.claims == ["bounded#o-0"]  # pushed out of the cache of 2: the store says duplicate
    assert ran == ["o-0", "o-1", "o-2"]

    (layer,) = find_layers(charge)
    layer.clock = lambda: time.time() + 61  # past the ttl: forgotten by the cache and the store
    charge(order("o-1"))
    assert store.claims[-1] == "bounded#o-1"
    assert ran == ["o-0", "o-1", "o-2", "o-1"]


# -- the in-memory store behaves like DynamoDB --------------------------------------------------


def test_in_memory_store_for_unit_tests() -> None:
    store = InMemoryStore()
    ran: list[str] = []

    @worker(Order)
    @idempotent(key="order_id", name="memory", store=store)
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        if order.order_id == "o-2":
            raise ConnectionError("down")

    event = sqs_event([json.dumps(order("o-1")), json.dumps(order("o-2")), json.dumps(order("o-1"))])
    assert reported(handler(event, LambdaContext())) == [event["Records"][1]["messageId"]]
    assert ran == ["o-1", "o-2"]
    assert {key: record.status for key, record in store.records.items()} == {"memory#o-1": "COMPLETED"}


def test_message_ids_do_not_matter_only_keys(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []

    @worker(Order)
    @idempotent(key="order_id", table=table, name="ids")
    def handler(order: Order) -> None:
        ran.append(order.order_id)

    handler(sqs_event([sqs_record(json.dumps(order("o-1")), message_id="m-1")]), LambdaContext())
    handler(sqs_event([sqs_record(json.dumps(order("o-1")), message_id="m-2")]), LambdaContext())
    assert ran == ["o-1"]
