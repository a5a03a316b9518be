"""@circuit_breaker under contention: 32 threads spread over 4 "containers" (breaker
instances, each with its own DynamoDB client and cache) on one table of a moto server.

Whatever the interleaving: one trip is recorded exactly once, and a half-open round lets
exactly ``half_open_probes`` calls through, across all containers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from breaker_helpers import TABLE, FakeClock, Logs, moto_server_table

from msgworker.breaker import CircuitBreaker, CircuitState, DynamoDBStore, circuit_breaker
from msgworker.errors import CircuitOpenError
from msgworker.testing import LocalAws

CONTAINERS = 4
THREADS = 32
PROBES = 3
RECOVERY = 10.0


@pytest.fixture(scope="module")
def server() -> Iterator[LocalAws]:
    with moto_server_table() as aws:
        yield aws


class Fleet:
    """Breaker instances sharing one name and table, as Lambda containers would."""

    def __init__(self, aws: LocalAws, name: str) -> None:
        self.clock = FakeClock()
        self.logs = [Logs() for _ in range(CONTAINERS)]
        self.breakers: list[CircuitBreaker] = [
            circuit_breaker(
                name,
                store=DynamoDBStore(TABLE, client=aws.client("dynamodb")),
                failure_threshold=5,
                recovery_timeout=RECOVERY,
                half_open_probes=PROBES,
                cache_seconds=1.0,
                clock=self.clock,
                logger=logs,
            )
            for logs in self.logs
        ]
        self.store = DynamoDBStore(TABLE, client=aws.client("dynamodb"))
        self.name = name

    def messages(self, start: str) -> list[str]:
        return [message for logs in self.logs for message in logs.messages(start)]

    def run_all(self, function: Callable[[Any], Any]) -> list[str]:
        """Call ``function`` through the breakers from THREADS threads released at once;
        the outcome of each call."""
        guarded = [breaker(function) for breaker in self.breakers]
        start = threading.Barrier(THREADS)
        outcomes: list[str] = []
        lock = threading.Lock()

        def call(index: int) -> None:
            start.wait()
            try:
                result = str(guarded[index % CONTAINERS]({"n": index}))
            except Exception as error:
                result = type(error).__name__
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=call, args=(index,)) for index in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(outcomes) == THREADS
        return outcomes


def failing(payload: Any) -> None:
    raise ConnectionError("payments API unreachable")


class Probes:
    """A dependency that holds every call inside it until all the calls that will ever
    get in have got in, so that probes overlap as much as they can."""

    def __init__(self, succeed: bool) -> None:
        self.succeed = succeed
        self.inside = 0
        self.lock = threading.Lock()
        self.release = threading.Event()

    def __call__(self, payload: Any) -> str:
        with self.lock:
            self.inside += 1
        assert self.release.wait(30)
        if not self.succeed:
            raise ConnectionError("still down")
        return "charged"


def run_round(fleet: Fleet, probes: Probes) -> list[str]:
    """All threads at once against a half-open breaker; the gate opens once every
    thread that is not inside the dependency has been rejected."""
    result: list[str] = []
    runner = threading.Thread(target=lambda: result.extend(fleet.run_all(probes)))
    runner.start()
    while runner.is_alive():
        runner.join(0.05)
        # Rejections return at once; only probes wait at the gate. Release them after a
        # while in which every thread has had ample time to try.
        if not probes.release.is_set() and probes.inside >= PROBES:
            runner.join(0.5)
            probes.release.set()
    if not probes.release.is_set():
        probes.release.set()
    return result


def test_one_trip_is_recorded_once_and_each_round_admits_exactly_the_allowed_probes(server: LocalAws) -> None:
    fleet = Fleet(server, "races-payments")

    # 32 failures at once from 4 containers: the breaker opens once.
    outcomes = fleet.run_all(failing)
    assert outcomes.count("ConnectionError") >= 5
    assert set(outcomes) <= {"ConnectionError", "CircuitOpenError"}
    assert len(fleet.messages("circuit opened")) == 1
    state = fleet.store.read(fleet.name)
    assert (state.state, state.version) == (CircuitState.OPEN, 1)

    # Recovery, first round: the probes fail, so it re-opens, once.
    fleet.clock.advance(RECOVERY)
    failing_probes = Probes(succeed=False)
    outcomes = run_round(fleet, failing_probes)
    assert failing_probes.inside == PROBES
    assert outcomes.count("ConnectionError") == PROBES
    assert outcomes.count("CircuitOpenError") == THREADS - PROBES
    assert len(fleet.messages("circuit half-open")) == 1
    assert len(fleet.messages("circuit re-opened")) == 1
    assert fleet.store.read(fleet.name).state is CircuitState.OPEN

    # Second round: the probes succeed, so it closes, once.
    fleet.clock.advance(RECOVERY)
    good_probes = Probes(succeed=True)
    outcomes = run_round(fleet, good_probes)
    assert good_probes.inside == PROBES
    assert outcomes.count("charged") == PROBES
    assert outcomes.count("CircuitOpenError") == THREADS - PROBES
    assert len(fleet.messages("circuit half-open")) == 2
    assert len(fleet.messages("circuit closed")) == 1
    assert fleet.store.read(fleet.name).state is CircuitState.CLOSED

    # Closed again: a fresh outage trips it once more, and once only.
    fleet.clock.advance(1.0)
    fleet.run_all(failing)
    assert len(fleet.messages("circuit opened")) == 2
    assert fleet.store.read(fleet.name).state is CircuitState.OPEN


@pytest.mark.parametrize("attempt", range(3))
def test_simultaneous_trips_race_on_a_fresh_breaker(server: LocalAws, attempt: int) -> None:
    fleet = Fleet(server, f"races-fresh-{attempt}")
    fleet.run_all(failing)
    assert len(fleet.messages("circuit opened")) == 1
    assert fleet.store.read(fleet.name).version == 1
    # Every container now rejects without calling.
    for breaker in fleet.breakers:
        fleet.clock.advance(0)
        with pytest.raises(CircuitOpenError):
            breaker(failing)({})
