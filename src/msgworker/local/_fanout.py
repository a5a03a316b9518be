"""SNS subscriptions and EventBridge rules, routed by msgworker's own matchers.

moto matches filter policies and event patterns with a partial implementation of its own,
invokes Lambda subscribers and targets only in Docker, and writes EventBridge's ``time`` as
a number. So the runtime takes the routing over: each topic has one unfiltered SQS
subscription, and each bus one catch-all rule with an SQS target, to a queue of the
runtime's own (its "tap"). A router thread per tap reads what was published (by a test,
``aws --endpoint-url``, or a function's own SDK call alike), matches every subscription's
filter policy (``msgworker.patterns.FilterPolicy``, both scopes) and every rule's pattern
(``EventPattern``), and delivers as SNS and EventBridge do: to SQS enveloped or raw, to a
rule's SQS target with ``Input``/``InputPath``/``InputTransformer`` applied, and to
functions as asynchronous invocations. A tap message is deleted only after every delivery
was made, so ``drain()`` sees it until then.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._clock import Clock, Loop
from ._decisions import transform_input
from ._model import Queue, Rule, Subscription
from ._shapes import eventbridge_event, raw_delivery_attributes, sns_envelope, sns_lambda_event
from ._sqs import FIRST_WAIT, LONGEST_WAIT

log = logging.getLogger("msgworker.local")

AsyncInvoke = Callable[[str, Any, str], None]
"""``(function logical id, event, source)``: an asynchronous invocation."""


@dataclass
class Tap(Loop):
    """A runtime-owned queue that receives everything published to one topic or bus."""

    kind: str
    """``topic`` or ``bus``."""
    source: str
    """The topic's or bus's logical id."""
    url: str
    sqs: Any
    clock: Clock
    deliver: Callable[[Mapping[str, Any]], None]
    routed: int = 0

    def __post_init__(self) -> None:
        self._start_loop(f"local-tap-{self.source}")

    def _run(self) -> None:
        wait = FIRST_WAIT
        while not self._stop.is_set():
            generation = self.clock.generation
            try:
                messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            except Exception:
                if self._stop.is_set():
                    return
                raise
            if not messages:
                self.clock.sleep_until(float("inf"), real_cap=wait, since=generation)
                wait = FIRST_WAIT if self.clock.generation != generation else min(2 * wait, LONGEST_WAIT)
                continue
            wait = FIRST_WAIT
            for message in messages:
                try:
                    self.deliver(json.loads(message["Body"]))
                except Exception as error:  # keep routing the rest; this one comes back
                    log.warning(
                        "routing from %s %s failed: %s: %s", self.kind, self.source, type(error).__name__, error
                    )
                    continue
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                self.routed += 1


@dataclass
class Router:
    """Delivers notifications and events to the template's subscribers and targets."""

    queues: Mapping[str, Queue]
    urls: Mapping[str, str]
    sqs: Any
    invoke_async: AsyncInvoke
    poke: Callable[[], None]
    subscriptions: list[Subscription] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    def notification(self, topic: str) -> Callable[[Mapping[str, Any]], None]:
        mine = [subscription for subscription in self.subscriptions if subscription.topic == topic]

        def deliver(notification: Mapping[str, Any]) -> None:
            for subscription in mine:
                if subscription.policy is not None and not _accepts(subscription, notification):
                    continue
                if subscription.protocol == "lambda":
                    arn = f"{notification['TopicArn']}:{uuid.uuid5(uuid.NAMESPACE_URL, subscription.name)}"
                    self.invoke_async(subscription.target, sns_lambda_event(notification, arn), subscription.name)
                elif subscription.raw:
                    self._send(
                        subscription.target,
                        str(notification["Message"]),
                        raw_delivery_attributes(notification),
                        group_id=None,
                    )
                else:
                    self._send(subscription.target, json.dumps(sns_envelope(notification)), {}, group_id=None)

        return deliver

    def event(self, bus: str) -> Callable[[Mapping[str, Any]], None]:
        mine = [rule for rule in self.rules if rule.bus == bus]

        def deliver(delivered: Mapping[str, Any]) -> None:
            event = eventbridge_event(delivered)
            for rule in mine:
                if not rule.pattern.matches(event):
                    continue
                for target in rule.targets:
                    payload = transform_input(event, target.input, target.input_path, target.input_transformer)
                    if target.kind == "sqs":
                        self._send(target.target, payload, {}, group_id=target.group_id)
                    else:
                        self.invoke_async(target.target, _json_or_text(payload), rule.name)

        return deliver

    def _send(self, queue_id: str, body: str, attributes: Mapping[str, Any], *, group_id: str | None) -> None:
        queue = self.queues[queue_id]
        extra: dict[str, Any] = {}
        if queue.fifo:
            extra["MessageGroupId"] = group_id or "default"
            if not queue.content_based_deduplication:
                extra["MessageDeduplicationId"] = str(uuid.uuid4())
        if attributes:
            extra["MessageAttributes"] = dict(attributes)
        self.sqs.send_message(QueueUrl=self.urls[queue_id], MessageBody=body, **extra)
        self.poke()


def _accepts(subscription: Subscription, notification: Mapping[str, Any]) -> bool:
    assert subscription.policy is not None
    if subscription.policy.scope == "MessageBody":
        return subscription.policy.matches(body=notification.get("Message"))
    return subscription.policy.matches(attributes=notification.get("MessageAttributes") or {})


def _json_or_text(payload: str) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload
