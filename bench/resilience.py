"""What ``@circuit_breaker`` and ``@retry`` cost while all is well, and how msgworker's
breaker compares with Powertools' circuit breaker utility on the goals of
docs/decisions/0009-circuit-breaker.md.

    .venv/bin/python bench/resilience.py            # both parts, about a minute
    .venv/bin/python bench/resilience.py --overhead # part 1 only

Part 1 (per-batch overhead, µs per 10-record SQS batch, warm container): the bare
``@worker(Order)`` against the same worker with ``@circuit_breaker`` + ``@retry`` (and each
alone), the breaker's table on a moto server on loopback. Systems are interleaved, 15
samples each, medians compared; the DynamoDB requests each makes per invocation are
counted with a botocore ``before-call`` hook over a separate run of many batches.

Part 2 (Powertools 3.37 ``utilities.circuit_breaker`` vs msgworker's, same moto server):
requests per record while closed, whether failures from several containers add up to a
trip, how many containers record a trip of one outage, probes per half-open round under
32 concurrent callers, ``async def`` support, and what ``worker`` sees when the circuit is
open. Containers are separate processes (Powertools keeps its counters per process).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Goal, Row, Table, time_calls
from systems import Order, expected_response, orders_event

from msgworker import Message, retry, worker
from msgworker._layers import Batch, mark_layer
from msgworker.breaker import circuit_breaker
from msgworker.errors import CircuitOpenError
from msgworker.testing import LambdaContext, local_aws

TABLE = "msgworker-breaker"
REPEATS = 15
SECONDS = 0.08  # per sample
COUNTED_SECONDS = 5.0
BARE = "bare @worker"
BOTH = "@worker + @circuit_breaker + @retry"
HOOKS = "@worker + empty layer with batch hooks"
WITHIN_1_1 = Goal("<= 1.10x bare worker", max_ratio=1.1)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@contextmanager
def moto_table() -> Iterator[Any]:
    """A moto server on loopback with the breaker table; the environment points boto3 at it."""
    with local_aws(apply=True) as aws:
        client = aws.client("dynamodb")
        # moto keeps its state per process, not per server: a second server sees the table.
        if TABLE not in client.list_tables()["TableNames"]:
            client.create_table(
                TableName=TABLE,
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield aws


# -- part 1: overhead while closed and healthy ----------------------------------------------


def record(order: Order, message: Message) -> None:
    """The record function of every system: the shape DESIGN.md's handler has. Layers
    always hand the Message on, so the bare worker gets the same function for a like-for-
    like comparison (``payload_only`` shows what the Message itself costs)."""


def payload_only(order: Order) -> None:
    pass


class EmptyLayer:
    """A layer that does nothing but has batch hooks: what worker itself spends on a
    batch with hooks (Invocation, Message per record, parsing every record for prepare)."""

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

        mark_layer(wrapper, self)
        return wrapper

    def prepare(self, batch: Batch) -> None:
        pass

    def finish(self, batch: Batch) -> None:
        pass


def powertools_decorator(name: str, **config: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Powertools' circuit breaker on the same table, as its documentation sets it up."""
    from aws_lambda_powertools.utilities.circuit_breaker import CircuitBreakerConfig
    from aws_lambda_powertools.utilities.circuit_breaker import circuit_breaker as powertools_breaker
    from aws_lambda_powertools.utilities.circuit_breaker.persistence import CircuitBreakerDynamoDBPersistence

    store = CircuitBreakerDynamoDBPersistence(table_name=TABLE)
    on_transition = config.pop("on_transition", None)
    decorator: Callable[[Callable[..., Any]], Callable[..., Any]] = powertools_breaker(
        name=name, persistence_store=store, config=CircuitBreakerConfig(**config), on_transition=on_transition
    )
    decorator.client = store.client  # type: ignore[attr-defined]
    return decorator


def handlers(name: str) -> dict[str, tuple[Callable[..., Any], Any]]:
    """The systems of part 1: each handler, with the DynamoDB client its breaker uses."""
    both, alone = circuit_breaker(name, table=TABLE), circuit_breaker(name, table=TABLE)
    powertools = powertools_decorator(f"{name}-powertools")
    return {
        BARE: (worker(Order)(record), None),
        "bare @worker, function without the Message": (worker(Order)(payload_only), None),
        BOTH: (worker(Order)(both(retry(attempts=3, on=(ConnectionError,))(record))), both.store),
        "@worker + @circuit_breaker": (worker(Order)(alone(record)), alone.store),
        "@worker + @retry": (worker(Order)(retry(attempts=3, on=(ConnectionError,))(record)), None),
        HOOKS: (worker(Order)(EmptyLayer()(record)), None),
        "@worker + Powertools @circuit_breaker": (worker(Order)(powertools(record)), powertools),
    }


def count_requests(handle: Callable[..., Any], client: Any, event: Any, context: Any) -> tuple[int, int]:
    """(DynamoDB requests, batches) over COUNTED_SECONDS of back-to-back batches."""
    counted: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: counted.update([model.name]))
    batches, ends = 0, time.monotonic() + COUNTED_SECONDS
    while time.monotonic() < ends:
        handle(event, context)
        batches += 1
    return sum(counted.values()), batches


def overhead() -> Table:
    event = orders_event()
    expected = expected_response(event, invalid=False)
    with moto_table() as aws:
        systems = handlers("bench-payments")
        context = LambdaContext(timeout=900)
        cases: dict[str, Callable[[], object]] = {}
        for system, (handle, _) in systems.items():
            response = handle(event, context)  # the warm-up: plans built, breaker state read once
            assert response == expected, (system, response)
            cases[system] = lambda handle=handle: handle(event, context)

        requests: dict[str, tuple[int, int]] = {}
        for system, (handle, client_owner) in systems.items():
            if client_owner is not None:
                progress(f"counting DynamoDB requests of {system} over {COUNTED_SECONDS:.0f} s ...")
                requests[system] = count_requests(handle, client_owner.client, event, context)

        client = aws.client("dynamodb")
        started = time.perf_counter()
        for _ in range(50):
            client.get_item(TableName=TABLE, Key={"id": {"S": "latency"}}, ConsistentRead=True)
        get_item_ms = (time.perf_counter() - started) / 50 * 1000

        progress(f"timing {len(cases)} systems, {REPEATS} interleaved samples each ...")
        samples = time_calls(cases, repeats=REPEATS, seconds=SECONDS)
        for system, (handle, _) in systems.items():
            assert handle(event, context) == expected, system

    table = Table(
        "1. Per-batch overhead while closed and healthy (10-record SQS batch, no-op function, warm container)",
        unit="µs",
        baseline=BARE,
        method=f"timeit, GC on, {REPEATS} interleaved samples of ~{SECONDS * 1000:.0f} ms; median and min",
    )
    for system in cases:
        table.rows.append(Row(system, samples[system], WITHIN_1_1 if system == BOTH else None))
    table.notes.append(
        f"DynamoDB requests ({COUNTED_SECONDS:.0f} s of back-to-back batches; table on a moto server on loopback):"
    )
    table.notes.append(
        f"  (one GetItem on this moto server takes {get_item_ms:.1f} ms: without the cache, 11 per batch)"
    )
    for system, (total, batches) in requests.items():
        per_invocation = total / batches
        per_record = per_invocation / len(event["Records"])
        goal = ""
        if system in (BOTH, "@worker + @circuit_breaker"):
            goal = "  [goal 0 per record: " + ("ok]" if per_record < 0.01 else "MISSED]")
        table.notes.append(
            f"  {system}: {total} in {batches} batches = {per_invocation:.4f} per invocation, "
            f"{per_record:.5f} per record{goal}"
        )
    return table


# -- part 2: msgworker's breaker against Powertools' --------------------------------------------

CONTAINERS = 4
THREADS = 8
THRESHOLD = 5
RECOVERY = 1  # seconds (Powertools takes whole seconds)
PROBES = 3


class TransitionCounter:
    """Counts the transitions a breaker reports (msgworker: its log; Powertools: on_transition)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    # msgworker's breaker logs its transitions
    def warning(self, msg: object, *args: object, extra: Any = None) -> None:
        if str(msg).startswith(("circuit opened", "circuit re-opened")):
            self.add("opened")

    def info(self, msg: object, *args: object, extra: Any = None) -> None:
        if str(msg).startswith("circuit closed"):
            self.add("closed")
        elif str(msg).startswith("circuit half-open"):
            self.add("half_open")

    # Powertools calls its on_transition hook
    def __call__(self, transition: Any) -> None:
        self.add({"OPEN": "opened", "CLOSED": "closed", "HALF_OPEN": "half_open"}[str(transition.to_state)])


def guard(system: str, name: str, counter: TransitionCounter) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if system == "msgworker":
        return circuit_breaker(
            name,
            table=TABLE,
            failure_threshold=THRESHOLD,
            recovery_timeout=RECOVERY,
            half_open_probes=PROBES,
            logger=counter,
        )
    return powertools_decorator(
        name, failure_threshold=THRESHOLD, recovery_timeout=RECOVERY, success_threshold=1, on_transition=counter
    )


def container(task: dict[str, Any]) -> dict[str, Any]:
    """One Lambda container (a process of its own): ``threads`` threads, each calling the
    guarded function ``calls`` times; what reached the dependency and what the breaker did."""
    os.environ.update(task["environment"])
    counter = TransitionCounter()
    reached: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def dependency(payload: Any) -> None:
        with lock:
            reached["calls"] += 1
        time.sleep(task["hold"])
        if not task["healthy"]:
            raise ConnectionError("payments API unreachable")

    guarded = guard(task["system"], task["name"], counter)(dependency)
    start = task["barrier"]

    def thread() -> None:
        for _ in range(task["calls"]):
            try:
                guarded({"order_id": "o-1"})
                result = "ok"
            except Exception as error:
                result = type(error).__name__
            with lock:
                outcomes[result] += 1

    threads = [threading.Thread(target=thread) for _ in range(task["threads"])]
    start.wait(60)
    for each in threads:
        each.start()
    for each in threads:
        each.join(120)
    return {"reached": reached["calls"], "outcomes": dict(outcomes), "transitions": dict(counter.counts)}


class Fleet:
    """CONTAINERS processes on one moto server, started together for each scenario."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.environment = environment
        context = multiprocessing.get_context("spawn")
        self.manager = context.Manager()
        self.pool = context.Pool(CONTAINERS)

    def run(self, system: str, name: str, *, threads: int, calls: int, healthy: bool, hold: float = 0.0) -> Any:
        barrier = self.manager.Barrier(CONTAINERS)
        task = {
            "environment": self.environment,
            "system": system,
            "name": name,
            "threads": threads,
            "calls": calls,
            "healthy": healthy,
            "hold": hold,
            "barrier": barrier,
        }
        results = self.pool.map(container, [task] * CONTAINERS)
        total: dict[str, Any] = {"reached": 0, "outcomes": Counter(), "transitions": Counter()}
        for result in results:
            total["reached"] += result["reached"]
            total["outcomes"].update(result["outcomes"])
            total["transitions"].update(result["transitions"])
        return total

    def close(self) -> None:
        self.pool.close()
        self.pool.join()
        self.manager.shutdown()


def stored_state(client: Any, name: str) -> str:
    item = client.get_item(TableName=TABLE, Key={"id": {"S": name}}, ConsistentRead=True).get("Item") or {}
    return str(item.get("state", {}).get("S", "closed (no item)")).lower()


def async_support(system: str, name: str) -> tuple[int, str]:
    """Ten awaited calls of a failing ``async def`` function: how many reached it, and the
    error of the last call."""
    counter = TransitionCounter()
    reached = []

    async def fetch(payload: Any) -> None:
        reached.append(1)
        raise TimeoutError("slow")

    guarded = guard(system, name, counter)(fetch)

    async def calls() -> str:
        last = ""
        for _ in range(10):
            try:
                await guarded({})
            except Exception as error:
                last = type(error).__name__
        return last

    last = asyncio.run(calls())
    return len(reached), last


def under_worker(system: str, name: str) -> tuple[int, int, bool, int]:
    """With the breaker open, one 10-record batch under @worker: calls of the function,
    records reported not started, whether the errors say when to come back, and the
    DynamoDB requests the batch made."""
    from msgworker.errors import NotStartedError

    counter = TransitionCounter()
    calls = []

    def failing(order: Order) -> None:
        calls.append(1)
        raise ConnectionError("down")

    decorator = guard(system, name, counter)
    handle = worker(Order)(decorator(failing))
    event = orders_event()
    context = LambdaContext(timeout=900)
    for _ in range(3):  # 30 failures: open, whoever counts them
        handle.run(event, context)
    client = decorator.store.client if system == "msgworker" else decorator.client  # type: ignore[attr-defined]
    counted: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: counted.update([model.name]))
    calls.clear()
    result = handle.run(event, context)
    not_started = sum(isinstance(failure.error, NotStartedError) for failure in result.failures)
    says_when = all(isinstance(failure.error, CircuitOpenError) for failure in result.failures)
    return len(calls), not_started, says_when, sum(counted.values())


def compare() -> str:
    lines = [
        "2. msgworker's circuit_breaker vs Powertools 3.37 utilities.circuit_breaker (same moto server)",
        f"  ({CONTAINERS} containers = {CONTAINERS} processes; failure_threshold={THRESHOLD}, "
        f"recovery_timeout={RECOVERY} s; msgworker half_open_probes={PROBES}, Powertools success_threshold=1)",
    ]
    rows: list[tuple[str, str, str]] = []
    with moto_table() as aws:
        client = aws.client("dynamodb")
        fleet = Fleet(aws.environment)
        try:
            for system in ("msgworker", "powertools"):
                progress(f"part 2: {system} ...")
                # Fleet-wide counting: each container sees 4 failures, 16 in all.
                name = f"{system}-spread"
                fleet.run(system, name, threads=1, calls=4, healthy=False)
                rows.append(
                    (
                        "failures spread over containers (4 x 4, threshold 5): state after",
                        system,
                        stored_state(client, name),
                    )
                )
                # One outage hitting every container at once: trips recorded.
                name = f"{system}-outage"
                outage = fleet.run(system, name, threads=THREADS, calls=3, healthy=False)
                rows.append(
                    (
                        f"one outage, {CONTAINERS}x{THREADS} threads x 3 calls: transitions to open recorded",
                        system,
                        str(outage["transitions"]["opened"]),
                    )
                )
                rows.append(("  ... calls that reached the failing dependency", system, str(outage["reached"])))
                # Recovery: every thread of every container calls at once; the dependency holds each
                # call 0.3 s so that probes overlap.
                time.sleep(RECOVERY + 1.1)
                probe = fleet.run(system, name, threads=THREADS, calls=1, healthy=True, hold=0.3)
                rows.append(
                    (
                        f"half-open round, {CONTAINERS * THREADS} concurrent callers: probes let through",
                        system,
                        str(probe["reached"]),
                    )
                )
                rows.append(("  ... state after the round", system, stored_state(client, name)))
                reached, last = async_support(system, f"{system}-async")
                rows.append(
                    ("async def failing 10 times: calls that reached it / last error", system, f"{reached} / {last}")
                )
                called, not_started, says_when, requests = under_worker(system, f"{system}-worker")
                rows.append(
                    (
                        "open, under @worker, 10-record batch: function calls / records reported not started",
                        system,
                        f"{called} / {not_started}",
                    )
                )
                rows.append(("  ... DynamoDB requests during that batch", system, str(requests)))
                rows.append(
                    (
                        "  ... errors carry reopens_at (SQS visibility, pause_source)",
                        system,
                        "yes" if says_when else "no",
                    )
                )
        finally:
            fleet.close()
    width = max(len(what) for what, _, _ in rows)
    column = max(12, *(len(value) for _, _, value in rows))
    lines.append(f"{'measure':<{width}}  {'msgworker':>{column}}  {'Powertools':>{column}}")
    lines.append("-" * (width + 2 * column + 4))
    by_measure: dict[str, dict[str, str]] = {}
    for what, system, value in rows:
        by_measure.setdefault(what, {})[system] = value
    for what, values in by_measure.items():
        mine, theirs = values.get("msgworker", ""), values.get("powertools", "")
        lines.append(f"{what:<{width}}  {mine:>{column}}  {theirs:>{column}}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overhead", action="store_true", help="part 1 only")
    parser.add_argument("--compare", action="store_true", help="part 2 only")
    options = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's request log
    if not options.compare:
        print(overhead().render(), flush=True)
    if not options.overhead:
        print()
        print(compare())


if __name__ == "__main__":
    main()
