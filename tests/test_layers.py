"""The contract between worker and per-record layers (msgworker.layers): the invocation a
layer sees, the batch hooks, and exceptions as decisions."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from msgworker import Message, worker
from msgworker.errors import CircuitOpenError
from msgworker.layers import Batch, Invocation, call_with, current_invocation, find_layers, mark_layer, takes_message
from msgworker.testing import LambdaContext, sqs_event, sqs_record


class Recorder:
    """A layer that records what it sees: the invocation per call, and its batch hooks."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.seen: list[Invocation | None] = []
        self.prepared: list[Batch] = []
        self.lock = threading.Lock()

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        inner = call_with(function)

        @functools.wraps(function)
        def wrapper(payload: Any, message: Message | None = None) -> Any:
            with self.lock:
                self.seen.append(current_invocation())
            return inner(payload, message)

        mark_layer(wrapper, self)
        return wrapper

    def prepare(self, batch: Batch) -> None:
        self.log.append(f"prepare {self.name}")
        self.prepared.append(batch)

    def finish(self, batch: Batch) -> None:
        self.log.append(f"finish {self.name} failures={sorted(batch.failures)}")


def batch_of(*bodies: str) -> dict[str, Any]:
    return sqs_event([sqs_record(body, message_id=f"m{index}") for index, body in enumerate(bodies)])


def test_hooks_run_innermost_first_before_and_outermost_first_after() -> None:
    log: list[str] = []
    outer, inner = Recorder("outer", log), Recorder("inner", log)

    @worker
    @outer
    @inner
    def handle(payload: Any) -> None:
        log.append(f"run {payload['n']}")
        if payload["n"] == 1:
            raise ValueError("boom")

    response = handle(batch_of('{"n": 0}', '{"n": 1}'), LambdaContext(timeout=30))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert log == [
        *("prepare inner", "prepare outer", "run 0", "run 1"),
        *("finish outer failures=[1]", "finish inner failures=[1]"),
    ]
    assert find_layers(handle.record_function) == [outer, inner]


def test_prepare_sees_every_parsed_record_with_its_message() -> None:
    layer = Recorder("only", [])

    @worker
    @layer
    def handle(payload: Any) -> None:
        pass

    handle(batch_of('{"n": 0}', "not json but text", '{"n": 2}'))
    (batch,) = layer.prepared
    assert [item.index for item in batch.items] == [0, 1, 2]
    assert [item.message.id for item in batch.items] == ["m0", "m1", "m2"]
    assert batch.items[1].payload == "not json but text"


def test_prepare_skips_records_that_do_not_parse_and_the_pipeline_reports_them() -> None:
    from pydantic import BaseModel

    class Order(BaseModel):
        order_id: str

    layer = Recorder("only", [])

    @worker(Order)
    @layer
    def handle(order: Order) -> None:
        pass

    response = handle(batch_of('{"order_id": "a"}', '{"nope": 1}'))
    assert [item.index for item in layer.prepared[0].items] == [0]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


@pytest.mark.parametrize("concurrency", [1, 4])
def test_every_record_sees_the_batch_invocation_in_its_own_thread(concurrency: int) -> None:
    layer = Recorder("only", [])

    @worker(concurrency=concurrency)
    @layer
    def handle(payload: Any, message: Message) -> None:
        time.sleep(0.01)  # long enough that pool threads take some of the records

    context = LambdaContext(timeout=30)
    handle(batch_of(*[json.dumps({"n": n}) for n in range(8)]), context)
    assert len(layer.seen) == 8
    invocations = {id(invocation) for invocation in layer.seen}
    assert len(invocations) == 1 and layer.seen[0] is not None
    invocation = layer.seen[0]
    assert invocation.context is context
    assert invocation.ends - invocation.deadline == pytest.approx(1.0)
    assert 25 < invocation.wall_clock_end() - time.time() <= 30
    assert current_invocation() is None  # reset after the batch


def test_async_records_see_the_invocation() -> None:
    seen: list[Invocation | None] = []

    class AsyncLayer:
        def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(function)
            async def wrapper(payload: Any, message: Message | None = None) -> Any:
                seen.append(current_invocation())
                return await function(payload)

            mark_layer(wrapper, self)
            return wrapper

    @worker(concurrency=3)
    @AsyncLayer()
    async def handle(payload: Any) -> None:
        pass

    handle(batch_of('{"n": 0}', '{"n": 1}', '{"n": 2}'), LambdaContext(timeout=30))
    assert len(seen) == 3 and all(invocation is not None for invocation in seen)


def test_a_prepare_hook_that_finds_the_circuit_open_stops_the_whole_batch() -> None:
    ran: list[Any] = []

    class OpenBreaker:
        def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(function)
            def wrapper(payload: Any, message: Message | None = None) -> Any:
                return function(payload)

            mark_layer(wrapper, self)
            return wrapper

        def prepare(self, batch: Batch) -> None:
            raise CircuitOpenError("payments is open", name="payments", reopens_at=time.time() + 30)

    @worker
    @OpenBreaker()
    def handle(payload: Any) -> None:
        ran.append(payload)

    result = handle.run(batch_of('{"n": 0}', '{"n": 1}'))
    assert ran == []
    assert [failure.id for failure in result.failures] == ["m0", "m1"]
    assert all(isinstance(failure.error, CircuitOpenError) and not failure.started for failure in result.failures)


def test_layer_counts_become_metrics_with_the_batch() -> None:
    added: list[tuple[str, float]] = []

    class Metrics:
        def add_metric(self, name: str, unit: Any, value: float, *args: Any, **kwargs: Any) -> None:
            added.append((name, value))

    class Counting:
        def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(function)
            def wrapper(payload: Any, message: Message | None = None) -> Any:
                invocation = current_invocation()
                assert invocation is not None
                invocation.count("Duplicates")
                return function(payload)

            mark_layer(wrapper, self)
            return wrapper

    @worker(metrics=Metrics())
    @Counting()
    def handle(payload: Any) -> None:
        pass

    handle(batch_of('{"n": 0}', '{"n": 1}'))
    assert ("Duplicates", 2) in added and ("RecordsProcessed", 2) in added


def test_call_with_adapts_to_what_the_function_takes() -> None:
    def payload_only(payload: int) -> int:
        return payload + 1

    def with_message(payload: int, message: Message | None) -> tuple[int, Message | None]:
        return payload, message

    assert not takes_message(payload_only) and takes_message(with_message)
    assert call_with(payload_only)(1, None) == 2
    assert call_with(with_message)(1, None) == (1, None)


def test_plain_workers_run_without_an_invocation() -> None:
    seen: list[Invocation | None] = []

    @worker
    def handle(payload: Any) -> None:
        seen.append(current_invocation())

    handle(batch_of('{"n": 0}'))
    assert seen == [None]
