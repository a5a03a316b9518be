"""@circuit_breaker: the state machine with a fake clock, the store contract (in memory
and DynamoDB on moto), sharing between containers, DynamoDB requests per record, and the
batch behaviour under @worker."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from breaker_helpers import REGION, START, TABLE, FakeClock, Logs, Metrics, RequestCounter, create_table
from dynamodb_servers import dynalite, dynalite_installed
from moto import mock_aws

from msgworker import Message, PermanentError, retry, worker
from msgworker._layers import find_layers
from msgworker.breaker import (
    BreakerStore,
    CircuitBreaker,
    CircuitState,
    DynamoDBStore,
    InMemoryStore,
    Snapshot,
    circuit_breaker,
)
from msgworker.errors import CircuitOpenError, ConfigurationError, NotStartedError
from msgworker.testing import LambdaContext, sqs_event, sqs_record


class Dependency:
    """A downstream service that is up or down; counts the calls that reach it."""

    def __init__(self) -> None:
        self.healthy = True
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, payload: Any) -> str:
        with self._lock:
            self.calls += 1
        if not self.healthy:
            raise ConnectionError("payments API unreachable")
        return "charged"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logs() -> Logs:
    return Logs()


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs inside in-process moto with fake credentials: whatever AWS call the
    worker makes about failed records (visibility of rejected SQS messages) stays local."""
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("MSGWORKER_BREAKER_TABLE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def aws() -> Any:
    """The breaker table in in-process moto; yields a DynamoDB client."""
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    return client


def breaker(clock: FakeClock, logs: Logs, store: BreakerStore | None = None, **options: Any) -> CircuitBreaker:
    settings: dict[str, Any] = {"failure_threshold": 3, "recovery_timeout": 10, "cache_seconds": 1.0, **options}
    return circuit_breaker("payments", store=store or InMemoryStore(), clock=clock, logger=logs, **settings)


def outcome(function: Any, payload: Any = None) -> str:
    try:
        return str(function(payload if payload is not None else {"order_id": "o-1"}))
    except Exception as error:
        return type(error).__name__


def batch(count: int, prefix: str = "m") -> dict[str, Any]:
    return sqs_event([sqs_record({"order_id": f"o-{n}"}, message_id=f"{prefix}-{n}") for n in range(count)])


# -- the state machine ------------------------------------------------------------------


def test_failures_open_the_circuit_and_then_calls_are_rejected_without_running(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False
    guarded = breaker(clock, logs)(dependency)

    assert [outcome(guarded) for _ in range(3)] == ["ConnectionError"] * 3
    with pytest.raises(CircuitOpenError) as rejected:
        guarded({"order_id": "o-4"})
    assert dependency.calls == 3
    assert rejected.value.name == "payments"
    assert rejected.value.reopens_at == START + 10
    assert rejected.value.pause_source is False
    assert isinstance(rejected.value, NotStartedError) and rejected.value.reason == "circuit_open"
    assert "payments" in str(rejected.value) and "not called" in str(rejected.value)
    assert logs.messages("circuit opened") == ["circuit opened: too many failures"]


def test_after_the_recovery_timeout_a_successful_probe_closes_it(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False
    store = InMemoryStore()
    guarded = breaker(clock, logs, store)(dependency)
    for _ in range(3):
        outcome(guarded)

    clock.advance(9.9)
    assert outcome(guarded) == "CircuitOpenError"
    clock.advance(0.1)
    dependency.healthy = True
    assert outcome(guarded) == "charged"
    assert store.read("payments").state is CircuitState.CLOSED
    assert [outcome(guarded) for _ in range(5)] == ["charged"] * 5
    assert logs.messages("circuit half-open") and logs.messages("circuit closed")


def test_a_failed_probe_reopens_it_from_now(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False
    guarded = breaker(clock, logs)(dependency)
    for _ in range(3):
        outcome(guarded)

    clock.advance(10)
    assert outcome(guarded) == "ConnectionError"  # the probe
    with pytest.raises(CircuitOpenError) as rejected:
        guarded({})
    assert rejected.value.reopens_at == START + 20
    assert dependency.calls == 4
    assert logs.messages("circuit re-opened") == ["circuit re-opened: a probe failed"]


def test_failures_count_only_within_the_window(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False
    guarded = breaker(clock, logs, failure_window=5)(dependency)
    outcome(guarded), outcome(guarded)
    clock.advance(5)  # the window of the first two is over
    outcome(guarded), outcome(guarded)
    assert outcome(guarded) == "ConnectionError"  # the third of the new window trips it
    assert outcome(guarded) == "CircuitOpenError"
    assert dependency.calls == 5


def test_ignored_and_unlisted_errors_do_not_count(clock: FakeClock, logs: Logs) -> None:
    def bad_data(payload: Any) -> None:
        raise PermanentError("customer does not exist")

    def bug(payload: Any) -> None:
        raise KeyError("total")

    guarded_bad = breaker(clock, logs)(bad_data)
    guarded_bug = circuit_breaker(
        "other", store=InMemoryStore(), clock=clock, logger=logs, failure_threshold=2, on=(ConnectionError,)
    )(bug)
    assert {outcome(guarded_bad) for _ in range(10)} == {"PermanentError"}
    assert {outcome(guarded_bug) for _ in range(10)} == {"KeyError"}


def test_at_most_half_open_probes_run_at_once_and_the_first_success_closes(clock: FakeClock, logs: Logs) -> None:
    store = InMemoryStore()
    containers = [breaker(clock, Logs(), store, half_open_probes=2) for _ in range(3)]
    dependency = Dependency()
    dependency.healthy = False
    for _ in range(3):
        outcome(containers[0](dependency))
    clock.advance(10)

    release = threading.Event()
    running = threading.Semaphore(0)

    def slow_probe(payload: Any) -> str:
        running.release()
        assert release.wait(10)
        return "charged"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda c=container: results.append(outcome(c(slow_probe)))) for container in containers
    ]
    for thread in threads[:2]:
        thread.start()
    assert running.acquire(timeout=10) and running.acquire(timeout=10)  # two probes are inside
    threads[2].start()
    threads[2].join(10)
    assert results == ["CircuitOpenError"]  # the third container found no free slot
    release.set()
    for thread in threads[:2]:
        thread.join(10)
    assert sorted(results) == ["CircuitOpenError", "charged", "charged"]
    assert store.read("payments").state is CircuitState.CLOSED
    closes = [record for container in containers for record in container.logger.messages("circuit closed")]  # type: ignore[attr-defined]
    assert len(closes) == 1


def test_a_probe_that_never_reports_back_is_replaced_after_the_recovery_timeout(clock: FakeClock, logs: Logs) -> None:
    store = InMemoryStore()
    # A container took the only probe slot and died before reporting.
    store.replace(
        "payments",
        Snapshot(CircuitState.HALF_OPEN, version=2, opened_at=START - 10, half_opened_at=START, probes=1),
        expected_version=0,
    )
    dependency = Dependency()
    guarded = breaker(clock, logs, store)(dependency)
    with pytest.raises(CircuitOpenError) as rejected:
        guarded({})
    assert rejected.value.reopens_at == START + 10
    clock.advance(10)
    assert outcome(guarded) == "charged"
    assert store.read("payments").state is CircuitState.CLOSED


def test_a_probe_that_did_not_really_run_gives_its_slot_back(clock: FakeClock, logs: Logs) -> None:
    store = InMemoryStore()
    guarded_failing = breaker(clock, logs, store)(Dependency())
    for _ in range(3):
        store.add_failures("payments", 1, now=clock(), window=10)
    store.replace("payments", Snapshot(CircuitState.OPEN, version=1, opened_at=clock()), expected_version=0)
    clock.advance(10)

    def held_elsewhere(payload: Any) -> None:
        raise NotStartedError("an inner layer decided not to run it", reason="test")

    assert outcome(breaker(clock, Logs(), store)(held_elsewhere)) == "NotStartedError"
    assert store.read("payments").probes == 0
    assert outcome(guarded_failing) == "charged"  # the slot was free again
    assert store.read("payments").state is CircuitState.CLOSED


def test_an_inner_breakers_rejection_does_not_count_against_the_outer_one(clock: FakeClock, logs: Logs) -> None:
    inner_store = InMemoryStore()
    inner_store.replace("inner", Snapshot(CircuitState.OPEN, version=1, opened_at=clock()), expected_version=0)
    inner = circuit_breaker("inner", store=inner_store, clock=clock, logger=logs, recovery_timeout=100)
    outer = circuit_breaker("outer", store=InMemoryStore(), clock=clock, logger=logs, failure_threshold=1)
    guarded = outer(inner(Dependency()))
    assert {outcome(guarded) for _ in range(5)} == {"CircuitOpenError"}
    assert outer.snapshot().state is CircuitState.CLOSED


def test_pause_source_is_carried_on_the_error(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False
    guarded = breaker(clock, logs, pause_source=True, failure_threshold=1)(dependency)
    outcome(guarded)
    with pytest.raises(CircuitOpenError) as rejected:
        guarded({})
    assert rejected.value.pause_source is True


def test_a_plain_function_keeps_its_shape(clock: FakeClock, logs: Logs) -> None:
    seen: list[Message | None] = []

    def handle(payload: Any, message: Message | None = None) -> str:
        seen.append(message)
        return "ok"

    layer = breaker(clock, logs)
    guarded = layer(handle)
    message = Message.of(id="m-1")
    assert guarded({}) == "ok" and guarded({}, message) == "ok"
    assert seen == [None, message]
    assert guarded.__wrapped__ is handle  # type: ignore[attr-defined]
    assert find_layers(guarded) == [layer]


def test_async_functions_trip_and_are_rejected_too(clock: FakeClock, logs: Logs) -> None:
    calls: list[int] = []

    @breaker(clock, logs, failure_threshold=2)
    async def fetch(payload: Any) -> None:
        calls.append(1)
        await asyncio.sleep(0)
        raise TimeoutError("slow")

    async def run() -> list[str]:
        results = []
        for _ in range(4):
            try:
                await fetch({})
            except Exception as error:
                results.append(type(error).__name__)
        return results

    assert asyncio.run(run()) == ["TimeoutError", "TimeoutError", "CircuitOpenError", "CircuitOpenError"]
    assert len(calls) == 2


# -- options and configuration ---------------------------------------------------------------


def test_options_are_checked_when_decorating() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        circuit_breaker("payments", failure_threshold=0)
    with pytest.raises(ValueError, match="recovery_timeout"):
        circuit_breaker("payments", recovery_timeout=0)
    with pytest.raises(ValueError, match="half_open_probes"):
        circuit_breaker("payments", half_open_probes=0)
    with pytest.raises(ValueError, match="cache_seconds"):
        circuit_breaker("payments", cache_seconds=-1)
    with pytest.raises(ConfigurationError, match="exception classes"):
        circuit_breaker("payments", on="ConnectionError")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        circuit_breaker("")


def test_without_table_or_variable_the_first_call_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MSGWORKER_BREAKER_TABLE", raising=False)
    guarded = circuit_breaker("payments")(Dependency())  # decorating needs no table
    with pytest.raises(ConfigurationError, match="MSGWORKER_BREAKER_TABLE"):
        guarded({})


def test_under_worker_a_missing_table_fails_every_record_without_running_any(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MSGWORKER_BREAKER_TABLE", raising=False)
    dependency = Dependency()
    handle = worker(circuit_breaker("payments")(dependency))
    result = handle.run(batch(3))
    assert dependency.calls == 0
    assert [type(failure.error) for failure in result.failures] == [ConfigurationError] * 3


def test_a_table_that_does_not_exist_is_named(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSGWORKER_BREAKER_TABLE", "no-such-table")
    with pytest.raises(ConfigurationError, match="'no-such-table' does not exist"):
        circuit_breaker("payments")(Dependency())({})
    # table= wins over the variable.
    assert circuit_breaker("payments", table=TABLE)(Dependency())({}) == "charged"


def test_a_table_with_the_wrong_key_is_explained(aws: Any) -> None:
    aws.create_table(
        TableName="wrong-key",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(ConfigurationError, match="partition key named 'id'"):
        circuit_breaker("payments", table="wrong-key")(Dependency())({})


class UnreachableStore:
    """A store whose every request fails, like a throttled or unreachable table."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("could not connect to the endpoint URL")

        return fail


def test_an_unreachable_store_fails_open_and_the_container_trips_on_its_own(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    guarded = breaker(clock, logs, UnreachableStore())(dependency)  # type: ignore[arg-type]
    assert outcome(guarded) == "charged"  # the breaker's own store is not worth failing records for
    dependency.healthy = False
    assert [outcome(guarded) for _ in range(4)] == ["ConnectionError"] * 3 + ["CircuitOpenError"]
    warnings = logs.messages("circuit breaker store unavailable")
    assert len(warnings) == 1  # once, not per request
    clock.advance(10)
    dependency.healthy = True
    assert outcome(guarded) == "charged"  # a local probe closes it again


# -- the store contract, in memory and on DynamoDB (moto) -------------------------------------


@pytest.fixture(scope="module")
def dynalite_server() -> Iterator[Any]:
    """dynalite on loopback (installed by ``make dynalite``), for the compatibility bonus."""
    if not dynalite_installed():
        pytest.skip("dynalite is not installed: make dynalite")
    with dynalite() as backend:
        yield backend


def store_factory(request: pytest.FixtureRequest, backend: str) -> Callable[[], DynamoDBStore]:
    """Makes DynamoDB stores on one fresh breaker table (each as a separate container would)."""
    if backend == "moto":
        request.getfixturevalue("aws")
        return lambda: DynamoDBStore(TABLE)
    server = request.getfixturevalue("dynalite_server")
    table = server.create_table(f"breaker-{uuid.uuid4().hex[:12]}", ttl=False)
    return lambda: DynamoDBStore(table, client=server.client())


@pytest.fixture(params=["moto", "dynalite"])
def stores(request: pytest.FixtureRequest) -> Callable[[], DynamoDBStore]:
    return store_factory(request, request.param)


@pytest.fixture(params=["memory", "moto", "dynalite"])
def store(request: pytest.FixtureRequest) -> BreakerStore:
    if request.param == "memory":
        return InMemoryStore()
    return store_factory(request, request.param)()


def test_store_counts_failures_per_window(store: BreakerStore) -> None:
    assert store.read("payments") == Snapshot()
    assert store.add_failures("payments", 2, now=100.0, window=10.0).failures == 2
    assert store.add_failures("payments", 1, now=105.0, window=10.0).failures == 3
    after = store.add_failures("payments", 4, now=110.0, window=10.0)  # the window began at 100
    assert (after.failures, after.window_start) == (4, 110.0)
    assert store.read("payments").failures == 4


def test_store_state_changes_are_compare_and_set(store: BreakerStore) -> None:
    store.add_failures("payments", 5, now=100.0, window=10.0)
    opened = Snapshot(CircuitState.OPEN, version=1, opened_at=100.5)
    assert store.replace("payments", opened, expected_version=0)
    assert not store.replace("payments", Snapshot(CircuitState.OPEN, version=1, opened_at=101.0), expected_version=0)
    assert store.read("payments") == opened


def test_store_probe_slots_are_limited_per_round(store: BreakerStore) -> None:
    half_open = Snapshot(CircuitState.HALF_OPEN, version=2, opened_at=90.0, half_opened_at=100.0, probes=1)
    assert store.replace("payments", half_open, expected_version=0)
    assert store.claim_probe("payments", version=2, limit=3)
    assert store.claim_probe("payments", version=2, limit=3)
    assert not store.claim_probe("payments", version=2, limit=3)
    assert not store.claim_probe("payments", version=1, limit=9)  # an earlier round
    store.release_probe("payments", version=2)
    assert store.read("payments").probes == 2
    store.release_probe("payments", version=1)  # an earlier round's slot: nothing to give back
    assert store.read("payments").probes == 2


# -- containers sharing one DynamoDB table ------------------------------------------------------


def test_two_containers_share_one_breaker_through_dynamodb(
    stores: Callable[[], DynamoDBStore], clock: FakeClock
) -> None:
    logs_a, logs_b = Logs(), Logs()
    container_a = breaker(clock, logs_a, stores(), failure_threshold=4)
    container_b = breaker(clock, logs_b, stores(), failure_threshold=4)
    dependency = Dependency()
    dependency.healthy = False
    in_a, in_b = container_a(dependency), container_b(dependency)

    # Failures add up across containers: 2 + 2 reach the threshold of 4.
    assert [outcome(in_a), outcome(in_a), outcome(in_b), outcome(in_b)] == ["ConnectionError"] * 4
    assert logs_b.messages("circuit opened") and not logs_a.messages("circuit opened")
    assert outcome(in_b) == "CircuitOpenError"
    clock.advance(1)  # container A's cached "closed" is now stale: it reads the shared state
    calls = dependency.calls
    assert outcome(in_a) == "CircuitOpenError" and dependency.calls == calls

    clock.advance(9)
    dependency.healthy = True
    assert outcome(in_a) == "charged"  # A's probe closes it for both
    clock.advance(1)
    assert outcome(in_b) == "charged"
    assert stores().read("payments").state is CircuitState.CLOSED


def test_no_dynamodb_request_per_record_while_closed_and_healthy(aws: Any, clock: FakeClock, logs: Logs) -> None:
    layer = breaker(clock, logs, DynamoDBStore(TABLE), cache_seconds=2.0)
    handle = worker(layer(Dependency()))
    counter = RequestCounter(layer.store.client)  # type: ignore[attr-defined]

    for _ in range(50):  # 500 records over 5 seconds of the fake clock
        assert handle(batch(10), LambdaContext(timeout=30)) == {"batchItemFailures": []}
        clock.advance(0.1)
    # One read per cache_seconds, whatever the number of records; nothing written.
    assert set(counter.operations) == {"GetItem"}
    assert counter.total <= 3


def test_failures_of_a_batch_are_added_in_one_request_at_its_end(aws: Any, clock: FakeClock, logs: Logs) -> None:
    layer = breaker(clock, logs, DynamoDBStore(TABLE), failure_threshold=5)

    def half_fail(payload: dict[str, Any]) -> None:
        if payload["order_id"] in {"o-1", "o-3"}:
            raise ConnectionError("reset by peer")

    handle = worker(layer(half_fail))
    handle(batch(1), LambdaContext(timeout=30))  # warm: the first read
    counter = RequestCounter(layer.store.client)  # type: ignore[attr-defined]
    response = handle(batch(6), LambdaContext(timeout=30))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}
    assert dict(counter.operations) == {"UpdateItem": 1}
    assert DynamoDBStore(TABLE, client=aws).read("payments").failures == 2


def test_no_dynamodb_request_per_record_while_open(aws: Any, clock: FakeClock, logs: Logs) -> None:
    layer = breaker(clock, logs, DynamoDBStore(TABLE), failure_threshold=2, recovery_timeout=30)
    dependency = Dependency()
    dependency.healthy = False
    handle = worker(layer(dependency))
    handle(batch(5), LambdaContext(timeout=30))  # trips it
    counter = RequestCounter(layer.store.client)  # type: ignore[attr-defined]
    for _ in range(20):
        clock.advance(1)
        handle(batch(10), LambdaContext(timeout=30))
    assert counter.total == 0
    assert dependency.calls == 2


# -- under worker ---------------------------------------------------------------------------------


def test_under_worker_the_batch_stops_early_once_the_circuit_opens(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False
    metrics = Metrics()
    handle = worker(metrics=metrics)(breaker(clock, logs)(dependency))

    result = handle.run(batch(10))
    assert dependency.calls == 3
    errors = [failure.error for failure in result.failures]
    assert [type(error) for error in errors] == [ConnectionError] * 3 + [CircuitOpenError] * 7
    assert [failure.started for failure in result.failures] == [True] * 3 + [False] * 7


def test_under_worker_transitions_and_rejections_become_metrics(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False
    metrics = Metrics()
    handle = worker(metrics=metrics)(breaker(clock, logs)(dependency))
    handle(batch(10), LambdaContext(timeout=30))
    assert (metrics.added["CircuitOpened"], metrics.added["CircuitRejected"]) == (1, 7)
    handle(batch(10, prefix="n"), LambdaContext(timeout=30))
    assert (metrics.added["CircuitOpened"], metrics.added["CircuitRejected"]) == (1, 17)
    assert dependency.calls == 3


def test_under_worker_an_open_circuit_rejects_the_whole_batch_before_anything_runs(
    clock: FakeClock, logs: Logs
) -> None:
    store = InMemoryStore()
    store.replace("payments", Snapshot(CircuitState.OPEN, version=1, opened_at=START), expected_version=0)
    dependency = Dependency()
    handle = worker(breaker(clock, logs, store)(dependency))
    result = handle.run(batch(4))
    assert dependency.calls == 0
    assert {type(failure.error) for failure in result.failures} == {CircuitOpenError}
    assert {failure.error.reopens_at for failure in result.failures} == {START + 10}  # type: ignore[attr-defined]
    assert len(result.failures) == 4


def test_under_worker_recovery_probes_with_the_first_record_then_runs_the_rest(clock: FakeClock, logs: Logs) -> None:
    store = InMemoryStore()
    store.replace("payments", Snapshot(CircuitState.OPEN, version=1, opened_at=START - 10), expected_version=0)
    dependency = Dependency()
    metrics = Metrics()
    handle = worker(metrics=metrics)(breaker(clock, logs, store)(dependency))
    assert handle(batch(5), LambdaContext(timeout=30)) == {"batchItemFailures": []}
    assert dependency.calls == 5
    assert metrics.added["CircuitHalfOpened"] == 1 and metrics.added["CircuitClosed"] == 1


def test_under_worker_with_threads_it_trips_once_and_rejects_the_rest(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False
    metrics = Metrics()
    handle = worker(concurrency=4, metrics=metrics)(breaker(clock, logs)(dependency))
    result = handle.run(batch(40))
    assert 3 <= dependency.calls < 40
    kinds = [type(failure.error) for failure in result.failures]
    assert len(kinds) == 40 and kinds.count(ConnectionError) == dependency.calls
    assert len(logs.messages("circuit opened")) == 1


def test_under_worker_async_functions(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False

    @worker
    @breaker(clock, logs)
    async def handle(payload: Any) -> None:
        await asyncio.sleep(0)
        dependency(payload)

    result = handle.run(batch(6))
    assert dependency.calls == 3
    assert [type(failure.error) for failure in result.failures] == [ConnectionError] * 3 + [CircuitOpenError] * 3


def test_under_worker_with_retry_inside_only_exhausted_retries_count(clock: FakeClock, logs: Logs) -> None:
    dependency = Dependency()
    dependency.healthy = False
    retry_logs = Logs()
    handle = worker(
        breaker(clock, logs, failure_threshold=2)(
            retry(attempts=3, on=(ConnectionError,), sleep=lambda seconds: None, logger=retry_logs)(dependency)
        )
    )
    result = handle.run(batch(4))
    assert dependency.calls == 6  # two records, three attempts each; then the circuit is open
    assert [type(failure.error) for failure in result.failures] == [ConnectionError] * 2 + [CircuitOpenError] * 2
