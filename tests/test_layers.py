"""The contract between worker and per-record layers (msgworker._layers): the invocation and
record a layer sees, the batch hooks and their order, and exceptions as decisions."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from msgworker import Message, current_invocation, current_record, worker
from msgworker._layers import Batch, Invocation, find_layers, mark_layer
from msgworker.errors import CircuitOpenError
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
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.seen.append(current_invocation())
            return function(*args, **kwargs)

        mark_layer(wrapper, self)
        return wrapper

    def prepare(self, batch: Batch) -> None:
        self.log.append(f"prepare {self.name}")
        self.prepared.append(batch)

    def finish(self, batch: Batch) -> None:
        self.log.append(f"finish {self.name} failures={sorted(batch.failures)}")


def batch_of(*bodies: str) -> dict[str, Any]:
    return sqs_event([sqs_record(body, message_id=f"m{index}") for index, body in enumerate(bodies)])


def test_hooks_run_in_the_wrappers_order_outermost_first_before_and_innermost_first_after() -> None:
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
        *("prepare outer", "prepare inner", "run 0", "run 1"),
        *("finish inner failures=[1]", "finish outer failures=[1]"),
    ]
    assert find_layers(handle) == [outer, inner]


def test_a_prepare_that_stops_the_batch_keeps_the_layers_inside_it_from_preparing() -> None:
    log: list[str] = []

    class Stopping(Recorder):
        def prepare(self, batch: Batch) -> None:
            super().prepare(batch)
            raise CircuitOpenError("payments is open", name="payments", reopens_at=time.time() + 30)

    outer, inner = Stopping("outer", log), Recorder("inner", log)

    @worker
    @outer
    @inner
    def handle(payload: Any) -> None:
        log.append("run")

    result = handle.run(batch_of('{"n": 0}', '{"n": 1}'))
    assert [failure.id for failure in result.failures] == ["m0", "m1"]
    assert log[0] == "prepare outer" and "prepare inner" not in log and "run" not in log


def test_layers_see_the_record_being_run_and_keep_the_signature() -> None:
    import inspect

    seen: list[tuple[int, str | None]] = []
    layer = Recorder("only", [])

    @worker
    @layer
    def handle(payload: Any, message: Message) -> None:
        item = current_record()
        assert item is not None and item.payload is payload and item.message is message
        seen.append((item.index, item.message.id))

    handle(batch_of('{"n": 0}', '{"n": 1}'))
    assert seen == [(0, "m0"), (1, "m1")]
    assert list(inspect.signature(handle).parameters) == ["payload", "message"]
    assert current_record() is None


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
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                seen.append(current_invocation())
                return await function(*args, **kwargs)

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
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return function(*args, **kwargs)

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
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                invocation = current_invocation()
                assert invocation is not None
                invocation.count("Duplicates")
                return function(*args, **kwargs)

            mark_layer(wrapper, self)
            return wrapper

    @worker(metrics=Metrics())
    @Counting()
    def handle(payload: Any) -> None:
        pass

    handle(batch_of('{"n": 0}', '{"n": 1}'))
    assert ("Duplicates", 2) in added and ("RecordsProcessed", 2) in added


def test_plain_workers_run_with_an_invocation() -> None:
    seen: list[Invocation | None] = []

    @worker
    def handle(payload: Any) -> None:
        seen.append(current_invocation())

    handle(batch_of('{"n": 0}'))
    assert len(seen) == 1 and seen[0] is not None and seen[0].records[0]["messageId"] == "m0"
    assert current_invocation() is None
