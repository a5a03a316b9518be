"""A dead letter's size, decided apart from sending it: what a letter weighs as SQS counts
it, how it is made to fit one message (copied attributes first, then the error text; never
the body), and how letters are grouped into SendMessageBatch calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._aws import chunks

ERROR_TYPE_ATTRIBUTE = "msgworker.error_type"
ERROR_MESSAGE_ATTRIBUTE = "msgworker.error_message"
MESSAGE_ID_ATTRIBUTE = "msgworker.message_id"
RECEIVE_COUNT_ATTRIBUTE = "msgworker.receive_count"
SOURCE_ARN_ATTRIBUTE = "msgworker.source_arn"
OWN_ATTRIBUTES = (
    ERROR_TYPE_ATTRIBUTE,
    ERROR_MESSAGE_ATTRIBUTE,
    MESSAGE_ID_ATTRIBUTE,
    RECEIVE_COUNT_ATTRIBUTE,
    SOURCE_ARN_ATTRIBUTE,
)

MAX_MESSAGE_BYTES = 1024 * 1024
"""The most SQS accepts in one message, body and attributes together (1 MiB since
January 2026; 256 KiB before, and on queues whose MaximumMessageSize is set lower)."""
MAX_BATCH_BYTES = 256 * 1024
"""A SendMessageBatch request carries at most this much (the classic SQS limit, kept for
queues whose maximum message size is still 256 KiB)."""


@dataclass(slots=True)
class Letter:
    index: int
    record: Mapping[str, Any]
    error: BaseException
    entry: dict[str, Any]
    dropped: tuple[str, ...]
    size: int
    truncated: bool = False
    """The error message attribute was cut further to fit :data:`MAX_MESSAGE_BYTES`."""

    @property
    def fits(self) -> bool:
        return self.size <= MAX_MESSAGE_BYTES


def fit(letter: Letter) -> Letter:
    """Make ``letter`` fit :data:`MAX_MESSAGE_BYTES`: first drop the record's own copied
    attributes, then cut the error message; what still does not fit is left for the caller
    to log (the body is never cut: the DLQ keeps the message as it came)."""
    if letter.fits:
        return letter
    attributes = letter.entry["MessageAttributes"]
    copied = [name for name in attributes if name not in OWN_ATTRIBUTES]
    for name in copied:
        del attributes[name]
    letter.dropped = (*copied, *letter.dropped)
    letter.size = _size(letter.entry)
    if letter.fits:
        return letter
    message = attributes.get(ERROR_MESSAGE_ATTRIBUTE)
    if message is not None:
        text = message["StringValue"].encode("utf-8")
        room = len(text) - (letter.size - MAX_MESSAGE_BYTES) - len("…".encode())
        if room > 0:
            message["StringValue"] = text[:room].decode("utf-8", "ignore") + "…"
        else:
            del attributes[ERROR_MESSAGE_ATTRIBUTE]
        letter.truncated = True
        letter.size = _size(letter.entry)
    return letter


def _size(entry: Mapping[str, Any]) -> int:
    return len(entry["MessageBody"].encode("utf-8")) + attributes_size(entry)


def attributes_size(entry: Mapping[str, Any]) -> int:
    """Bytes the message attributes add to a message, as SQS counts them (name, type, value)."""
    size = 0
    for name, attribute in entry["MessageAttributes"].items():
        value = attribute.get("StringValue")
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(attribute.get("BinaryValue", b""))
        size += len(name.encode("utf-8")) + len(attribute["DataType"].encode("utf-8")) + len(raw)
    return size


def by_size(letters: list[Letter]) -> list[list[Letter]]:
    """Letters in SendMessageBatch calls: at most 10 entries and MAX_BATCH_BYTES each (a
    letter larger than that goes alone, and SQS decides)."""
    batches: list[list[Letter]] = []
    for group in chunks(letters):
        current: list[Letter] = []
        size = 0
        for letter in group:
            if current and size + letter.size > MAX_BATCH_BYTES:
                batches.append(current)
                current, size = [], 0
            current.append(letter)
            size += letter.size
        if current:
            batches.append(current)
    return batches


__all__ = [
    "ERROR_MESSAGE_ATTRIBUTE",
    "ERROR_TYPE_ATTRIBUTE",
    "MAX_BATCH_BYTES",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_ID_ATTRIBUTE",
    "OWN_ATTRIBUTES",
    "RECEIVE_COUNT_ATTRIBUTE",
    "SOURCE_ARN_ATTRIBUTE",
    "Letter",
    "attributes_size",
    "by_size",
    "fit",
]
