"""``@idempotent`` under concurrency and crashes, on moto and dynalite: simultaneous
duplicate deliveries, leases that run out mid-run, a process killed between claim and
completion, and a property over batches with repeated keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Order
from dynamodb_servers import (  # noqa: F401  (fixtures: moto, a moto server and dynalite)
    DynamoDB,
    dynalite_backend_fixture,
    dynamodb_fixture,
    dynamodb_server_fixture,
    moto_server_backend_fixture,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgworker import Message, worker
from msgworker.errors import IdempotencyInProgressError, IdempotencyKeyReusedError
from msgworker.idempotency import idempotent
from msgworker.testing import LambdaContext, sqs_event, sqs_record

ROOT = Path(__file__).resolve().parent.parent


class Abort(BaseException):
    """Like the process dying mid-run: not an Exception, so the claim is not released."""


def deliver_at_once(deliveries: list[Callable[[], Any]]) -> list[Any]:
    """Run every delivery in its own thread, all released together; each result is the
    return value or the exception raised."""
    barrier = threading.Barrier(len(deliveries))
    results: list[Any] = [None] * len(deliveries)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = deliveries[index]()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(deliveries))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def wait_for_lease_end(dynamodb: DynamoDB, table: str, key: str) -> None:
    item = dynamodb.item(table, key)
    assert item is not None and item["status"]["S"] == "INPROGRESS"
    lease_end = int(item["in_progress_expiration"]["N"]) / 1000
    while time.time() <= lease_end + 0.05:
        time.sleep(0.05)


def test_sixteen_simultaneous_deliveries_of_one_key_run_it_once(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    ran: list[str] = []
    answers: list[Any] = []
    lock = threading.Lock()
    losers_answered = threading.Event()

    def charge(payload: dict[str, Any]) -> str:
        ran.append(payload["order_id"])
        losers_answered.wait(timeout=30)  # hold the claim until every other delivery has answered
        return "charged"

    containers = [idempotent(key="order_id", table=table, name="race")(charge) for _ in range(16)]
    payload = {"order_id": "o-1", "total": 5}

    def delivery(container: Callable[..., Any]) -> Callable[[], Any]:
        def deliver() -> Any:
            try:
                answer = container(dict(payload))
            except Exception as error:
                answer = error
            with lock:
                answers.append(answer)
                if sum(isinstance(answer, IdempotencyInProgressError) for answer in answers) == 15:
                    losers_answered.set()
            return answer

        return deliver

    results = deliver_at_once([delivery(container) for container in containers])
    assert ran == ["o-1"]
    assert Counter(type(result).__name__ for result in results) == {"IdempotencyInProgressError": 15, "str": 1}

    # Once completed, simultaneous duplicates all succeed without running it.
    results = deliver_at_once([delivery(container) for container in containers])
    assert ran == ["o-1"]
    assert results == [None] * 16


def test_simultaneous_batches_in_several_containers_run_each_key_once(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    effects = Counter[str]()
    lock = threading.Lock()

    def process(order: Order) -> None:
        with lock:
            effects[order.order_id] += 1

    containers = [
        worker(Order, concurrency=4)(idempotent(key="order_id", table=table, name="fleet")(process)) for _ in range(6)
    ]
    bodies = [json.dumps({"order_id": f"o-{n}", "total": n}) for n in range(8)]
    results = deliver_at_once([lambda c=c: c.run(sqs_event(bodies), LambdaContext()) for c in containers])

    assert all(count == 1 for count in effects.values())
    for result in results:
        assert all(isinstance(failure.error, IdempotencyInProgressError) for failure in result.failures)
    # SQS redelivers what failed; once the claims are completed every key is a duplicate.
    for result in results:
        retry = sqs_event([bodies[failure.index] for failure in result.failures])
        assert containers[0].run(retry, LambdaContext()).failures == []
    assert effects == {f"o-{n}": 1 for n in range(8)}


def test_a_lease_that_ends_mid_run_is_taken_over_by_exactly_one_later_delivery(
    dynamodb: DynamoDB, caplog: pytest.LogCaptureFixture
) -> None:
    table = dynamodb.create_table()
    runs: list[str] = []
    release_slow = threading.Event()
    payload = {"order_id": "o-1", "total": 5}

    @idempotent(key="order_id", table=table, name="lease", lease=0.5)
    def slow(order: dict[str, Any]) -> str:
        runs.append("slow")
        release_slow.wait(timeout=30)  # outlives its lease
        return "slow"

    def takeover(order: dict[str, Any]) -> str:
        runs.append("taker")
        return "taker"

    takers = [idempotent(key="order_id", table=table, name="lease")(takeover) for _ in range(8)]
    slow_result: list[Any] = []
    slow_thread = threading.Thread(target=lambda: slow_result.append(slow(dict(payload))))
    slow_thread.start()
    while dynamodb.item(table, "lease#o-1") is None:
        time.sleep(0.01)
    wait_for_lease_end(dynamodb, table, "lease#o-1")

    results = deliver_at_once([lambda taker=taker: taker(dict(payload)) for taker in takers])
    assert runs.count("taker") == 1
    assert results.count("taker") == 1
    # The others found the taker's claim in progress, or (if it had finished) completed.
    assert all(
        result is None or isinstance(result, IdempotencyInProgressError) for result in results if result != "taker"
    )

    release_slow.set()
    slow_thread.join(timeout=30)
    # The slow run's effect happened, so it reports done; its completion is refused
    # because the key is no longer its claim (logged, and counted under worker).
    assert slow_result == ["slow"]
    assert "completion not recorded" in caplog.text
    item = dynamodb.item(table, "lease#o-1")
    assert item is not None and item["status"]["S"] == "COMPLETED"


def test_an_abort_between_claim_and_completion_leaves_the_claim_until_its_lease_ends(dynamodb: DynamoDB) -> None:
    table = dynamodb.create_table()
    runs: list[str] = []
    payload = {"order_id": "o-1", "total": 5}

    # The lease must outlast the check right after the abort even on a loaded machine
    # (0.5 s did not, once); the test then waits it out, so this is its wall time.
    @idempotent(key="order_id", table=table, name="abort", lease=2.0)
    def aborting(order: dict[str, Any]) -> None:
        runs.append("aborted")
        raise Abort

    with pytest.raises(Abort):
        aborting(dict(payload))
    later = [
        idempotent(key="order_id", table=table, name="abort")(lambda order: runs.append("later")) for _ in range(8)
    ]
    with pytest.raises(IdempotencyInProgressError):
        later[0](dict(payload))

    wait_for_lease_end(dynamodb, table, "abort#o-1")
    results = deliver_at_once([lambda container=container: container(dict(payload)) for container in later])
    assert runs == ["aborted", "later"]
    assert all(result is None or isinstance(result, IdempotencyInProgressError) for result in results)
    item = dynamodb.item(table, "abort#o-1")
    assert item is not None and item["status"]["S"] == "COMPLETED"


CRASHING_CONSUMER = textwrap.dedent(
    """
    import sys, time
    from msgworker.idempotency import idempotent

    @idempotent(key="order_id", name="crash", lease=3.0)  # outlasts a slow start of the check below
    def charge(order):
        print("claimed", flush=True)
        time.sleep(60)  # killed here, between claim and completion

    charge({"order_id": "o-1", "total": 5})
    """
)


def test_a_process_killed_after_claiming_is_taken_over_once_after_the_lease(dynamodb_server: DynamoDB) -> None:
    table = dynamodb_server.create_table()
    environment = {**os.environ, **dynamodb_server.environment, "MSGWORKER_IDEMPOTENCY_TABLE": table}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), environment.get("PYTHONPATH", "")])
    consumer = subprocess.Popen(
        [sys.executable, "-c", CRASHING_CONSUMER], env=environment, stdout=subprocess.PIPE, text=True
    )
    try:
        assert consumer.stdout is not None
        assert consumer.stdout.readline().strip() == "claimed"
    finally:
        consumer.kill()
        consumer.wait(timeout=30)
        if consumer.stdout is not None:
            consumer.stdout.close()

    runs: list[str] = []
    containers = [
        idempotent(key="order_id", table=table, name="crash")(lambda order: runs.append("after crash"))
        for _ in range(8)
    ]
    payload = {"order_id": "o-1", "total": 5}
    with pytest.raises(IdempotencyInProgressError):
        containers[0](dict(payload))
    wait_for_lease_end(dynamodb_server, table, "crash#o-1")
    results = deliver_at_once([lambda container=container: container(dict(payload)) for container in containers])
    assert runs == ["after crash"]
    assert all(result is None or isinstance(result, IdempotencyInProgressError) for result in results)
    item = dynamodb_server.item(table, "crash#o-1")
    assert item is not None and item["status"]["S"] == "COMPLETED"


# -- a property over batches with repeated keys ------------------------------------------------------

deliveries = st.lists(
    st.tuples(st.sampled_from("abcd"), st.sampled_from((1, 2)), st.booleans()),  # key, payload variant, raises
    min_size=1,
    max_size=10,
)


@pytest.fixture
def property_table(dynamodb: DynamoDB) -> str:
    return dynamodb.create_table()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(deliveries, min_size=1, max_size=3), concurrency=st.sampled_from((1, 4)))
def test_each_keys_effect_happens_at_most_once_and_failures_are_reported_exactly(
    dynamodb: DynamoDB, property_table: str, batches: list[list[tuple[str, int, bool]]], concurrency: int
) -> None:
    table = property_table
    name = f"property-{uuid.uuid4().hex[:8]}"  # a fresh namespace per example
    effects: list[tuple[str, int]] = []
    raising: set[str] = set()
    lock = threading.Lock()

    @worker(concurrency=concurrency)
    @idempotent(key="key", table=table, name=name)
    def handler(payload: dict[str, Any], message: Message) -> None:
        if message.id in raising:
            raise ConnectionError("dependency down")
        with lock:
            effects.append((payload["key"], payload["variant"]))

    completed: dict[str, int] = {}  # key -> the payload variant whose effect happened
    redelivery = [(key, variant, False) for key, variant, _ in batches[-1]]
    for round_number, batch in enumerate([*batches, redelivery]):
        records = [
            sqs_record(json.dumps({"key": key, "variant": variant}), message_id=f"{round_number}-{index}")
            for index, (key, variant, _) in enumerate(batch)
        ]
        raising.clear()
        raising.update(record["messageId"] for record, (_, _, raises) in zip(records, batch, strict=True) if raises)
        before = len(effects)
        result = handler.run(sqs_event(records), LambdaContext())
        failed = {failure.index: failure.error for failure in result.failures}
        ran_now = dict(effects[before:])

        # At most once: no key's effect ever happens twice, even across batches.
        assert all(count == 1 for count in Counter(key for key, _ in effects).values())
        for index, (key, variant, raises) in enumerate(batch):
            error = failed.get(index)
            if error is None:  # reported done: its effect happened, now or before, with this payload
                assert ran_now.get(key, completed.get(key)) == variant
            elif isinstance(error, ConnectionError):
                assert raises
            elif isinstance(error, IdempotencyKeyReusedError):
                assert {completed.get(key), *(v for k, v, _ in batch if k == key)} - {variant, None}
            else:
                assert isinstance(error, IdempotencyInProgressError)
        if concurrency == 1:
            # A sequential batch is deterministic: exactly these records fail.
            assert sorted(failed) == expected_failures(batch, completed)
        completed.update(ran_now)

    # Nothing is left claimed: every claim was completed or given back.
    statuses = {
        item["id"]["S"]: item["status"]["S"] for item in dynamodb.items(table) if item["id"]["S"].startswith(name)
    }
    assert statuses == {f"{name}#{key}": "COMPLETED" for key in completed}


def expected_failures(batch: list[tuple[str, int, bool]], completed: dict[str, int]) -> list[int]:
    """The records a sequential batch must report failed, worked out independently."""
    failures: list[int] = []
    first: dict[str, tuple[int, bool]] = {}  # key -> (variant, completed) of its first record in this batch
    for index, (key, variant, raises) in enumerate(batch):
        if key in completed:
            if completed[key] != variant:
                failures.append(index)  # key reused; otherwise a duplicate
            continue
        if key in first:
            first_variant, first_completed = first[key]
            if first_variant != variant or not first_completed:
                failures.append(index)  # key reused, or its first record failed in this batch
            continue
        first[key] = (variant, not raises)
        if raises:
            failures.append(index)
    return failures
