"""What every event source provides, as data and small functions.

A source module holds only what is its own: how to decode a record, where its id is,
which Message fields it carries, how its message attributes are spelled. What is the
same for every source lives here: the Message fields every record has
(:meth:`Source.describe`), reading an id (:func:`text_at`), message attributes to Python
values (:func:`decode_attributes`), the inner envelopes' fields (:func:`finish_fields`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from .._message import Deferred, Envelope, Fields
from ..errors import ParseError

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


def no_group(record: Record) -> str | None:
    """The group key of a source without groups."""
    return None


@dataclass(frozen=True, slots=True, eq=False, kw_only=True)  # identity hash: sources key per-worker caches
class Source:
    """One event source: how to recognise, decode, identify, order and report its records.

    Example:
        >>> KINESIS_LIKE = Source(
        ...     name="kinesis",
        ...     ordering=Ordering.STREAM,
        ...     partial_batch_response=True,
        ...     record_id=text_at("kinesis", "sequenceNumber"),
        ...     decode=lambda record: (record["kinesis"]["data"], True, ()),
        ...     fields=lambda record: {"partition_key": dig(record, "kinesis", "partitionKey")},
        ... )
        >>> fields = KINESIS_LIKE.describe({"kinesis": {"sequenceNumber": "49", "partitionKey": "p"}}, ())
        >>> fields["id"], fields["source"], fields["partition_key"]
        ('49', 'kinesis', 'p')
    """

    name: str
    ordering: Ordering
    partial_batch_response: bool
    """True: return ``batchItemFailures``; False: raise so Lambda's async retry applies."""
    record_id: Callable[[Record], str | None]
    decode: Callable[[Record], Decoded]
    fields: Callable[[Record], Fields]
    """The Message fields particular to this source (beyond id, source, raw, envelopes)."""
    group_key: Callable[[Record], str | None] = no_group
    report_item: Callable[[Record], object] | None = None
    """What ``batchItemFailures`` names a failed record by (``None``: its ``record_id``)."""
    report_first_of_group: bool = False
    """Report only the first failure of each group: Lambda resumes the group there (Kafka)."""
    group_noun: str = "message group"
    """What a group is called in errors (``"partition"`` for Kafka)."""

    def describe(self, record: Record, inner: tuple[Envelope, ...]) -> Fields:
        """The Message fields of a record; called only when a Message field is read."""
        record_id = self.record_id(record)
        fields: Fields = {
            "outer": Envelope(self.name, record_id, record),
            "id": record_id,
            "source": self.name,
            "raw": record,
            **self.fields(record),
        }
        return finish_fields(fields, inner)


def dig(record: Record, *path: str) -> Any:
    """``record[path[0]][path[1]]...`` or None when any step is missing or not a mapping."""
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text_at(*path: str) -> Callable[[Record], str | None]:
    """A function reading the string at ``path`` in a record (``None`` when it is missing
    or not a string): how a source finds a record's id or group.

    Example:
        >>> text_at("Sns", "MessageId")({"Sns": {"MessageId": "m-1"}}), text_at("id")({"id": 7})
        ('m-1', None)
    """

    def read(record: Record) -> str | None:
        value = dig(record, *path)
        return value if isinstance(value, str) else None

    return read


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


def decode_attributes(
    attributes: Any, source: str, kind_key: str, value_of: Callable[[Mapping[str, Any], str], Any]
) -> dict[str, Any]:
    """Message attributes to Python values, by data type: ``Number`` as int or float,
    ``Binary`` as bytes (base64 in the event), ``String.Array`` as a list (JSON text in the
    event), anything else as the text; a missing value as ``None``.

    SQS and SNS spell an attribute differently: ``kind_key`` names its data type's key,
    and ``value_of(attribute, kind)`` picks its value.

    Example:
        >>> decode_attributes({"n": {"Type": "Number", "Value": "2"}}, "SNS", "Type", lambda a, kind: a.get("Value"))
        {'n': 2}
    """
    if not isinstance(attributes, Mapping):
        return {}
    decoded: dict[str, Any] = {}
    for name, attribute in attributes.items():
        kind = str(attribute.get(kind_key, "String"))
        value = value_of(attribute, kind)
        if value is None:
            decoded[name] = None
        elif kind.startswith("Number"):
            try:
                decoded[name] = number(value)
            except (TypeError, ValueError):
                raise ParseError(f"{source} message attribute {name!r} of type Number is not a number") from None
        elif kind.startswith("Binary"):
            decoded[name] = decode_base64(value, f"{source} message attribute {name!r}")
        elif kind == "String.Array":
            # SNS raw delivery carries String.Array attributes to SQS as JSON text too.
            try:
                decoded[name] = json.loads(value)
            except (TypeError, ValueError):
                raise ParseError(f"{source} message attribute {name!r} of type String.Array is not JSON") from None
        else:
            decoded[name] = value
    return decoded


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


def _merged(outer: Any, inner: Any) -> dict[str, Any]:
    """An inner envelope's attributes over the outer ones (either may still be deferred)."""
    outer, inner = (value.compute() if isinstance(value, Deferred) else value for value in (outer, inner))
    return {**outer, **inner}


def finish_fields(fields: Fields, inner: tuple[Envelope, ...]) -> Fields:
    """Complete a record's Message fields with what each inner envelope knows."""
    envelopes: list[Envelope] = [fields.pop("outer")]
    for envelope in inner:
        extra = ENVELOPE_FIELDS[envelope.name](envelope.data)
        attributes = extra.pop("attributes", None)
        if attributes:
            fields["attributes"] = Deferred(_merged, fields.get("attributes", {}), attributes)
        fields.update(extra)
        envelopes.append(envelope)
    fields["envelopes"] = tuple(envelopes)
    fields.setdefault("attributes", {})
    return fields


class Parts(tuple[Decoded, ...]):
    """What ``decode`` returns as the payload of a record that carries several payloads
    (an SQS message whose body is an S3 event with several records): ``(Parts(...), False,
    ())``. The record function is called once per part, in order; the record (the unit
    Lambda retries) is reported failed if any part failed. No parts: nothing to call, the
    record succeeds (an ``s3:TestEvent``).

    Example:
        >>> parts = Parts([("a", True, ()), ("b", True, ())])
        >>> [payload for payload, _, _ in parts]
        ['a', 'b']
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class BodyEnvelope:
    """An envelope that can arrive as the JSON text of an SQS body (or of another
    envelope's payload): how to recognise and unwrap it. A module registers its own with
    :func:`register_body_envelope`; the SQS source then finds it in bodies.

    ``marker`` is a substring every such text contains: bodies without any registered
    marker are passed on without parsing. ``inside`` names where it may be found:
    ``"sqs"`` for the SQS body itself, or the envelopes whose payload may carry it.
    """

    name: str
    marker: str
    recognise: Callable[[Any], bool]
    unwrap: Callable[[Any], Decoded]
    inside: tuple[str, ...] = ("sqs",)


BODY_ENVELOPES: list[BodyEnvelope] = []


class _Markers:
    """The registered envelopes' markers, read by the SQS source on every body. A loop of
    substring scans: a tenth of the cost of one regular expression of alternatives."""

    all: tuple[str, ...] = ()

    def found_in(self, text: str) -> bool:
        return any(marker in text for marker in self.all)


MARKERS = _Markers()


def register_body_envelope(envelope: BodyEnvelope) -> None:
    """Let SQS bodies (and the payloads of the envelopes in ``envelope.inside``) carry
    ``envelope``. Envelopes are tried in the order they were registered; their shapes
    should not overlap (each ``recognise`` is strict), so the order does not matter.

    Example:
        >>> sorted(envelope.name for envelope in BODY_ENVELOPES)
        ['eventbridge', 's3', 'sns']
    """
    BODY_ENVELOPES[:] = [known for known in BODY_ENVELOPES if known.name != envelope.name] + [envelope]
    MARKERS.all = tuple(dict.fromkeys(known.marker for known in BODY_ENVELOPES))


def unwrap_body(text: str, outer: str, stop: str | None = None) -> Decoded:
    """The payload of JSON ``text`` found inside ``outer`` (``"sqs"``: an SQS body; or an
    envelope's name: its payload), with every registered envelope it carries unwrapped (an
    S3 event inside an SNS notification inside the body); ``stop`` names an envelope to
    unwrap no further than. Text that is no registered envelope is returned as it is.

    Example:
        >>> unwrap_body('{"order_id": "o-1"}', "sqs")
        ('{"order_id": "o-1"}', True, ())
    """
    try:
        candidate = json.loads(text)
    except (ValueError, TypeError):  # TypeError: a body that is not text fails in the parser
        return text, True, ()
    for envelope in BODY_ENVELOPES:
        if outer in envelope.inside and envelope.recognise(candidate):
            payload, serialised, inner = envelope.unwrap(candidate)
            if envelope.name == stop or not serialised or payload.__class__ is not str:
                return payload, serialised, inner
            if not MARKERS.found_in(payload):
                return payload, serialised, inner
            nested, nested_serialised, nested_inner = unwrap_body(payload, envelope.name, stop)
            if nested.__class__ is Parts:
                return Parts((p, s, inner + i) for p, s, i in nested), False, ()
            return nested, nested_serialised, inner + nested_inner
    return text, True, ()
