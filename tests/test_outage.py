"""The outage scenario: a dependency down for far longer than maxReceiveCount x the queue's
visibility timeout, on a real queue with a real RedrivePolicy (moto's server), consumed
through an emulated event source mapping (tests/esm_emulator.py).

(a) A plain worker: every receive fails, so healthy messages reach the DLQ.
(b) @circuit_breaker + redelivery backoff: no healthy message in the DLQ; all processed
    exactly once after the dependency recovers.
(c) The same with pause_source=True: the mapping is paused while the circuit is open and
    resumed by an (emulated) EventBridge Scheduler schedule; no message in the DLQ.

Each scenario prints its DLQ count (visible in the pytest output) for the closing note.
Budget check for (b) and (c): maxReceiveCount 3, so a message may be received twice
while the dependency is down; with RedeliveryBackoff(base=3) the first two failed receives
keep it away for at least 3 + 6 = 9 s > the 8 s outage.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from esm_emulator import EventSourceMappingEmulator, QueuePair, create_queue_pair, local_endpoint, messages_in

from msgworker import worker
from msgworker.breaker import circuit_breaker
from msgworker.failure_actions import SCHEDULER_ROLE_ENV, RedeliveryBackoff
from msgworker.testing import LocalAws

MESSAGES = 20
OUTAGE_SECONDS = 8.0
VISIBILITY_TIMEOUT = 1
MAX_RECEIVE_COUNT = 3
SCENARIO_TIMEOUT = 30.0


BREAKER_TABLE = "breaker-outage"


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    environment = {
        "MSGWORKER_BREAKER_TABLE": BREAKER_TABLE,
        SCHEDULER_ROLE_ENV: "arn:aws:iam::123456789012:role/msgworker-resume",
    }
    with local_endpoint(**environment) as local:
        local.client("dynamodb").create_table(
            TableName=BREAKER_TABLE,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield local


class Dependency:
    """A downstream API that is down until ``down_for`` seconds after ``start()``."""

    def __init__(self, down_for: float) -> None:
        self.down_for = down_for
        self.up_at = float("inf")
        self.calls = 0
        self.processed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def start(self) -> None:
        self.up_at = time.monotonic() + self.down_for

    def charge(self, order: dict[str, Any]) -> None:
        with self._lock:
            self.calls += 1
            if time.monotonic() < self.up_at:
                raise ConnectionError("payments API unreachable")
            self.processed[order["order_id"]] += 1


def send_orders(aws: LocalAws, queue: QueuePair) -> list[str]:
    sqs = aws.client("sqs")
    ids = [f"o-{number:02d}" for number in range(MESSAGES)]
    for start in range(0, MESSAGES, 10):
        entries = [{"Id": order, "MessageBody": f'{{"order_id": "{order}"}}'} for order in ids[start : start + 10]]
        sqs.send_message_batch(QueueUrl=queue.url, Entries=entries)
    return ids


def run_outage(aws: LocalAws, handler: Any, dependency: Dependency, queue: QueuePair) -> EventSourceMappingEmulator:
    """Send the orders, start the outage, and poll until every order is processed or in the DLQ."""
    ids = send_orders(aws, queue)
    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=f"fn-{uuid.uuid4().hex[:8]}")
    dependency.start()

    def settled() -> bool:
        outage_over = time.monotonic() >= dependency.up_at
        return outage_over and len(dependency.processed) + messages_in(aws, queue.dead_letter_url) == len(ids)

    emulator.run(settled, timeout=SCENARIO_TIMEOUT)
    return emulator


def report(capsys: pytest.CaptureFixture[str], scenario: str, aws: LocalAws, queue: QueuePair, **numbers: Any) -> int:
    dead_lettered = messages_in(aws, queue.dead_letter_url)
    details = ", ".join(f"{name}={value}" for name, value in numbers.items())
    with capsys.disabled():
        print(
            f"\n[outage {scenario}] {MESSAGES} messages, dependency down {OUTAGE_SECONDS:.0f} s, "
            f"visibility {VISIBILITY_TIMEOUT} s, maxReceiveCount {MAX_RECEIVE_COUNT}: DLQ={dead_lettered}; {details}"
        )
    return dead_lettered


def new_queue(aws: LocalAws, scenario: str) -> QueuePair:
    return create_queue_pair(
        aws,
        f"outage-{scenario}-{uuid.uuid4().hex[:6]}",
        visibility_timeout=VISIBILITY_TIMEOUT,
        max_receive_count=MAX_RECEIVE_COUNT,
    )


def test_a_plain_worker_sends_healthy_messages_to_the_dlq(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    queue = new_queue(aws, "a")
    dependency = Dependency(OUTAGE_SECONDS)

    @worker(metrics=False)
    def handler(order: dict[str, Any]) -> None:
        dependency.charge(order)

    emulator = run_outage(aws, handler, dependency, queue)

    dead_lettered = report(
        capsys, "a: plain worker", aws, queue, processed=len(dependency.processed), invocations=len(emulator.polls)
    )
    assert dead_lettered > 0
    assert len(dependency.processed) + dead_lettered == MESSAGES
    assert all(count == 1 for count in dependency.processed.values())


def test_b_circuit_breaker_and_backoff_keep_every_healthy_message_out_of_the_dlq(
    aws: LocalAws, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = new_queue(aws, "b")
    dependency = Dependency(OUTAGE_SECONDS)

    @worker(metrics=False, redelivery=RedeliveryBackoff(base=3, cap=60))
    @circuit_breaker(f"payments-b-{uuid.uuid4().hex[:6]}", failure_threshold=2, recovery_timeout=2)
    def handler(order: dict[str, Any]) -> None:
        dependency.charge(order)

    emulator = run_outage(aws, handler, dependency, queue)

    dead_lettered = report(
        capsys,
        "b: circuit_breaker + redelivery",
        aws,
        queue,
        processed=len(dependency.processed),
        invocations=len(emulator.polls),
        dependency_calls=dependency.calls,
        max_receive_count_seen=max(count for poll in emulator.polls for count in poll.receive_counts.values()),
    )
    assert dead_lettered == 0
    assert sorted(dependency.processed) == [f"o-{number:02d}" for number in range(MESSAGES)]
    assert set(dependency.processed.values()) == {1}, "every order processed exactly once"
    assert messages_in(aws, queue.url) == 0


def test_c_pause_source_keeps_every_message_out_of_the_dlq(aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    queue = new_queue(aws, "c")
    dependency = Dependency(OUTAGE_SECONDS)

    @worker(metrics=False, redelivery=RedeliveryBackoff(base=3, cap=60))
    @circuit_breaker(f"payments-c-{uuid.uuid4().hex[:6]}", failure_threshold=2, recovery_timeout=2, pause_source=True)
    def handler(order: dict[str, Any]) -> None:
        dependency.charge(order)

    emulator = run_outage(aws, handler, dependency, queue)

    dead_lettered = report(
        capsys,
        "c: circuit_breaker(pause_source=True) + redelivery",
        aws,
        queue,
        processed=len(dependency.processed),
        invocations=len(emulator.polls),
        dependency_calls=dependency.calls,
        pauses=emulator.pauses,
    )
    assert dead_lettered == 0
    assert sorted(dependency.processed) == [f"o-{number:02d}" for number in range(MESSAGES)]
    assert set(dependency.processed.values()) == {1}
    assert emulator.pauses >= 1, "the mapping was paused at least once"
    assert emulator.enabled, "and resumed by its schedule"
    assert aws.client("scheduler").list_schedules()["Schedules"] == [], "resume schedules delete themselves"
