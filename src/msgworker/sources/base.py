"""What every event source provides, as data and small functions."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from ..errors import ParseError
from ..message import Envelope, Fields

Record = Mapping[str, Any]

# decode() returns (payload, is_serialised, inner envelopes). ``is_serialised`` means the
# payload is str/bytes still to be parsed (JSON or text); otherwise it is already a
# Python value (EventBridge detail, DynamoDB image). A plain tuple keeps the per-record
# hot path free of object construction.
Decoded = tuple[Any, bool, tuple[Envelope, ...]]


class Ordering(Enum):
    """How records of a batch may be scheduled relative to each other."""

    INDEPENDENT = "independent"
    """Any order, in parallel; a failure affects only its own record."""
    BY_GROUP = "by_group"
    """FIFO: in order within a group key; a failure stops the rest of that group."""
    STREAM = "stream"
    """Strictly in order; the first failure stops the batch (Lambda checkpoints there)."""


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: sources key per-worker caches
class Source:
    """One event source: how to recognise, decode, identify, order and report its records."""

    name: str
    ordering: Ordering
    partial_batch_response: bool
    """True: return ``batchItemFailures``; False: raise so Lambda's async retry applies."""
    record_id: Callable[[Record], str | None]
    group_key: Callable[[Record], str | None]
    decode: Callable[[Record], Decoded]
    describe: Callable[[Record, tuple[Envelope, ...]], Fields]
    """The Message fields of a record; called only when a Message field is read."""


def dig(record: Record, *path: str) -> Any:
    """``record[path[0]][path[1]]...`` or None when any step is missing or not a mapping."""
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def number(text: str) -> int | float:
    """A message-attribute Number as int when integral, else float."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def decode_base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ParseError(f"{what} is not valid base64: {error}") from None


def epoch_millis(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def epoch_seconds(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def iso_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# Inner envelopes add their own Message fields; sns.py and eventbridge.py register here.
ENVELOPE_FIELDS: dict[str, Callable[[Mapping[str, Any]], Fields]] = {}


def finish_fields(fields: Fields, inner: tuple[Envelope, ...]) -> Fields:
    """Complete a record's Message fields with what each inner envelope knows."""
    envelopes: list[Envelope] = [fields.pop("outer")]
    for envelope in inner:
        extra = ENVELOPE_FIELDS[envelope.name](envelope.data)
        attributes = extra.pop("attributes", None)
        if attributes:
            fields["attributes"] = {**fields.get("attributes", {}), **attributes}
        fields.update(extra)
        envelopes.append(envelope)
    fields["envelopes"] = tuple(envelopes)
    fields.setdefault("attributes", {})
    return fields
