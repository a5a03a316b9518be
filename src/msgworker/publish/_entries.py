"""What a producer sends (:class:`Outgoing`, :class:`OutgoingEvent`), where large payloads
go (:class:`Offload`), and what could not be sent (:class:`FailedEntry`). Pure: sizes by the
services' own rules, attributes in the services' request shape."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

KIB = 1024
SQS_MAX_BYTES = 1024 * KIB
"""SQS: a message, and a SendMessageBatch request's messages together (1 MiB since January 2026)."""
SNS_MAX_BYTES = 256 * KIB
"""SNS: a message, and a PublishBatch request's messages together, unless the topic's
``MaximumMessageSize`` is raised (up to 1 MiB): then pass ``max_message_size``."""
EVENTBRIDGE_MAX_BYTES = 1024 * KIB
"""EventBridge: a PutEvents request's entries together (1 MB since January 2026)."""
MAX_ENTRIES = 10
"""Entries per SendMessageBatch, PublishBatch and PutEvents request."""

AttributeValue = str | int | float | bytes


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One SQS message or SNS notification to send.

    ``body`` is sent as it is when it is ``str``; a pydantic model as its JSON, anything
    else through ``json.dumps``. ``id`` is what results and errors call the entry (its
    position in the input when not given). ``group_id`` and ``deduplication_id`` are for
    FIFO queues and topics; ``delay_seconds`` is SQS only, ``subject`` SNS only.
    ``attributes`` are message attributes: ``str`` (String), ``int``/``float`` (Number),
    ``bytes`` (Binary), or the service's own ``{"DataType": ..., ...}`` shape.

    Example:
        >>> Outgoing({"order_id": "o-1"}, group_id="customer-7").text
        '{"order_id":"o-1"}'
    """

    body: Any
    id: str | None = None
    group_id: str | None = None
    deduplication_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    delay_seconds: int | None = None
    subject: str | None = None

    @property
    def text(self) -> str:
        """The body as it is sent."""
        return as_text(self.body)


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """One EventBridge event to put: ``detail`` (a JSON object: a dict, a pydantic model or
    JSON text), ``source`` and ``detail_type``; ``bus`` overrides ``put_events(bus=...)``.

    Example:
        >>> OutgoingEvent({"order_id": "o-1"}, source="com.example.orders", detail_type="OrderPlaced").size
        47
    """

    detail: Any
    source: str
    detail_type: str
    id: str | None = None
    resources: Sequence[str] = ()
    time: datetime | None = None
    bus: str | None = None
    trace_header: str | None = None

    @property
    def size(self) -> int:
        """The entry's size by EventBridge's documented rule (Time 14 bytes; Source,
        DetailType, Detail and each resource by their UTF-8 bytes)."""
        return (
            (14 if self.time is not None else 0)
            + utf8_size(self.source)
            + utf8_size(self.detail_type)
            + utf8_size(as_text(self.detail))
            + sum(utf8_size(resource) for resource in self.resources)
        )


@dataclass(frozen=True, slots=True)
class Offload:
    """Put payloads above ``threshold`` bytes in S3 (``s3://bucket/prefix<uuid>``) and send
    the AWS extended clients' pointer instead, so that their consumers in any language, and
    msgworker's ``worker``, read the real payload. ``threshold`` defaults to the service's
    maximum (what does not fit is offloaded; the rest is sent as it is); ``always`` offloads
    every message. ``legacy`` writes the older pointer class and attribute
    (``MessageS3Pointer``, ``SQSLargePayloadSize``) for consumers on old client versions.
    ``client`` is an S3 client (msgworker's own by default).

    Example:
        >>> Offload("my-payloads", prefix="orders/").prefix
        'orders/'
    """

    bucket: str
    prefix: str = ""
    threshold: int | None = None
    always: bool = False
    legacy: bool = False
    client: Any = None


@dataclass(frozen=True, slots=True)
class FailedEntry:
    """An entry that was not sent: its ``id``, the service's error ``code`` and message,
    and whether the failure was ``retryable`` (throttled, a service error) or the entry's
    own (invalid, too large, not allowed). The message is the service's, kept for code
    that wants it; ``str()`` shows id and code only.

    Example:
        >>> str(FailedEntry("o-1", "InternalError", "", retryable=True))
        'o-1 (InternalError, retryable)'
    """

    id: str
    code: str
    message: str = ""
    retryable: bool = False

    def __str__(self) -> str:
        return f"{self.id} ({self.code}{', retryable' if self.retryable else ''})"


def as_text(value: Any) -> str:
    """A body or detail as the text sent."""
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    return json.dumps(value, separators=(",", ":"))


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def message_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Attributes in SQS's and SNS's request shape (``DataType`` + ``StringValue`` /
    ``BinaryValue``).

    Example:
        >>> message_attributes({"tier": "gold", "n": 2})
        {'tier': {'DataType': 'String', 'StringValue': 'gold'}, 'n': {'DataType': 'Number', 'StringValue': '2'}}
    """
    shaped: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        if isinstance(value, Mapping):
            shaped[name] = dict(value)
        elif isinstance(value, bool):
            raise TypeError(f"message attribute {name!r} is a bool: send it as a str ('true') or an int")
        elif isinstance(value, str):
            shaped[name] = {"DataType": "String", "StringValue": value}
        elif isinstance(value, int | float):
            shaped[name] = {"DataType": "Number", "StringValue": str(value)}
        elif isinstance(value, bytes):
            shaped[name] = {"DataType": "Binary", "BinaryValue": value}
        else:
            raise TypeError(f"message attribute {name!r} is a {type(value).__name__}: use str, int, float or bytes")
    return shaped


def attributes_size(shaped: Mapping[str, Mapping[str, Any]]) -> int:
    """What message attributes add to a message's size: each name, data type and value."""
    total = 0
    for name, attribute in shaped.items():
        total += utf8_size(name) + utf8_size(str(attribute.get("DataType", "")))
        value = attribute.get("StringValue")
        if value is not None:
            total += utf8_size(str(value))
        binary = attribute.get("BinaryValue")
        if binary is not None:
            total += len(binary)
    return total


__all__ = [
    "EVENTBRIDGE_MAX_BYTES",
    "MAX_ENTRIES",
    "SNS_MAX_BYTES",
    "SQS_MAX_BYTES",
    "FailedEntry",
    "Offload",
    "Outgoing",
    "OutgoingEvent",
    "as_text",
    "attributes_size",
    "message_attributes",
]
