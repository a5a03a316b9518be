"""The DLQ tools' decisions, without I/O: which queues are dead-letter queues and which
queues they serve, what a peeked message shows, and what a received message becomes
when it is sent again.

Example:
    >>> policy = '{"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:orders-dlq", "maxReceiveCount": 5}'
    >>> redrive_target({"RedrivePolicy": policy})
    'arn:aws:sqs:eu-west-1:123456789012:orders-dlq'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MsgworkerError
from ..failure_actions._dead_letter import (
    ERROR_MESSAGE_ATTRIBUTE,
    ERROR_TYPE_ATTRIBUTE,
    MESSAGE_ID_ATTRIBUTE,
    OWN_ATTRIBUTES,
    RECEIVE_COUNT_ATTRIBUTE,
    SOURCE_ARN_ATTRIBUTE,
)

KEPT_SYSTEM_ATTRIBUTES = ("AWSTraceHeader",)
"""System attributes a redriven message keeps (the only one SendMessage accepts)."""


class DlqError(MsgworkerError):
    """A DLQ command cannot go ahead: a queue that does not exist, a redrive without a
    target, a standard queue's messages bound for a FIFO queue. The message says what to do.

    Example:
        >>> raise DlqError("queue orders-dlq does not exist at this endpoint")
        Traceback (most recent call last):
        ...
        msgworker.dlq._model.DlqError: queue orders-dlq does not exist at this endpoint
    """


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue at the endpoint: its URL, ARN and the attributes read with it.

    Example:
        >>> queue = Queue("http://127.0.0.1:5000/123456789012/orders-dlq",
        ...               "arn:aws:sqs:us-east-1:123456789012:orders-dlq",
        ...               {"ApproximateNumberOfMessages": "3", "ApproximateNumberOfMessagesNotVisible": "1"})
        >>> queue.name, queue.fifo, queue.visible, queue.in_flight
        ('orders-dlq', False, 3, 1)
    """

    url: str
    arn: str
    attributes: Mapping[str, str]

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")

    @property
    def visible(self) -> int:
        """``ApproximateNumberOfMessages``: messages ready to be received."""
        return int(self.attributes.get("ApproximateNumberOfMessages") or 0)

    @property
    def in_flight(self) -> int:
        """``ApproximateNumberOfMessagesNotVisible``: received, neither deleted nor visible again."""
        return int(self.attributes.get("ApproximateNumberOfMessagesNotVisible") or 0)


def redrive_target(attributes: Mapping[str, str]) -> str | None:
    """The ``deadLetterTargetArn`` of a queue's ``RedrivePolicy`` attribute, if it has one.

    Example:
        >>> redrive_target({}) is None
        True
    """
    policy = attributes.get("RedrivePolicy")
    if not policy:
        return None
    try:
        target = json.loads(policy).get("deadLetterTargetArn")
    except (ValueError, AttributeError):
        return None
    return target if isinstance(target, str) and target else None


@dataclass(frozen=True, slots=True)
class DeadLetterQueue:
    """A dead-letter queue: some queue's ``RedrivePolicy`` names it (those queues are its
    ``sources``, by ARN), or the template declares it so (``logical_id``). ``queue`` is
    ``None`` when it is not at the endpoint (a template not deployed, another account).

    Example:
        >>> DeadLetterQueue("orders-dlq", None, ("arn:aws:sqs:us-east-1:123456789012:orders",), "OrdersDLQ").visible
    """

    name: str
    queue: Queue | None
    sources: tuple[str, ...]
    logical_id: str | None = None

    @property
    def visible(self) -> int | None:
        return self.queue.visible if self.queue is not None else None

    @property
    def in_flight(self) -> int | None:
        return self.queue.in_flight if self.queue is not None else None


def dead_letter_queues(
    queues: Iterable[Queue], template: Mapping[str, Sequence[str]] | None = None
) -> list[DeadLetterQueue]:
    """The dead-letter queues among ``queues``, each with the queues whose RedrivePolicy
    names it, and those of ``template`` (logical id → the names its queue may have: the
    first one present is taken) too, present or not. Sorted by name.

    Example:
        >>> dlq = Queue("u1", "arn:aws:sqs:us-east-1:1:orders-dlq", {})
        >>> policy = '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:orders-dlq"}'
        >>> source = Queue("u2", "arn:aws:sqs:us-east-1:1:orders", {"RedrivePolicy": policy})
        >>> template = {"OrdersDLQ": ("orders-dlq", "OrdersDLQ")}
        >>> [(d.name, d.sources, d.logical_id) for d in dead_letter_queues([dlq, source], template)]
        [('orders-dlq', ('arn:aws:sqs:us-east-1:1:orders',), 'OrdersDLQ')]
    """
    queues = list(queues)
    by_arn = {queue.arn: queue for queue in queues}
    sources: dict[str, list[str]] = {}
    for queue in queues:
        target = redrive_target(queue.attributes)
        if target is not None:
            sources.setdefault(target, []).append(queue.arn)
    found: dict[str, DeadLetterQueue] = {}
    for arn, served in sources.items():
        name = arn.rsplit(":", 1)[-1]
        found[name] = DeadLetterQueue(name, by_arn.get(arn), tuple(sorted(served)))
    by_name = {queue.name: queue for queue in queues}
    for logical_id, names in (template or {}).items():
        present = [name for name in names if name in found or name in by_name]
        name = present[0] if present else names[0]
        known = found.get(name)
        if known is not None:
            found[name] = DeadLetterQueue(name, known.queue, known.sources, logical_id)
        else:
            found[name] = DeadLetterQueue(name, by_name.get(name), (), logical_id)
    return [found[name] for name in sorted(found)]


def template_dead_letter_queues(resources: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The template's dead-letter queues: logical id → the logical ids of the queues whose
    ``RedrivePolicy.deadLetterTargetArn`` is its ``!GetAtt <id>.Arn`` (or ``!Ref``).

    Example:
        >>> policy = {"deadLetterTargetArn": {"Fn::GetAtt": ["OrdersDLQ", "Arn"]}}
        >>> resources = {
        ...     "Orders": {"Type": "AWS::SQS::Queue", "Properties": {"RedrivePolicy": policy}},
        ...     "OrdersDLQ": {"Type": "AWS::SQS::Queue"},
        ... }
        >>> template_dead_letter_queues(resources)
        {'OrdersDLQ': ('Orders',)}
    """
    found: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, Mapping) or resource.get("Type") != "AWS::SQS::Queue":
            continue
        policy = (resource.get("Properties") or {}).get("RedrivePolicy")
        target = policy.get("deadLetterTargetArn") if isinstance(policy, Mapping) else None
        named = _referenced_id(target)
        if named is not None and named in resources:
            found.setdefault(named, []).append(logical_id)
    return {name: tuple(sorted(served)) for name, served in sorted(found.items())}


def _referenced_id(value: Any) -> str | None:
    if isinstance(value, Mapping) and len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Fn::GetAtt":
            parts = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return str(parts[0]) if parts else None
        if name == "Ref":
            return str(argument)
    return None


@dataclass(frozen=True, slots=True)
class PeekedMessage:
    """A message as ``msgworker dlq peek`` shows it.

    ``receive_count`` is SQS's ``ApproximateReceiveCount`` *including the peek's own
    receive*. The ``error_*`` and ``source_*`` fields are the attributes msgworker's
    dead-lettering adds (``None`` for a message SQS moved after ``maxReceiveCount``);
    ``attributes`` are the others, decoded.

    Example:
        >>> message = {"MessageId": "m-1", "Body": "{}", "Attributes": {"ApproximateReceiveCount": "2"},
        ...            "MessageAttributes": {"msgworker.error_type": {"DataType": "String", "StringValue": "E"},
        ...                                  "tenant": {"DataType": "String", "StringValue": "t-1"}}}
        >>> peeked = PeekedMessage.of(message)
        >>> peeked.error_type, peeked.receive_count, peeked.attributes
        ('E', 2, {'tenant': 't-1'})
    """

    message_id: str
    body: str
    receive_count: int
    sent_timestamp: int | None
    group_id: str | None
    deduplication_id: str | None
    error_type: str | None
    error_message: str | None
    source_arn: str | None
    source_message_id: str | None
    source_receive_count: int | None
    attributes: dict[str, Any]

    @classmethod
    def of(cls, message: Mapping[str, Any]) -> PeekedMessage:
        """The view of one ``ReceiveMessage`` result entry."""
        system = message.get("Attributes") or {}
        values = {name: _value(attribute) for name, attribute in (message.get("MessageAttributes") or {}).items()}
        count = values.get(RECEIVE_COUNT_ATTRIBUTE)
        return cls(
            message_id=str(message.get("MessageId")),
            body=str(message.get("Body", "")),
            receive_count=int(system.get("ApproximateReceiveCount") or 0),
            sent_timestamp=int(system["SentTimestamp"]) if system.get("SentTimestamp") else None,
            group_id=system.get("MessageGroupId"),
            deduplication_id=system.get("MessageDeduplicationId"),
            error_type=_text(values.get(ERROR_TYPE_ATTRIBUTE)),
            error_message=_text(values.get(ERROR_MESSAGE_ATTRIBUTE)),
            source_arn=_text(values.get(SOURCE_ARN_ATTRIBUTE)),
            source_message_id=_text(values.get(MESSAGE_ID_ATTRIBUTE)),
            source_receive_count=int(count) if isinstance(count, int | float | str) and str(count).isdigit() else None,
            attributes={name: value for name, value in values.items() if name not in OWN_ATTRIBUTES},
        )


def _value(attribute: Mapping[str, Any]) -> Any:
    """A message attribute's plain value: Number → int/float, Binary → bytes, else text."""
    kind = str(attribute.get("DataType", "String"))
    if kind.startswith("Binary"):
        return attribute.get("BinaryValue")
    text = attribute.get("StringValue")
    if kind.startswith("Number") and isinstance(text, str):
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    return text


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def resend_entry(message: Mapping[str, Any], entry_id: str, *, fifo_target: bool) -> dict[str, Any]:
    """The ``SendMessageBatch`` entry that puts a received message back on a queue: the
    body, every message attribute (msgworker's error attributes included, as AWS's own
    redrive keeps them), the X-Ray trace header, and for a FIFO target its message group
    and deduplication id.

    Raises:
        DlqError: a FIFO target, but the message has no group (it comes from a standard queue).

    Example:
        >>> message = {"MessageId": "m-1", "Body": "hi",
        ...            "Attributes": {"MessageGroupId": "g-1", "MessageDeduplicationId": "d-1"},
        ...            "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "5"}}}
        >>> resend_entry(message, "0", fifo_target=True)
        {'Id': '0', 'MessageBody': 'hi', 'MessageAttributes': {'n': {'DataType': 'Number', 'StringValue': '5'}},
         'MessageGroupId': 'g-1', 'MessageDeduplicationId': 'd-1'}
    """
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message["Body"]}
    attributes = {
        name: {key: value for key, value in attribute.items() if key in ("DataType", "StringValue", "BinaryValue")}
        for name, attribute in (message.get("MessageAttributes") or {}).items()
    }
    if attributes:
        entry["MessageAttributes"] = attributes
    system = message.get("Attributes") or {}
    kept = {
        name: {"DataType": "String", "StringValue": system[name]} for name in KEPT_SYSTEM_ATTRIBUTES if name in system
    }
    if kept:
        entry["MessageSystemAttributes"] = kept
    if fifo_target:
        group = system.get("MessageGroupId")
        if not group:
            raise DlqError(
                "a standard queue's messages have no message group, so they cannot go to a FIFO queue: "
                "pass --to a standard queue"
            )
        entry["MessageGroupId"] = group
        # Kept so that a redrive run again after a crash between a send and its delete is
        # deduplicated by the target instead of stored twice.
        entry["MessageDeduplicationId"] = system.get("MessageDeduplicationId") or str(message["MessageId"])[:128]
    return entry


def entry_size(entry: Mapping[str, Any]) -> int:
    """Bytes an entry counts towards a ``SendMessageBatch`` request's size limit (body,
    and each attribute's name, type and value).

    Example:
        >>> entry_size({"MessageBody": "abc", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "5"}}})
        11
    """
    size = len(str(entry["MessageBody"]).encode("utf-8"))
    for name, attribute in (entry.get("MessageAttributes") or {}).items():
        value = attribute.get("StringValue")
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(attribute.get("BinaryValue") or b"")
        size += len(name.encode("utf-8")) + len(str(attribute["DataType"]).encode("utf-8")) + len(raw)
    return size


def choose_target(dead_letter_queue: str, sources: Sequence[str], to: str | None) -> str | None:
    """Where a redrive goes: ``to`` when given, else the one queue whose RedrivePolicy
    names the DLQ (``None`` means: ``to`` was given, resolve it).

    Raises:
        DlqError: no ``to``, and no source or several.

    Example:
        >>> choose_target("orders-dlq", ["https://sqs.eu-west-1.amazonaws.com/1/orders"], None)
        'https://sqs.eu-west-1.amazonaws.com/1/orders'
    """
    if to is not None:
        return None
    if len(sources) == 1:
        return sources[0]
    if not sources:
        raise DlqError(
            f"no queue at this endpoint names {dead_letter_queue} as its dead-letter queue, so there is no source "
            "to redrive to: pass --to QUEUE"
        )
    names = ", ".join(sorted(source.rsplit("/", 1)[-1] for source in sources))
    raise DlqError(f"{dead_letter_queue} is the dead-letter queue of several queues ({names}): pass --to one of them")


__all__ = [
    "KEPT_SYSTEM_ATTRIBUTES",
    "DeadLetterQueue",
    "DlqError",
    "PeekedMessage",
    "Queue",
    "choose_target",
    "dead_letter_queues",
    "entry_size",
    "redrive_target",
    "resend_entry",
    "template_dead_letter_queues",
]
