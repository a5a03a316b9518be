"""The fused fast path (docs/decisions/0011-layers.md): while every layer is healthy,
worker calls the innermost function directly and only exceptions go through the layers.
These tests check that the layers decide exactly what their wrappers would."""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from breaker_helpers import REGION, FakeClock, Logs, Metrics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from msgworker import Message, worker
from msgworker.breaker import InMemoryStore, circuit_breaker
from msgworker.errors import CircuitOpenError
from msgworker.layers import current_invocation, fuse
from msgworker.retrying import retry
from msgworker.testing import LambdaContext, sqs_event


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process moto with fake credentials: the worker's failure actions for rejected
    records (SQS visibility) stay local."""
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


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


def transparent(function: Any) -> Any:
    """A user's decorator: in front of the layers it turns fusion off."""

    @functools.wraps(function)
    def wrapper(*args: Any) -> Any:
        return function(*args)

    return wrapper


def described(error: BaseException) -> str:
    # A rejection names the wall-clock second it reopens at: not part of the decision.
    return error.name if isinstance(error, CircuitOpenError) else str(error)


def scenario(fused: bool, breaker_outside: bool, threshold: int, attempts: int, plan: list[int]) -> Any:
    """Run one batch where record ``n`` fails its first ``plan[n]`` calls; return what
    could tell the fused path from the wrappers."""
    calls: list[tuple[str, int]] = []
    store = InMemoryStore()
    breaker = circuit_breaker("payments", store=store, failure_threshold=threshold, logger=Logs())
    retrying = retry(attempts=attempts, on=(ConnectionError,), sleep=lambda seconds: None, logger=Logs())
    seen: dict[str, int] = {}

    def record(payload: Any, message: Message) -> None:
        key = payload["order_id"]
        seen[key] = seen.get(key, 0) + 1
        calls.append((key, seen[key]))
        if seen[key] <= payload["fails"]:
            raise ConnectionError(f"{key} attempt {seen[key]}")

    layered = breaker(retrying(record)) if breaker_outside else retrying(breaker(record))
    handle = worker(metrics=Metrics())(layered if fused else transparent(layered))
    assert (handle._fusion is not None) is fused
    breaker.snapshot()  # cached closed: the batch may take the fast path
    event = sqs_event([{"order_id": f"o-{n}", "fails": fails} for n, fails in enumerate(plan)])
    result = handle.run(event, LambdaContext(timeout=60))
    snapshot = store.read("payments")
    return (
        [(failure.index, type(failure.error).__name__, described(failure.error)) for failure in result.failures],
        calls,
        (snapshot.state, snapshot.version, snapshot.failures),
    )


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    breaker_outside=st.booleans(),
    threshold=st.integers(1, 4),
    attempts=st.integers(1, 3),
    plan=st.lists(st.integers(0, 3), min_size=1, max_size=8),
)
def test_the_fast_path_decides_exactly_what_the_wrappers_decide(
    breaker_outside: bool, threshold: int, attempts: int, plan: list[int]
) -> None:
    fused = scenario(True, breaker_outside, threshold, attempts, plan)
    wrapped = scenario(False, breaker_outside, threshold, attempts, plan)
    assert fused == wrapped


def test_an_exception_that_stops_the_batch_still_runs_the_finish_hooks() -> None:
    breaker = circuit_breaker("stopped", store=InMemoryStore(), logger=Logs())
    finished: list[object] = []
    original = breaker.finish

    def finish(batch: Any) -> None:
        finished.append(batch.invocation)
        original(batch)

    breaker.finish = finish  # type: ignore[method-assign]

    @worker
    @breaker
    def handle(payload: Any) -> None:
        raise KeyboardInterrupt

    breaker.snapshot()
    with pytest.raises(KeyboardInterrupt):
        handle.run(orders(2), LambdaContext(timeout=60))
    assert len(finished) == 1 and finished[0] is not None
    assert current_invocation() is None
