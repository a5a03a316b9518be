"""The demo's second half: template.yaml's whole topology through ``local_stack`` (what
``msgworker local`` runs), step by step: SNS fan-out by filter policy, EventBridge routing by
rule, a poison message dead-lettered, then redriven after the fix."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from msgworker.local import LocalStack
from msgworker.testing import local_stack

NOTIFICATIONS = ("NotificationsFunction", "HighValueOrdersFunction", "OrdersFunction")


def _sources(stack: LocalStack, function: str, start: int) -> list[str]:
    return [
        i.source.split(".", 1)[1] + (f" (failed: {type(i.error).__name__}, retried)" if i.error else "")
        for i in stack.invocations(function)[start:]
    ]


def _step(stack: LocalStack, title: str, act: Any) -> None:
    before = {name: len(stack.invocations(name)) for name in NOTIFICATIONS}
    print(f"\n== {title}")
    act()
    stack.drain(timeout=60)
    for name in NOTIFICATIONS:
        ran = _sources(stack, name, before[name])
        if ran:
            print(f"    {name} invoked by: {', '.join(ran)}")


def redrive(stack: LocalStack, queue: str) -> int:
    """What `msgworker dlq redrive` does, from Python: the DLQ's messages back to the queue
    whose RedrivePolicy names it (receive -> send -> delete, attributes kept)."""
    from msgworker.dlq import DlqTools, redrive

    dead_letter_queue = stack.runtime.topology.queue(queue).dead_letter
    assert dead_letter_queue is not None
    name = stack.runtime.topology.queue(dead_letter_queue).name
    result = redrive(DlqTools(stack.client("sqs"), wait_seconds=0), name, method="messages")
    stack.runtime.clock.wake()
    return result.moved


def main(template: Path) -> int:
    print(f"\n$ msgworker local -t {template.name}    # the same runtime, driven from this script via local_stack")
    with local_stack(template, parameter_overrides={"MaxReceiveCount": 2}) as stack:
        print(f"local AWS at {stack.environment['AWS_ENDPOINT_URL']}; logical ids name everything")
        notification = {"user_id": "u-1", "channel": "email", "text": "your order shipped"}
        _step(
            stack,
            "SNS: one topic, two subscriptions, disjoint filter policies on event_type",
            lambda: (
                stack.publish(
                    "NotificationsTopic", notification, attributes={"event_type": "order.shipped"}, subject="Shipped"
                ),
                stack.publish(
                    "NotificationsTopic", {**notification, "text": "welcome"}, attributes={"event_type": "user.welcome"}
                ),
            ),
        )
        order = {"order_id": "o-100", "customer_id": "c-1", "currency": "EUR"}
        _step(
            stack,
            "EventBridge: OrderPlaced of 1500 matches the queue rule (>= 1000); 7000 also the direct rule (>= 5000)",
            lambda: (
                stack.put_event(
                    "OrdersBus", source="com.example.orders", detail_type="OrderPlaced", detail={**order, "total": 1500}
                ),
                stack.put_event(
                    "OrdersBus",
                    source="com.example.orders",
                    detail_type="OrderPlaced",
                    detail={**order, "order_id": "o-101", "total": 7000},
                ),
                stack.put_event(
                    "OrdersBus", source="com.example.orders", detail_type="OrderPlaced", detail={**order, "total": 10}
                ),
            ),
        )
        poison = {"order_id": "o-200", "customer_id": "c-2", "total": 20, "currency": "CHF"}
        _step(
            stack,
            "a poison message: CHF is not supported yet; it fails MaxReceiveCount (2) times, then SQS moves it"
            " to the DLQ",
            lambda: stack.send("OrdersQueue", poison),
        )
        letters = stack.dead_letters("OrdersQueue")
        held = [json.loads(letter.body)["order_id"] for letter in letters]
        print(f"    OrdersDeadLetterQueue holds {len(letters)}: {held}")
        orders = sys.modules["orders"]  # the handler module, imported by the runtime from handlers/
        orders.SUPPORTED_CURRENCIES = orders.SUPPORTED_CURRENCIES | {"CHF"}  # type: ignore[attr-defined]
        _step(
            stack,
            "the fix is deployed (CHF supported); msgworker dlq redrive moves the DLQ back to OrdersQueue",
            lambda: print(f"    redrove {redrive(stack, 'OrdersQueue')} message(s)"),
        )
        print(f"    OrdersDeadLetterQueue now holds {len(stack.dead_letters('OrdersQueue'))}")
        print("\n" + stack.status().table())
        return 0 if not stack.dead_letters("OrdersQueue") else 1
