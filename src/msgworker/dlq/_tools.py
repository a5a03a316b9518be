"""The DLQ tools' I/O: finding queues at an endpoint, listing dead-letter queues, peeking.

Redrive lives in ``_redrive`` and uses the calls here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._aws_clients import botocore
from ..failure_actions._aws import chunks, error_code
from ._model import DeadLetterQueue, DlqError, PeekedMessage, Queue, dead_letter_queues, redrive_target

PEEK_HOLD = 30
"""Seconds a peeked message is hidden while the peek collects the others. The peek makes
every one visible again as soon as it has them; if it is killed first, they come back
after this long at the latest."""

_MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


@dataclass(frozen=True, slots=True)
class TemplateQueues:
    """A template's queues for the DLQ tools: the names each queue may have, by logical
    id (its ``QueueName`` as deployed, then the stand-in ``msgworker local`` gives it),
    and the dead-letter queues among them (logical id → the logical ids of the queues
    they serve).

    Example:
        >>> queues = TemplateQueues({"OrdersDLQ": ("orders-dlq", "OrdersDLQ")}, {"OrdersDLQ": ("Orders",)})
        >>> queues.dead_letter_names()
        {'OrdersDLQ': ('orders-dlq', 'OrdersDLQ')}
    """

    names: Mapping[str, tuple[str, ...]]
    dead_letter: Mapping[str, tuple[str, ...]]

    def dead_letter_names(self) -> dict[str, tuple[str, ...]]:
        """Logical id → the names of the template's dead-letter queues."""
        return {logical_id: self.names[logical_id] for logical_id in self.dead_letter if logical_id in self.names}


@dataclass(frozen=True, slots=True)
class Peek:
    """What a peek saw: the queue, its messages, and how many of them it could not make
    visible again (they come back after :data:`PEEK_HOLD` seconds)."""

    queue: Queue
    messages: tuple[PeekedMessage, ...]
    still_hidden: int


class DlqTools:
    """Dead-letter queue tools over one SQS client (any endpoint: AWS, moto, LocalStack).

    ``template`` lets queue references be a template's logical ids. ``wait_seconds`` is
    each receive's long poll (1 s: long polling asks every SQS server, so an empty answer
    means an empty queue; a short poll may miss messages). ``clock`` and ``sleep`` are
    injected for tests; ``probe`` is the client that asks whether the endpoint runs
    message-move tasks (a client that does not retry, so an endpoint without them answers fast).

    Example:
        >>> from moto import mock_aws
        >>> with mock_aws():
        ...     sqs = sqs_client(region="us-east-1")
        ...     dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
        ...     _ = sqs.send_message(QueueUrl=dlq, MessageBody='{"order_id": "o-1"}')
        ...     [message.body for message in DlqTools(sqs).peek("orders-dlq").messages]
        ['{"order_id": "o-1"}']
    """

    def __init__(
        self,
        client: Any,
        *,
        template: TemplateQueues | None = None,
        wait_seconds: int = 1,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        probe: Any = None,
    ) -> None:
        self.client = client
        self.template = template
        self.wait_seconds = wait_seconds
        self.clock = clock
        self.sleep = sleep
        self.probe = probe if probe is not None else client

    @property
    def endpoint(self) -> str:
        """Where the client sends its calls, for messages."""
        return f"{self.client.meta.endpoint_url} ({self.client.meta.region_name})"

    def resolve(self, reference: str) -> Queue:
        """The queue ``reference`` names: a URL, an ARN, a template logical id (with a
        template) or a queue name.

        Raises:
            DlqError: no such queue at this endpoint.
        """
        if reference.startswith(("https://", "http://")):
            return self.queue(reference, reference)
        owner: dict[str, str] = {}
        names: tuple[str, ...] = (reference,)
        if reference.startswith("arn:"):
            parts = reference.split(":")
            if len(parts) != 6 or parts[2] != "sqs":
                raise DlqError(f"{reference!r} is not an SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>)")
            names, owner = (parts[5],), {"QueueOwnerAWSAccountId": parts[4]}
        elif self.template is not None and reference in self.template.names:
            names = self.template.names[reference]
        for name in names:
            try:
                url = str(self.client.get_queue_url(QueueName=name, **owner)["QueueUrl"])
            except botocore("exceptions").ClientError as error:
                if error_code(error) in _MISSING_QUEUE_CODES:
                    continue
                raise self.failed(f"GetQueueUrl for {name}", error) from None
            return self.queue(url, reference)
        raise DlqError(self._missing(reference, " or ".join(names)))

    def queue(self, url: str, reference: str | None = None) -> Queue:
        """The queue at ``url``, with all its attributes read now."""
        try:
            attributes = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        except botocore("exceptions").ClientError as error:
            if error_code(error) in _MISSING_QUEUE_CODES:
                raise DlqError(self._missing(reference or url, url.rsplit("/", 1)[-1])) from None
            raise self.failed(f"GetQueueAttributes for {url}", error) from None
        return Queue(url, str(attributes["QueueArn"]), dict(attributes))

    def queues(self, prefix: str | None = None) -> list[Queue]:
        """Every queue at the endpoint (whose name starts with ``prefix``), attributes read."""
        found: list[Queue] = []
        for url in self._queue_urls(prefix):
            try:
                found.append(self.queue(url))
            except DlqError:  # deleted since it was listed
                continue
        return found

    def dead_letter_queues(self, prefix: str | None = None) -> list[DeadLetterQueue]:
        """The dead-letter queues at the endpoint, and the template's, with the queues they serve."""
        template = self.template.dead_letter_names() if self.template is not None else None
        return dead_letter_queues(self.queues(prefix), template)

    def sources(self, queue: Queue) -> list[str]:
        """The URLs of the queues whose RedrivePolicy names ``queue`` (ListDeadLetterSourceQueues)."""
        urls: list[str] = []
        token: dict[str, str] = {}
        while True:
            try:
                answer = self.client.list_dead_letter_source_queues(QueueUrl=queue.url, MaxResults=1000, **token)
            except botocore("exceptions").ClientError as error:
                raise self.failed(f"ListDeadLetterSourceQueues for {queue.name}", error) from None
            urls.extend(str(url) for url in answer.get("queueUrls", []))
            if not answer.get("NextToken"):
                return urls
            token = {"NextToken": str(answer["NextToken"])}

    def peek(self, reference: str, count: int = 10) -> Peek:
        """Up to ``count`` messages of the queue, left in it.

        Each is received (hidden for at most :data:`PEEK_HOLD` seconds while the others
        are collected), then made visible again at once. SQS counts the receive: each
        peeked message's ``ApproximateReceiveCount`` goes up by one, and on a queue that
        has a RedrivePolicy of its own, peeks count towards its ``maxReceiveCount``.
        """
        queue = self.resolve(reference)
        seen: dict[str, Mapping[str, Any]] = {}
        receipts: list[str] = []
        try:
            while len(seen) < count:
                messages = self.receive(queue, min(10, count - len(seen)), PEEK_HOLD)
                receipts.extend(str(message["ReceiptHandle"]) for message in messages)
                new = [message for message in messages if message["MessageId"] not in seen]
                if not new:
                    break
                seen.update((str(message["MessageId"]), message) for message in new)
        finally:
            still_hidden = self.release(queue, receipts)
        return Peek(queue, tuple(PeekedMessage.of(message) for message in list(seen.values())[:count]), still_hidden)

    def receive(self, queue: Queue, count: int, hold: int) -> list[Mapping[str, Any]]:
        """One ReceiveMessage call: up to ``count`` messages, every attribute, hidden ``hold`` seconds."""
        try:
            answer = self.client.receive_message(
                QueueUrl=queue.url,
                MaxNumberOfMessages=count,
                VisibilityTimeout=hold,
                WaitTimeSeconds=self.wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except botocore("exceptions").ClientError as error:
            raise self.failed(f"ReceiveMessage on {queue.name}", error) from None
        return list(answer.get("Messages") or [])

    def release(self, queue: Queue, receipts: Sequence[str]) -> int:
        """Make received messages visible again now; returns how many could not be."""
        failed = 0
        for batch in chunks(list(receipts)):
            entries = [
                {"Id": str(index), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
                for index, receipt in enumerate(batch)
            ]
            try:
                answer = self.client.change_message_visibility_batch(QueueUrl=queue.url, Entries=entries)
            except botocore("exceptions").ClientError:
                failed += len(entries)
                continue
            # A receipt of a message received twice by the same peek is no longer valid: not a failure.
            failed += sum(1 for entry in answer.get("Failed", []) if entry.get("Code") != "ReceiptHandleIsInvalid")
        return failed

    def failed(self, what: str, error: BaseException) -> DlqError:
        """The error to raise when a call the command cannot do without fails."""
        code = error_code(error)
        return DlqError(f"{what} failed at {self.endpoint} ({code}); check the credentials, region and permissions")

    def _queue_urls(self, prefix: str | None) -> Iterator[str]:
        arguments: dict[str, Any] = {"MaxResults": 1000}
        if prefix:
            arguments["QueueNamePrefix"] = prefix
        while True:
            try:
                answer = self.client.list_queues(**arguments)
            except botocore("exceptions").ClientError as error:
                raise self.failed("ListQueues", error) from None
            yield from (str(url) for url in answer.get("QueueUrls", []))
            if not answer.get("NextToken"):
                return
            arguments["NextToken"] = answer["NextToken"]

    def _missing(self, reference: str, name: str) -> str:
        hint = ""
        if self.template is not None and reference in self.template.names:
            hint = f" (template logical id {reference})"
        elif self.template is not None:
            hint = f"; the template's queues are {', '.join(sorted(self.template.names)) or 'none'}"
        return f"queue {name}{hint} does not exist at {self.endpoint}: check the name, --region and --endpoint-url"


def sqs_client(
    *, endpoint_url: str | None = None, region: str | None = None, profile: str | None = None, retries: int = 3
) -> Any:
    """An SQS client for the DLQ tools, from msgworker's client factory: the environment's
    endpoint, region and credentials unless given, 5 s to connect, 20 s to read (a long
    poll takes 1 s), ``retries`` attempts in all.

    Raises:
        ConfigurationError: botocore is missing, no region is configured, or no such profile.

    Example:
        >>> sqs_client(endpoint_url="http://127.0.0.1:5000", region="eu-west-1").meta.region_name
        'eu-west-1'
    """
    from .._aws_clients import client_config, new_client

    config = client_config(
        connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": retries}
    )
    return new_client("sqs", region, config=config, endpoint_url=endpoint_url, profile=profile)


def serves(queue: Queue) -> str | None:
    """The ARN of ``queue``'s own dead-letter queue, if it has one (a DLQ of a DLQ)."""
    return redrive_target(queue.attributes)


__all__ = ["PEEK_HOLD", "DlqTools", "Peek", "TemplateQueues", "serves", "sqs_client"]
