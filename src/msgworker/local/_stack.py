"""``local_stack``: a template's topology running locally, for tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..testing._common import to_text
from ._functions import Invocation
from ._runtime import LocalRuntime, Status
from ._shapes import plain_attributes, to_message_attributes


@dataclass(frozen=True)
class DeadLetter:
    """A message in a dead-letter queue."""

    body: str
    attributes: dict[str, Any]
    """Its message attributes as plain values (String → str, Number → int/float, ...)."""
    message_id: str
    receive_count: int

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class LocalStack:
    """The running topology, named by the template's logical ids. Made by :func:`local_stack`."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime

    @property
    def environment(self) -> dict[str, str]:
        """``AWS_ENDPOINT_URL`` and the rest, for the test's own clients or subprocesses."""
        assert self.runtime.aws is not None
        return dict(self.runtime.aws.environment)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` at the local endpoint."""
        return self.runtime.aws_client(service)

    def url(self, queue_id: str) -> str:
        """The queue's URL at the local endpoint."""
        self.runtime.topology.queue(queue_id)
        return self.runtime.created.queue_urls[queue_id]

    def send(
        self, queue_id: str, body: Any, group_id: str | None = None, attributes: Mapping[str, Any] | None = None
    ) -> str:
        """Send ``body`` (a dict as JSON, a str as is) to a queue; its message id."""
        queue = self.runtime.topology.queue(queue_id)
        extra: dict[str, Any] = {}
        if attributes:
            extra["MessageAttributes"] = to_message_attributes(attributes)
        if queue.fifo:
            if group_id is None:
                raise ValueError(f"{queue_id} is a FIFO queue: pass group_id= (the message group)")
            extra["MessageGroupId"] = group_id
            if not queue.content_based_deduplication:
                extra["MessageDeduplicationId"] = str(uuid.uuid4())
        elif group_id is not None:
            raise ValueError(f"{queue_id} is a standard queue: group_id is for FIFO queues only")
        answer = self.runtime.sqs.send_message(QueueUrl=self.url(queue_id), MessageBody=to_text(body), **extra)
        self.runtime.clock.wake()
        return str(answer["MessageId"])

    def publish(
        self, topic_id: str, message: Any, attributes: Mapping[str, Any] | None = None, subject: str | None = None
    ) -> str:
        """Publish to an SNS topic; the SNS message id."""
        arns = self.runtime.created.topic_arns
        if topic_id not in arns:
            raise KeyError(f"no topic {topic_id!r} in the template (topics: {', '.join(arns) or 'none'})")
        extra: dict[str, Any] = {}
        if attributes:
            extra["MessageAttributes"] = to_message_attributes(attributes)
        if subject is not None:
            extra["Subject"] = subject
        answer = self.runtime.aws_client("sns").publish(TopicArn=arns[topic_id], Message=to_text(message), **extra)
        self.runtime.clock.wake()
        return str(answer["MessageId"])

    def put_event(self, bus_id: str, *, source: str, detail_type: str, detail: Any) -> str:
        """Put one event on an EventBridge bus; its event id."""
        buses = self.runtime.created.bus_names
        if bus_id not in buses:
            raise KeyError(f"no event bus {bus_id!r} in the template (buses: {', '.join(buses) or 'none'})")
        entry = {"Source": source, "DetailType": detail_type, "Detail": to_text(detail), "EventBusName": buses[bus_id]}
        answer = self.runtime.aws_client("events").put_events(Entries=[entry])
        self.runtime.clock.wake()
        result = answer["Entries"][0]
        if "EventId" not in result:
            raise ValueError(f"EventBridge refused the event: {result.get('ErrorCode')}: {result.get('ErrorMessage')}")
        return str(result["EventId"])

    def drain(self, timeout: float = 30) -> None:
        """Wait until everything has settled; time spent only waiting (visibility timeouts,
        batching windows, retry delays) passes at once. Raises ``TimeoutError`` with a
        status table when it has not settled within ``timeout`` wall seconds."""
        self.runtime.drain(timeout)

    def status(self) -> Status:
        """Queue depths and function counts now."""
        return self.runtime.status()

    def dead_letters(self, queue_id: str) -> list[DeadLetter]:
        """The messages now in ``queue_id``'s dead-letter queue (its RedrivePolicy's target;
        for a function, its DeadLetterQueue or on-failure destination queue; a queue
        without a RedrivePolicy is read itself). They stay there."""
        return self._peek(self._dead_letter_queue(queue_id))

    def invocations(self, function_id: str) -> list[Invocation]:
        """Every invocation of a function so far, in the order they finished."""
        functions = self.runtime.functions
        if function_id not in functions:
            raise KeyError(f"no function {function_id!r} in the template (functions: {', '.join(functions)})")
        return list(functions[function_id].history)

    def _dead_letter_queue(self, logical_id: str) -> str:
        topology = self.runtime.topology
        if logical_id in topology.functions:
            config = topology.functions[logical_id].async_config
            target = config.on_failure or config.dead_letter
            if target not in topology.queues:
                raise ValueError(f"function {logical_id} has no dead-letter queue or on-failure queue")
            return target
        queue = topology.queue(logical_id)
        return queue.dead_letter or logical_id

    def _peek(self, queue_id: str) -> list[DeadLetter]:
        sqs, url = self.runtime.sqs, self.runtime.created.queue_urls[queue_id]
        seen: dict[str, tuple[DeadLetter, str]] = {}
        while True:
            answer = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=30,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                letter = DeadLetter(
                    message["Body"],
                    plain_attributes(message.get("MessageAttributes")),
                    message["MessageId"],
                    int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
                )
                seen[message["MessageId"]] = (letter, message["ReceiptHandle"])
        handles = [handle for _, handle in seen.values()]
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for n, h in enumerate(handles[start : start + 10])
            ]
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        return [letter for letter, _ in seen.values()]


@contextmanager
def local_stack(template: str | Path, parameter_overrides: Mapping[str, Any] | None = None) -> Iterator[LocalStack]:
    """The template's queues, topics, buses, rules, tables, streams and functions, running
    on a local AWS endpoint (moto on loopback) with AWS's delivery semantics, driven by
    msgworker. Logical ids name everything.

    Example::

        with local_stack("template.yaml") as stack:
            stack.send("OrdersQueue", {"order_id": "o-1", "customer_id": "c-1", "total": 5})
            stack.drain(timeout=30)
            assert not stack.invocations("OrdersFunction")[0].failed
    """
    with LocalRuntime(template, parameter_overrides) as runtime:
        yield LocalStack(runtime)
