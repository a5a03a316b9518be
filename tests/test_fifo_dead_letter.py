"""The template's FIFO consumers keep valid messages out of the DLQ when a poison message
leads their group (issue 10). Behind a failing FIFO message the rest of its group is
reported "not started", yet every receive counts: left to SQS's maxReceiveCount, they
reach the DLQ together with it. With ``dead_letter=`` the poison message leaves on its first
failure and the group moves on. Against moto's SQS (redrive included), polled by the
emulated event source mapping.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from esm_emulator import EventSourceMappingEmulator, QueuePair, create_queue_pair, local_endpoint, messages_in
from test_template import ROOT, TEMPLATE

from msgworker import worker
from msgworker.cli.template import load_template
from msgworker.testing import LocalAws

POISON = "{not json"
MAX_RECEIVE_COUNT = 2


def fifo_events() -> list[tuple[str, str]]:
    """(function, event name) of every SQS event of the template that reads a FIFO queue."""
    template = load_template(TEMPLATE)
    found = []
    for function, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for name, event in resource["Properties"].get("Events", {}).items():
            queue = (
                event["Properties"].get("Queue", {}).get("Fn::GetAtt", [None])[0] if event["Type"] == "SQS" else None
            )
            if queue and template["Resources"][queue]["Properties"].get("FifoQueue"):
                found.append((function, name))
    return found


def handler_of(function: str) -> Any:
    module, attribute = load_template(TEMPLATE)["Resources"][function]["Properties"]["Handler"].rsplit(".", 1)
    return getattr(importlib.import_module(f"handlers.{module}"), attribute)


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with local_endpoint() as local:
        yield local


def run_group(aws: LocalAws, handler: Any, sample: str) -> tuple[QueuePair, list[str]]:
    """A poison message, then the sample's valid bodies, in one message group, polled until
    the source queue is empty; the bodies that ended in the DLQ."""
    queue = create_queue_pair(
        aws, f"fifo-{uuid.uuid4().hex[:8]}", visibility_timeout=1, max_receive_count=MAX_RECEIVE_COUNT, fifo=True
    )
    valid = [record["body"] for record in json.loads((ROOT / sample).read_text())["Records"]]
    sqs = aws.client("sqs")
    for number, body in enumerate([POISON, *valid]):
        sqs.send_message(
            QueueUrl=queue.url, MessageBody=body, MessageGroupId="one-group", MessageDeduplicationId=str(number)
        )
    emulator = EventSourceMappingEmulator(aws, handler, queue_url=queue.url, function_name=f"fn-{uuid.uuid4().hex[:8]}")
    emulator.run(lambda: messages_in(aws, queue.url) == 0, timeout=60)
    dead = sqs.receive_message(QueueUrl=queue.dead_letter_url, MaxNumberOfMessages=10)["Messages"]
    return queue, [message["Body"] for message in dead]


@pytest.mark.parametrize(("function", "event"), fifo_events())
def test_a_poison_message_goes_to_the_dlq_alone(aws: LocalAws, function: str, event: str) -> None:
    sample = load_template(TEMPLATE)["Resources"][function]["Metadata"]["SampleEvents"][event]
    _, dead = run_group(aws, handler_of(function), sample)
    assert dead == [POISON], "only the poison message is dead-lettered; the valid ones behind it were processed"


def test_without_dead_letter_the_valid_messages_behind_it_go_too(aws: LocalAws) -> None:
    # The same record function without dead_letter=: what the template must not do.
    from handlers.orders import Order, handler

    unsafe = worker(Order, concurrency=4)(handler.__wrapped__)
    _, dead = run_group(aws, unsafe, "events/sqs/orders-fifo.json")
    assert POISON in dead and len(dead) > 1, dead


def test_the_template_has_a_fifo_consumer() -> None:
    assert fifo_events() == [("OrdersFunction", "OrdersFifoQueueEvent")]
