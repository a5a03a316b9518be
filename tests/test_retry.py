"""@retry: which errors it retries, how often, how long it waits, and that it never runs
past the Lambda deadline (sync and async, alone and under @worker)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from tenacity import wait_fixed

from msgworker import Message, PermanentError, Retry, retry, worker
from msgworker._layers import Invocation, current_invocation, find_layers
from msgworker.errors import CircuitOpenError, ConfigurationError, IdempotencyInProgressError
from msgworker.testing import LambdaContext, ManualClock, sqs_event, sqs_record


class Logs:
    """A logger that keeps what it is given."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def warning(self, msg: object, *args: object, extra: Any = None) -> None:
        self.records.append((str(msg), dict(extra or {})))


class Metrics:
    def __init__(self) -> None:
        self.added: dict[str, float] = {}

    def add_metric(self, name: str, unit: Any, value: float, *args: Any, **kwargs: Any) -> None:
        self.added[name] = self.added.get(name, 0) + value


class Flaky:
    """Fails ``failures`` times with ``error`` (numbered), then returns ``result``."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError, result: Any = "done") -> None:
        self.failures = failures
        self.error = error
        self.result = result
        self.calls = 0
        self.raised: list[Exception] = []
        self.started: list[float] = []

    def __call__(self, payload: Any) -> Any:
        self.calls += 1
        self.started.append(time.monotonic())
        if self.calls <= self.failures:
            error = self.error(f"attempt {self.calls}")
            self.raised.append(error)
            raise error
        return self.result


def planned() -> tuple[list[float], Any]:
    waits: list[float] = []
    return waits, waits.append


def test_retries_a_transient_error_until_it_succeeds() -> None:
    waits, sleep = planned()
    flaky = Flaky(2)
    decorated = retry(attempts=3, on=(ConnectionError,), sleep=sleep, logger=Logs())(flaky)
    assert decorated({"n": 1}) == "done"
    assert flaky.calls == 3 and len(waits) == 2


def test_exhausted_attempts_raise_the_last_error_itself_not_a_retry_error() -> None:
    flaky = Flaky(10)
    decorated = retry(attempts=4, on=(ConnectionError,), sleep=lambda seconds: None, logger=Logs())(flaky)
    with pytest.raises(ConnectionError) as raised:
        decorated({})
    assert flaky.calls == 4
    assert raised.value is flaky.raised[-1]


def test_only_errors_in_on_are_retried() -> None:
    flaky = Flaky(1, error=ValueError)
    decorated = retry(attempts=5, on=(ConnectionError, TimeoutError), sleep=lambda seconds: None)(flaky)
    with pytest.raises(ValueError, match="attempt 1"):
        decorated({})
    assert flaky.calls == 1


def test_a_different_error_on_a_later_attempt_stops_the_retries() -> None:
    calls: list[int] = []

    def changing(payload: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("blip")
        raise KeyError("bug")

    decorated = retry(attempts=5, on=(ConnectionError,), sleep=lambda seconds: None, logger=Logs())(changing)
    with pytest.raises(KeyError):
        decorated({})
    assert len(calls) == 2


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("customer does not exist"),
        CircuitOpenError("open", name="payments", reopens_at=0.0),
        IdempotencyInProgressError("held elsewhere"),
    ],
)
def test_msgworker_decisions_are_never_retried_even_with_on_exception(error: Exception) -> None:
    calls: list[int] = []

    def decided(payload: Any) -> None:
        calls.append(1)
        raise error

    decorated = retry(attempts=5, on=(Exception,), sleep=lambda seconds: None)(decided)
    with pytest.raises(type(error)):
        decorated({})
    assert calls == [1]


def test_one_attempt_means_no_retry() -> None:
    flaky = Flaky(1)
    with pytest.raises(ConnectionError):
        retry(attempts=1, sleep=lambda seconds: None)(flaky)({})
    assert flaky.calls == 1


def test_backoff_doubles_from_initial_up_to_maximum_without_jitter() -> None:
    waits, sleep = planned()
    decorated = retry(attempts=7, initial=0.1, maximum=1.0, jitter=False, sleep=sleep, logger=Logs())(Flaky(10))
    with pytest.raises(ConnectionError):
        decorated({})
    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_full_jitter_waits_stay_between_zero_and_the_exponential_step() -> None:
    random.seed(7)
    waits, sleep = planned()
    decorated = retry(attempts=8, initial=0.1, maximum=2.0, sleep=sleep, logger=Logs())(Flaky(10_000))
    for _ in range(30):
        with pytest.raises(ConnectionError):
            decorated({})
    steps = [min(0.1 * 2**index, 2.0) for index in range(7)] * 30
    assert len(waits) == len(steps)
    assert all(0 <= wait <= step for wait, step in zip(waits, steps, strict=True))
    # Jitter: the waits for one step are spread out, not all equal.
    assert len({round(wait, 6) for wait in waits[6::7]}) > 10


def test_any_tenacity_wait_can_be_the_backoff() -> None:
    waits, sleep = planned()
    with pytest.raises(ConnectionError):
        retry(attempts=3, backoff=wait_fixed(0.5), sleep=sleep, logger=Logs())(Flaky(5))({})
    assert waits == [0.5, 0.5]


def test_outside_worker_a_deadline_option_stops_before_a_wait_would_cross_it() -> None:
    # The deadline is measured on a manual clock that only the planned waits move, so a
    # loaded machine cannot change what is asserted.
    clock = ManualClock()
    waits = clock.sleeps
    flaky = Flaky(100)
    logs = Logs()
    decorated = retry(
        attempts=10, initial=0.3, jitter=False, deadline=1.0, sleep=clock.sleep, clock=clock, logger=logs
    )(flaky)
    with pytest.raises(ConnectionError) as raised:
        decorated({})
    # 0.3 and then 0.6 s of planned waits fit in 1 s; the next (1.2 s) would not.
    assert waits == pytest.approx([0.3, 0.6])
    assert flaky.calls == 3 and raised.value is flaky.raised[-1]
    assert logs.records[-1][0].startswith("retry stopped")


def test_outside_worker_without_deadline_there_is_no_time_limit() -> None:
    waits, sleep = planned()
    flaky = Flaky(5)
    assert retry(attempts=6, initial=100, maximum=1000, jitter=False, sleep=sleep, logger=Logs())(flaky)({}) == "done"
    assert waits == [100, 200, 400, 800, 1000]


def test_each_retry_logs_a_warning_with_attempt_error_type_and_message_id() -> None:
    logs = Logs()
    handler = worker(retry(attempts=3, on=(ConnectionError,), sleep=lambda seconds: None, logger=logs)(Flaky(2)))
    assert handler(sqs_event([sqs_record("{}", message_id="m-42")])) == {"batchItemFailures": []}
    assert [extra["attempt"] for _, extra in logs.records] == [1, 2]
    assert {extra["error_type"] for _, extra in logs.records} == {"ConnectionError"}
    assert {extra["message_id"] for _, extra in logs.records} == {"m-42"}
    assert logs.records[0][1]["error"].startswith("message withheld")  # the text may quote the payload
    logs.records.clear()
    shown = worker(log_payload=True)(
        retry(attempts=3, on=(ConnectionError,), sleep=lambda s: None, logger=logs)(Flaky(2))
    )
    assert shown(sqs_event([sqs_record("{}", message_id="m-43")])) == {"batchItemFailures": []}
    assert logs.records[0][1]["error"] == "attempt 1"


def test_the_message_is_passed_on_to_functions_that_take_it() -> None:
    seen: list[Message | None] = []

    @retry(sleep=lambda seconds: None)
    def handle(payload: Any, message: Message | None) -> None:
        seen.append(message)

    message = Message.of(id="m-1")
    handle({}, message)
    handle({}, message=None)
    assert seen == [message, None]


def test_any_function_keeps_its_signature_and_arguments() -> None:
    import inspect

    calls: list[tuple[Any, ...]] = []

    @retry(attempts=2, on=(ConnectionError,), sleep=lambda seconds: None)
    def charge(customer: str, amount: float, *, currency: str = "EUR") -> str:
        calls.append((customer, amount, currency))
        if len(calls) == 1:
            raise ConnectionError("down")
        return f"{customer}:{amount}{currency}"

    @retry()
    def ping() -> str:
        return "pong"

    @retry()
    def pair(a: int, b: int, *, c: int = 1) -> int:
        return a + b + c

    assert charge("c-1", 5.0, currency="USD") == "c-1:5.0USD"
    assert calls == [("c-1", 5.0, "USD")] * 2
    assert ping() == "pong"
    assert list(inspect.signature(charge).parameters) == ["customer", "amount", "currency"]
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'b'"):
        pair(1)  # type: ignore[call-arg]


def test_an_async_function_with_any_signature() -> None:
    calls: list[int] = []

    @retry(attempts=3, on=(ConnectionError,), sleep=lambda seconds: None)
    async def fetch(n: int, *, scale: int = 1) -> int:
        calls.append(n)
        if len(calls) < 3:
            raise ConnectionError("down")
        return n * scale

    assert asyncio.run(fetch(2, scale=5)) == 10
    assert calls == [2, 2, 2]


def test_retry_is_a_layer_with_the_function_behind_it() -> None:
    def handle(payload: Any) -> None:
        pass

    decorated = retry()(handle)
    assert decorated.__wrapped__ is handle  # type: ignore[attr-defined]
    assert isinstance(find_layers(decorated)[0], Retry)


def test_options_are_checked_when_decorating() -> None:
    with pytest.raises(ValueError, match="attempts"):
        retry(attempts=0)
    with pytest.raises(ConfigurationError, match="exception classes"):
        retry(on="ConnectionError")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maximum"):
        retry(initial=2.0, maximum=1.0)
    with pytest.raises(ValueError, match="deadline"):
        retry(deadline=0)


# -- async --------------------------------------------------------------------------


def test_async_functions_are_retried_with_an_async_sleep() -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    calls: list[int] = []

    @retry(attempts=4, initial=0.1, jitter=False, on=(TimeoutError,), sleep=fake_sleep, logger=Logs())
    async def fetch(payload: Any) -> str:
        calls.append(1)
        await asyncio.sleep(0)
        if len(calls) < 3:
            raise TimeoutError(f"attempt {len(calls)}")
        return "fetched"

    assert asyncio.run(fetch({})) == "fetched"
    assert waits == pytest.approx([0.1, 0.2]) and len(calls) == 3


def test_async_exhaustion_and_non_retryable_errors() -> None:
    raised: list[Exception] = []

    @retry(attempts=3, on=(TimeoutError,), sleep=lambda seconds: None, logger=Logs())
    async def always(payload: Any) -> None:
        raised.append(TimeoutError(f"attempt {len(raised) + 1}"))
        raise raised[-1]

    with pytest.raises(TimeoutError) as error:
        asyncio.run(always({}))
    assert len(raised) == 3 and error.value is raised[-1]

    @retry(attempts=3, sleep=lambda seconds: None)
    async def permanent(payload: Any) -> None:
        raised.append(PermanentError("bad"))
        raise raised[-1]

    raised.clear()
    with pytest.raises(PermanentError):
        asyncio.run(permanent({}))
    assert len(raised) == 1


# -- under worker ---------------------------------------------------------------------


def test_under_worker_transient_errors_are_retried_and_counted_as_retries_metric() -> None:
    metrics = Metrics()
    logs = Logs()
    attempts: dict[str, int] = {}

    @worker(metrics=metrics)
    @retry(attempts=3, on=(ConnectionError,), sleep=lambda seconds: None, logger=logs)
    def handle(payload: dict[str, Any], message: Message) -> None:
        attempts[payload["order_id"]] = attempts.get(payload["order_id"], 0) + 1
        if payload["order_id"] == "o-2" and attempts["o-2"] < 3:
            raise ConnectionError("payments API reset the connection")
        if payload["order_id"] == "o-3":
            raise ConnectionError("payments API is down")

    event = sqs_event([sqs_record({"order_id": f"o-{n}"}, message_id=f"m-{n}") for n in range(1, 4)])
    response = handle(event, LambdaContext(timeout=30))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-3"}]}
    assert attempts == {"o-1": 1, "o-2": 3, "o-3": 3}
    assert metrics.added["Retries"] == 4
    assert {extra["message_id"] for _, extra in logs.records if "attempt" in extra} == {"m-2", "m-3"}


def test_under_worker_no_attempt_starts_after_the_invocation_deadline() -> None:
    # 60 s left and a 1 s margin: records may start for 59 s. The waits double from 1 s
    # (no jitter); 1, 2, ... 32 each end before the deadline, the next (64 s) would not, so
    # retry gives up then instead of sleeping into the margin. The sleep is injected: nothing waits.
    flaky = Flaky(100)
    seen: list[Invocation | None] = []
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        invocation = seen[0]
        assert invocation is not None and time.monotonic() + seconds < invocation.deadline
        waits.append(seconds)

    def function(payload: Any) -> None:
        seen.append(current_invocation())
        flaky(payload)

    layer = retry(
        attempts=20, initial=1.0, maximum=100.0, jitter=False, on=(ConnectionError,), sleep=sleep, logger=Logs()
    )
    handle = worker(timeout_margin=1.0)(layer(function))
    result = handle.run(sqs_event([{"order_id": "o-1"}]), LambdaContext(timeout=900, remaining_ms=60_000))

    invocation = seen[0]
    assert invocation is not None
    assert waits == [1, 2, 4, 8, 16, 32]
    assert flaky.calls == 7
    assert all(moment < invocation.deadline for moment in flaky.started)
    [failure] = result.failures
    assert failure.error is flaky.raised[-1]


def test_under_worker_with_no_time_left_the_first_failure_is_final() -> None:
    # The first wait (60 s, no jitter) alone would end past the deadline (29.5 s away).
    waits, sleep = planned()
    flaky = Flaky(100)
    layer = retry(
        attempts=5, initial=60.0, maximum=60.0, jitter=False, on=(ConnectionError,), sleep=sleep, logger=Logs()
    )
    handle = worker(timeout_margin=0.5)(layer(flaky))
    result = handle.run(sqs_event([{"order_id": "o-1"}]), LambdaContext(timeout=900, remaining_ms=30_000))
    assert flaky.calls == 1 and waits == []
    assert result.failures[0].error is flaky.raised[0]


def test_under_worker_async_functions_also_respect_the_deadline() -> None:
    starts: list[float] = []
    deadlines: list[float] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        assert time.monotonic() + seconds < deadlines[0]
        waits.append(seconds)

    @worker(timeout_margin=1.0)
    @retry(attempts=20, initial=1.0, maximum=100.0, jitter=False, on=(ConnectionError,), sleep=sleep, logger=Logs())
    async def handle(payload: Any) -> None:
        invocation = current_invocation()
        assert invocation is not None
        deadlines.append(invocation.deadline)
        starts.append(time.monotonic())
        raise ConnectionError(f"attempt {len(starts)}")

    result = handle.run(sqs_event([{"order_id": "o-1"}]), LambdaContext(timeout=900, remaining_ms=60_000))
    assert waits == [1, 2, 4, 8, 16, 32]
    assert len(starts) == 7
    assert all(moment < deadlines[0] for moment in starts)
    assert str(result.failures[0].error) == f"attempt {len(starts)}"
