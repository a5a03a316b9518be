"""The fused fast path (docs/decisions/0011-layers.md): while every layer is healthy,
worker calls the innermost function directly and only exceptions go through the layers.
These tests check that the layers decide exactly what their wrappers would."""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any

from breaker_helpers import FakeClock, Logs, Metrics

from msgworker import Message, worker
from msgworker.breaker import InMemoryStore, circuit_breaker
from msgworker.errors import CircuitOpenError
from msgworker.layers import current_invocation, fuse
from msgworker.retrying import retry
from msgworker.testing import LambdaContext, sqs_event


def caller() -> str:
    """The name of the function that called the caller."""
    return sys._getframe(2).f_code.co_name


def orders(count: int) -> dict[str, Any]:
    return sqs_event([{"order_id": f"o-{n}"} for n in range(count)])


def test_breaker_and_retry_fuse_and_the_innermost_function_is_called_directly() -> None:
    callers: list[str] = []
    seen: list[object] = []

    def record(payload: Any, message: Message) -> None:
        callers.append(caller())
        seen.append(current_invocation())

    guarded = circuit_breaker("fused", store=InMemoryStore(), logger=Logs())(retry(on=(ConnectionError,))(record))
    fusion = fuse(guarded)
    assert fusion is not None and fusion.inner is record
    handle = worker(guarded)
    assert handle.run(orders(3), LambdaContext(timeout=60)).failures == []
    assert handle.run(orders(3), LambdaContext(timeout=60)).failures == []
    # The first batch reads the breaker's state through its wrapper; then it is cached.
    assert callers[3:] == ["run_items"] * 3
    assert all(invocation is not None for invocation in seen)  # the contract holds on the fast path


def test_only_adjacent_msgworker_layers_fuse() -> None:
    def record(payload: Any) -> None:
        pass

    def users_own(function: Any) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any) -> Any:
            return function(*args)

        return wrapper

    async def later(payload: Any) -> None:
        pass

    store = InMemoryStore()
    assert fuse(retry()(record)) is not None
    assert fuse(users_own(retry()(record))) is None
    assert fuse(circuit_breaker("a", store=store)(users_own(retry()(record)))) is None
    assert fuse(retry()(later)) is None  # async def keeps the wrappers
    assert fuse(circuit_breaker("a", store=store, clock=FakeClock())(record)) is None  # not the pipeline's clock


def test_a_trip_on_the_fast_path_rejects_the_rest_of_the_batch() -> None:
    calls: list[str] = []
    store = InMemoryStore()
    breaker = circuit_breaker("payments", store=store, failure_threshold=2, logger=Logs())

    @worker(metrics=Metrics())
    @breaker
    def handle(payload: Any) -> None:
        calls.append(payload["order_id"])
        raise ConnectionError("down")

    assert fuse(handle.record_function) is not None
    breaker.snapshot()  # cache "closed": the next batch starts on the fast path
    result = handle.run(orders(5), LambdaContext(timeout=60))
    assert calls == ["o-0", "o-1"]
    errors = [failure.error for failure in result.failures]
    assert [type(error).__name__ for error in errors] == ["ConnectionError"] * 2 + ["CircuitOpenError"] * 3
    assert store.read("payments").state.value == "open"


def test_retries_on_the_fast_path_run_under_the_invocation() -> None:
    attempts: dict[str, int] = {}

    @worker(metrics=Metrics())
    @circuit_breaker("flaky", store=InMemoryStore(), failure_threshold=10, logger=Logs())
    @retry(attempts=3, on=(ConnectionError,), sleep=lambda seconds: None, logger=Logs())
    def handle(payload: Any, message: Message) -> None:
        assert current_invocation() is not None
        attempts[payload["order_id"]] = attempts.get(payload["order_id"], 0) + 1
        if attempts[payload["order_id"]] < 2:
            raise ConnectionError("blip")

    handle(orders(1), LambdaContext(timeout=60))  # warm: the breaker's state is read and cached
    attempts.clear()
    response = handle(orders(3), LambdaContext(timeout=60))
    assert response == {"batchItemFailures": []}
    assert attempts == {"o-0": 2, "o-1": 2, "o-2": 2}


def test_a_failure_on_one_thread_sends_every_thread_through_the_wrappers() -> None:
    calls: list[str] = []
    lock = threading.Lock()
    breaker = circuit_breaker("threads", store=InMemoryStore(), failure_threshold=1, logger=Logs())

    @worker(concurrency=4)
    @breaker
    def handle(payload: Any) -> None:
        with lock:
            calls.append(payload["order_id"])
        raise ConnectionError("down")

    breaker.snapshot()
    result = handle.run(orders(40), LambdaContext(timeout=60))
    rejected = [failure for failure in result.failures if isinstance(failure.error, CircuitOpenError)]
    # The breaker trips at the first failure; records already started on other threads
    # may still run, and the rest are rejected, not called.
    assert len(calls) < 40
    assert len(calls) + len(rejected) == len(result.failures) == 40
