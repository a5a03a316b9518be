"""What an open circuit, and a FIFO poison message, cost other records in receives, on a real queue (moto's server, the
event-source-mapping emulator): the claim the README and docs/failure-handling.md make.

Every delivery is a receive, and SQS counts it whatever the function then does. An open
circuit keeps its records invisible until the circuit may half-open, so a record is not
received every visibility timeout; but each time it comes back while the circuit is
still open it costs one more receive, and after ``maxReceiveCount`` of those SQS moves it
to the DLQ. Only ``pause_source=True`` (nothing is received while paused) stops that.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from esm_emulator import EventSourceMappingEmulator, Poll, create_queue_pair, local_endpoint, messages_in, open_circuit
from pydantic import BaseModel

from msgworker import worker
from msgworker.testing import LocalAws


class Order(BaseModel):
    order_id: str


ROUND_LIMIT = 20.0
"""Seconds one poll loop may wait for the record to come back (it is due after ~1 s)."""


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_endpoint() as local:
        yield local


def next_delivery(emulator: EventSourceMappingEmulator) -> Poll:
    """Poll until the record is delivered again (bounded; no assertion on how long it took)."""
    give_up = time.monotonic() + ROUND_LIMIT
    while time.monotonic() < give_up:
        poll = emulator.poll()
        if poll is not None and poll.received:
            return poll
        time.sleep(0.2)
    raise AssertionError(f"the record did not come back within {ROUND_LIMIT} s")


def test_each_delivery_while_the_circuit_is_open_costs_one_receive_until_the_dlq(aws: LocalAws) -> None:
    name = f"open-receives-{uuid.uuid4().hex[:8]}"
    queue = create_queue_pair(aws, name, visibility_timeout=30, max_receive_count=3)
    aws.client("sqs").send_message(QueueUrl=queue.url, MessageBody='{"order_id": "o-1"}')

    @worker(metrics=False)
    @open_circuit(1.0)  # half-open after 1 s: the record is kept away until then, not 30 s
    def handler(order: dict[str, Any]) -> None:
        pass

    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=f"{name}-fn")
    counts = []
    for _ in range(3):
        poll = next_delivery(emulator)
        assert poll.failed == poll.received  # reported failed (not started), so not deleted
        counts.extend(poll.receive_counts.values())
    assert counts == [1, 2, 3]  # one receive per delivery while open: receives are burnt

    # The third receive was maxReceiveCount: the next time it is due, SQS moves it to the DLQ.
    give_up = time.monotonic() + ROUND_LIMIT
    while messages_in(aws, queue.dead_letter_url) == 0 and time.monotonic() < give_up:
        poll = emulator.poll()
        assert poll is None or not poll.received  # never delivered a fourth time
        time.sleep(0.2)
    assert messages_in(aws, queue.dead_letter_url) == 1


# -- FIFO without dead_letter= (docs/failure-handling.md, "FIFO queues and receive counts") -------


def fifo_run(aws: LocalAws, **options: Any) -> tuple[list[str], int]:
    """A poison message and two valid ones in one FIFO group, maxReceiveCount 2: what was
    processed, and how many messages the DLQ holds once the queue is empty."""
    name = f"fifo-receives-{uuid.uuid4().hex[:8]}"
    queue = create_queue_pair(aws, name, visibility_timeout=1, max_receive_count=2, fifo=True)
    sqs = aws.client("sqs")
    for body in ("not json", '{"order_id": "o-1"}', '{"order_id": "o-2"}'):
        sqs.send_message(QueueUrl=queue.url, MessageBody=body, MessageGroupId="customer-1")
    processed: list[str] = []

    @worker(Order, metrics=False, **options)
    def handler(order: Order) -> None:
        processed.append(order.order_id)

    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=f"{name}-fn")
    give_up = time.monotonic() + ROUND_LIMIT
    while messages_in(aws, queue.url) and time.monotonic() < give_up:
        emulator.poll()
        time.sleep(0.2)
    assert messages_in(aws, queue.url) == 0
    return processed, messages_in(aws, queue.dead_letter_url)


def test_fifo_without_dead_letter_sends_the_messages_behind_a_poison_one_to_the_dlq_with_it(aws: LocalAws) -> None:
    processed, dead = fifo_run(aws)
    # o-1 was never started (it was behind the poison message of its group), but each of
    # its receives counted: it reached maxReceiveCount with the poison one and went to the
    # DLQ unprocessed. (o-2, received a round later here, got through once the group was free.)
    assert "o-1" not in processed
    assert dead >= 2
    assert len(processed) + dead == 3  # nothing lost: processed, or in the DLQ


def test_fifo_with_dead_letter_moves_only_the_poison_message(aws: LocalAws) -> None:
    processed, dead = fifo_run(aws, dead_letter=True)
    assert processed == ["o-1", "o-2"]
    assert dead == 1
