"""Checked by mypy --strict in `make typecheck`: every public decorator form keeps the types a
user's type checker sees (ParamSpec), and worker's overloads tell a model from a function.

Each ``assert_type`` is checked statically by mypy; ``tests/test_typing_forms.py`` also runs
``forms()``, where ``assert_type`` returns its argument unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, assert_type

from pydantic import BaseModel

from msgworker import BatchResult, CircuitBreaker, Message, Retry, Worker, circuit_breaker, idempotent, retry, worker
from msgworker.breaker import InMemoryStore as BreakerMemory
from msgworker.idempotency import InMemoryStore
from msgworker.testing import (
    LambdaContext,
    LocalAws,
    MemoryStores,
    guard_real_aws,
    local_aws,
    memory_stores,
    reset,
    use_aws_stores,
    use_memory_stores,
)


class Order(BaseModel):
    order_id: str


def charge(customer: str, amount: float, *, currency: str = "EUR") -> str:
    return f"{customer}:{amount}{currency}"


async def fetch(n: int) -> int:
    return n


def forms() -> None:
    retried = retry(attempts=2, on=(ConnectionError,))(charge)
    assert_type(retried("c-1", 5.0, currency="USD"), str)
    guarded = circuit_breaker("payments", store=BreakerMemory())(charge)
    assert_type(guarded("c-1", 5.0), str)
    once = idempotent(key="customer", name="charge", store=InMemoryStore())(charge)
    assert_type(once("c-1", 5.0), str)
    pending = assert_type(retry()(fetch)(1), Coroutine[Any, Any, int])
    pending.close()
    pending = assert_type(idempotent(key="n", name="fetch", store=InMemoryStore())(fetch)(1), Coroutine[Any, Any, int])
    pending.close()

    @worker(Order, concurrency=4)
    @idempotent(key="order_id", name="orders", store=InMemoryStore())
    @circuit_breaker("payments-api", store=BreakerMemory())
    @retry(attempts=3, on=(ConnectionError,))
    def handler(order: Order, message: Message) -> None: ...

    assert_type(handler, Worker)
    assert_type(handler.run({"Records": []}), BatchResult)
    assert_type(handler({"Records": []}, LambdaContext()), dict[str, Any] | None)
    assert_type(handler.record_function, Callable[..., Any])
    assert callable(handler.record_function)

    # The decorator itself, before it is applied: a model class is not taken for a function.
    assert_type(worker(Order), Callable[[Callable[..., Any]], Worker])
    assert_type(worker(Order, redelivery=True, dead_letter=True), Callable[[Callable[..., Any]], Worker])
    assert_type(circuit_breaker("payments-api", store=BreakerMemory()), CircuitBreaker)
    assert_type(retry(attempts=2), Retry)

    @worker(Order)
    @idempotent()
    async def bare_idempotent(order: Order) -> None: ...

    assert_type(bare_idempotent, Worker)

    # (A payload typed Any would make mypy's overload choice Any: a user's real type is not.)
    @worker
    def bare(payload: object) -> None: ...

    assert_type(bare, Worker)

    @worker()
    def untyped(payload: object) -> None: ...

    assert_type(untyped, Worker)

    @worker(list[int])
    def numbers(payload: list[int]) -> None: ...

    assert_type(numbers, Worker)


def testing_api() -> None:
    """The test kit's public forms (not run: local_aws would start a server)."""
    assert_type(use_memory_stores(), MemoryStores)
    assert_type(use_aws_stores(), None)
    with local_aws("template.yaml", apply=True) as aws:
        assert_type(aws, LocalAws)
        assert_type(aws.environment, dict[str, str])
    assert_type(reset(), None)
    assert_type(guard_real_aws(False), None)
    with memory_stores() as stores:
        assert_type(stores.idempotency, InMemoryStore)
        assert_type(stores.breaker, BreakerMemory)


def mistakes() -> None:
    """Never run: each line must be a type error (strict mode flags an unused ignore)."""
    worker(Order, concurrncy=4)  # type: ignore[call-overload]
    retry(attempts="3")  # type: ignore[arg-type]
    guarded = circuit_breaker("payments", store=BreakerMemory())(charge)
    guarded("c-1")  # type: ignore[call-arg]
    once = idempotent(key="customer", name="charge", store=InMemoryStore())(charge)
    once("c-1", amount="five")  # type: ignore[arg-type]
    local_aws("template.yaml", True)  # type: ignore[call-arg]
