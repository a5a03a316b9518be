"""The per-record decorators on any function (sync or async, any signature, which they keep),
and stacked under worker in the wrappers' order."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from typing import Any

import pytest
from pydantic import BaseModel

from msgworker import CircuitOpenError, ConfigurationError, Message, circuit_breaker, idempotent, retry, worker
from msgworker.breaker import InMemoryStore as BreakerMemory
from msgworker.idempotency import InMemoryStore
from msgworker.idempotency._store import Claim, StoredRecord
from msgworker.testing import LambdaContext, sqs_event, sqs_record


class Customer(BaseModel):
    id: str


class Order(BaseModel):
    order_id: str
    customer: Customer
    total: float = 1.0


class CountingStore(InMemoryStore):
    """The in-memory store, counting each operation."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def claim(self, claim: Claim, now: float) -> StoredRecord | None:
        self.calls.append("claim")
        return super().claim(claim, now)

    def release(self, key: str, owner: str) -> bool:
        self.calls.append("release")
        return super().release(key, owner)


def test_idempotent_key_names_an_argument_of_any_function() -> None:
    ran: list[tuple[str, float, str]] = []

    @idempotent(key="payment_id", name="pay", store=InMemoryStore(), store_result=True)
    def pay(payment_id: str, amount: float, *, currency: str = "EUR") -> str:
        ran.append((payment_id, amount, currency))
        return f"paid {amount}{currency}"

    assert pay("p-1", 5.0, currency="USD") == "paid 5.0USD"
    assert pay("p-1", 5.0, currency="USD") == "paid 5.0USD"  # the duplicate returns the stored result
    assert pay(payment_id="p-2", amount=1.0) == "paid 1.0EUR"
    assert ran == [("p-1", 5.0, "USD"), ("p-2", 1.0, "EUR")]
    assert list(inspect.signature(pay).parameters) == ["payment_id", "amount", "currency"]


def test_idempotent_dotted_path_into_an_argument_and_a_callable_key() -> None:
    ran: list[str] = []

    @idempotent(key="order.customer.id", name="welcome", store=InMemoryStore())
    def welcome(client: object, order: Order) -> None:
        ran.append(order.customer.id)

    @idempotent(key=lambda region, order: f"{region}:{order.order_id}", name="ship", store=InMemoryStore())
    def ship(region: str, order: Order) -> None:
        ran.append(f"ship {region}")

    first = Order(order_id="o-1", customer=Customer(id="c-1"))
    welcome(object(), first)
    welcome(object(), first)  # another client object: the same data, a duplicate
    ship("eu", first)
    ship("us", first)
    ship("eu", first)
    assert ran == ["c-1", "ship eu", "ship us"]


def test_idempotent_on_a_zero_argument_function_needs_a_callable_key() -> None:
    with pytest.raises(ConfigurationError, match="takes no arguments"):

        @idempotent(key="order_id", store=InMemoryStore())
        def nightly() -> None: ...

    ran: list[int] = []

    @idempotent(key=lambda: "2026-12-02", name="nightly", store=InMemoryStore())
    def report() -> None:
        ran.append(1)

    report()
    report()
    assert ran == [1]


def test_idempotent_on_an_async_function_with_keywords() -> None:
    ran: list[str] = []

    @idempotent(key="order_id", name="async-charge", store=InMemoryStore())
    async def charge(order_id: str, *, amount: float) -> None:
        ran.append(order_id)

    async def main() -> None:
        await charge("o-1", amount=1)
        await charge("o-1", amount=1)
        await charge("o-2", amount=1)

    asyncio.run(main())
    assert ran == ["o-1", "o-2"]


def test_a_helper_inside_a_record_function_claims_for_its_own_arguments() -> None:
    store = CountingStore()
    charged: list[str] = []

    @idempotent(key="order_id", name="charge-helper", store=store)
    def charge(order_id: str, total: float) -> None:
        charged.append(order_id)

    @worker(Order)
    def handler(order: Order, message: Message) -> None:
        charge(order.order_id, order.total)

    body = Order(order_id="o-1", customer=Customer(id="c-1")).model_dump_json()
    assert handler(sqs_event([body, body])) == {"batchItemFailures": []}
    assert charged == ["o-1"]
    assert handler.record_function.__name__ == "handler"


def test_breaker_and_retry_around_a_client_call() -> None:
    calls: list[str] = []

    @circuit_breaker("payments-api", store=BreakerMemory(), failure_threshold=2)
    @retry(attempts=2, on=(ConnectionError,), sleep=lambda seconds: None)
    def call_api(customer: str, amount: float, *, currency: str = "EUR") -> str:
        calls.append(customer)
        raise ConnectionError("payments API unreachable")

    for _ in range(2):
        with pytest.raises(ConnectionError):
            call_api("c-1", 5.0, currency="USD")
    with pytest.raises(CircuitOpenError):
        call_api("c-1", 5.0)
    assert calls == ["c-1"] * 4  # two calls of two attempts; the third is rejected before it runs


def test_an_open_circuit_outside_idempotent_costs_no_claim() -> None:
    store = CountingStore()
    breaker_store = BreakerMemory()
    ran: list[str] = []

    @worker(Order)
    @circuit_breaker("payments", store=breaker_store, failure_threshold=1, recovery_timeout=60)
    @idempotent(key="order_id", name="charge-stack", store=store)
    def handler(order: Order) -> None:
        ran.append(order.order_id)
        raise ConnectionError("payments down")

    bodies = [Order(order_id=f"o-{n}", customer=Customer(id="c")).model_dump_json() for n in range(10)]
    first = handler(sqs_event([bodies[0]]), LambdaContext(timeout=30))
    assert first is not None and len(first["batchItemFailures"]) == 1  # trips the breaker
    store.calls.clear()
    ran.clear()

    records = [sqs_record(body, message_id=f"m{n}") for n, body in enumerate(bodies)]
    result = handler.run(sqs_event(records), LambdaContext(timeout=30))
    assert ran == []
    assert [failure.id for failure in result.failures] == [f"m{n}" for n in range(10)]
    assert all(isinstance(failure.error, CircuitOpenError) for failure in result.failures)
    assert store.calls == [], "the breaker stopped the batch before any claim or release"


def test_time_is_the_workers_clock_for_the_deadline() -> None:
    now = [100.0]
    started: list[int] = []

    def clock() -> float:
        return now[0]

    @worker(clock=clock, timeout_margin=1.0)
    def handler(payload: Any) -> None:
        started.append(payload["n"])
        now[0] += 2.0  # each record takes two seconds of the worker's clock

    context = LambdaContext(timeout=30, remaining_ms=4500)
    result = handler.run(sqs_event([json.dumps({"n": n}) for n in range(4)]), context)
    # 4.5 s left, 1 s margin: records start at 0 s and 2 s; at 4 s the deadline (3.5 s) has passed.
    assert started == [0, 1]
    assert [failure.index for failure in result.failures] == [2, 3]
    assert not any(failure.started for failure in result.failures)
    assert time.monotonic() > 0  # the real clock was never needed


def test_a_breaker_around_a_helper_trips_across_batches() -> None:
    # Failures below the threshold wait for the end of their batch; a breaker worker does
    # not find around the record function must still add them then.
    calls: list[str] = []
    store = BreakerMemory()

    @circuit_breaker("payments-helper", store=store, failure_threshold=3, recovery_timeout=60)
    def call_api(order_id: str) -> None:
        calls.append(order_id)
        raise ConnectionError("payments API unreachable")

    @worker(Order)
    def handler(order: Order) -> None:
        # The function decides the record is done anyway: the failure still counts.
        with contextlib.suppress(ConnectionError):
            call_api(order.order_id)

    body = Order(order_id="o-1", customer=Customer(id="c")).model_dump_json()
    for _ in range(3):
        assert handler(sqs_event([body]), LambdaContext(timeout=30)) == {"batchItemFailures": []}
    # Opened by the third batch's failure: the fourth record is stopped by the open circuit.
    result = handler.run(sqs_event([body]), LambdaContext(timeout=30))
    assert [type(failure.error) for failure in result.failures] == [CircuitOpenError]
    assert len(calls) == 3


def test_retry_outside_idempotent_retries_under_one_key() -> None:
    store = CountingStore()
    attempts: list[str] = []

    @worker(Order)
    @retry(attempts=3, on=(ConnectionError,), sleep=lambda seconds: None)
    @idempotent(key="order_id", name="retried-charge", store=store)
    def handler(order: Order) -> None:
        attempts.append(order.order_id)
        if len(attempts) < 3:
            raise ConnectionError("payments API unreachable")

    body = Order(order_id="o-1", customer=Customer(id="c")).model_dump_json()
    assert handler(sqs_event([body]), LambdaContext(timeout=30)) == {"batchItemFailures": []}
    assert attempts == ["o-1"] * 3
    assert store.calls == ["claim", "release", "claim", "release", "claim"]
    # Completed: a redelivery is a duplicate.
    assert handler(sqs_event([body]), LambdaContext(timeout=30)) == {"batchItemFailures": []}
    assert attempts == ["o-1"] * 3
