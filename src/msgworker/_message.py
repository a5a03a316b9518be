"""``Message``: what a record function may ask for besides its parsed payload."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from ._claim_check import PayloadPointer

T = TypeVar("T")

Fields = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One layer of the delivery chain, outermost first (e.g. ``sqs`` then ``sns``).

    ``data`` is that layer's record or envelope as AWS sent it (the SNS envelope
    decoded from the SQS body, the EventBridge event, ...).
    """

    name: str
    id: str | None
    data: Mapping[str, Any]


class _Lazy(Generic[T]):
    """A Message field read from the fields dict, which is built on first access."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, message: Message | None, owner: type) -> T:
        if message is None:
            raise AttributeError(self.name)
        fields = message._fields
        if fields is None:
            fields = message._fields = message._describe(message.raw, message._inner)
        value = fields.get(self.name, _DEFAULTS.get(self.name))
        if value.__class__ is Deferred:
            # Worked out now, alone: a field that does not decode fails only when read.
            value = fields[self.name] = value.compute()
        return value  # type: ignore[return-value]


def resolved(fields: Fields, name: str) -> Any:
    """``fields[name]``, worked out now if it is :class:`Deferred` (its ParseError raised);
    for code that reads a fields dict directly rather than through a Message.

    Example:
        >>> resolved({"receive_count": Deferred(int, "2")}, "receive_count")
        2
    """
    value = fields.get(name)
    return value.compute() if value.__class__ is Deferred else value


class Deferred:
    """A Message field worked out when it is first read, not with the others.

    For fields that can fail to decode (a Binary attribute that is not base64, a
    malformed receive count, a DynamoDB image): reading such a field raises its
    :class:`~msgworker.errors.ParseError`, and every other field still reads.

    Example:
        >>> Deferred(int, "3").compute()
        3
    """

    __slots__ = ("args", "function")

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.function, self.args = function, args

    def compute(self) -> Any:
        return self.function(*self.args)


_DEFAULTS: dict[str, Any] = {"resources": (), "envelopes": (), "headers": {}}


class Message:
    """Metadata of one record: id, source, envelope chain, attributes, counts, times.

    A record function receives it when it takes a second argument::

        @worker(Order)
        def handler(order: Order, message: Message) -> None:
            if message.receive_count and message.receive_count > 3:
                log.warning("slow to succeed", extra={"id": message.id})

    Fields are worked out from the raw record on first access, so a function that
    never reads them pays almost nothing. Fields a source does not have are ``None``
    (``attributes`` is then empty). For tests, build one with :meth:`of`.
    """

    __slots__ = ("_describe", "_fields", "_inner", "raw", "source")

    id: _Lazy[str | None] = _Lazy()
    """The id msgworker reports for this record: SQS message id, Kinesis/DynamoDB
    sequence number, SNS message id, EventBridge event id, Kafka ``topic-partition@offset``
    or S3 sequencer."""
    envelopes: _Lazy[tuple[Envelope, ...]] = _Lazy()
    """The delivery chain, outermost first; ``envelopes[-1]`` carried the payload."""
    attributes: _Lazy[Mapping[str, Any]] = _Lazy()
    """Message attributes, decoded (String → str, Number → int/float, Binary → bytes,
    String.Array → list); an inner envelope's attributes override outer ones."""
    receive_count: _Lazy[int | None] = _Lazy()
    group_id: _Lazy[str | None] = _Lazy()
    deduplication_id: _Lazy[str | None] = _Lazy()
    sequence_number: _Lazy[str | None] = _Lazy()
    partition_key: _Lazy[str | None] = _Lazy()
    event_source_arn: _Lazy[str | None] = _Lazy()
    sent_at: _Lazy[datetime | None] = _Lazy()
    """When the message entered the outermost service (SQS SentTimestamp, SNS
    Timestamp, Kinesis arrival, DynamoDB change time, EventBridge time, Kafka timestamp,
    S3 eventTime)."""
    topic_arn: _Lazy[str | None] = _Lazy()
    subject: _Lazy[str | None] = _Lazy()
    event_source: _Lazy[str | None] = _Lazy()
    """EventBridge ``source`` (e.g. ``com.example.orders``)."""
    detail_type: _Lazy[str | None] = _Lazy()
    event_time: _Lazy[datetime | None] = _Lazy()
    resources: _Lazy[tuple[str, ...]] = _Lazy()
    event_name: _Lazy[str | None] = _Lazy()
    """DynamoDB Streams ``INSERT``, ``MODIFY`` or ``REMOVE``; S3 ``ObjectCreated:Put``...
    (through EventBridge, the detail-type: ``Object Created``...)."""
    keys: _Lazy[Mapping[str, Any] | None] = _Lazy()
    new_image: _Lazy[Mapping[str, Any] | None] = _Lazy()
    old_image: _Lazy[Mapping[str, Any] | None] = _Lazy()
    payload_pointer: _Lazy[PayloadPointer | None] = _Lazy()
    """Where the payload was fetched from when the record arrived as an extended-client
    pointer (claim check: bucket, key, size); ``None`` for every other record."""
    topic: _Lazy[str | None] = _Lazy()
    """Kafka topic."""
    partition: _Lazy[int | None] = _Lazy()
    """Kafka partition (the record's position: ``topic``, ``partition``, ``offset``)."""
    offset: _Lazy[int | None] = _Lazy()
    key: _Lazy[bytes | str | None] = _Lazy()
    """Kafka: the record key as bytes (base64-decoded). S3: the object key as text,
    URL-decoded (``+`` and ``%xx``), as AWS's notifications require."""
    headers: _Lazy[Mapping[str, bytes]] = _Lazy()
    """Kafka record headers as bytes by name (a repeated name keeps its last value)."""
    timestamp_type: _Lazy[str | None] = _Lazy()
    """Kafka ``CREATE_TIME`` or ``LOG_APPEND_TIME``: what ``sent_at`` measures for Kafka."""
    bucket: _Lazy[str | None] = _Lazy()
    """S3 bucket name (notification or EventBridge event)."""
    size: _Lazy[int | None] = _Lazy()
    """S3 object size in bytes (absent from delete events)."""

    def __init__(
        self,
        raw: Mapping[str, Any],
        source: str,
        describe: Callable[[Mapping[str, Any], tuple[Envelope, ...]], Fields],
        inner: tuple[Envelope, ...] = (),
    ):
        self.raw = raw
        """The record exactly as it arrived in the Lambda event."""
        self.source = source
        """The transport that invoked Lambda: ``sqs``, ``sns``, ``eventbridge``,
        ``kinesis``, ``dynamodb``, ``kafka`` or ``s3``."""
        self._describe = describe
        self._inner = inner
        self._fields: Fields | None = None

    @classmethod
    def of(cls, source: str = "sqs", raw: Mapping[str, Any] | None = None, **fields: Any) -> Message:
        """A Message with the given fields, for calling a record function in a test.

        Example:
            >>> Message.of(id="m-1", receive_count=2).receive_count
            2
        """
        unknown = set(fields) - _FIELD_NAMES
        if unknown:
            raise TypeError(f"Message has no field(s) {', '.join(sorted(unknown))}")
        message = cls(raw or {}, source, _no_description)
        message._fields = {"attributes": {}, **fields}
        return message

    @property
    def envelope_names(self) -> tuple[str, ...]:
        """The chain as names, e.g. ``("sqs", "sns")``."""
        return tuple(envelope.name for envelope in self.envelopes)

    def as_dict(self) -> Fields:
        """Every field (besides ``raw``) as a plain dict."""
        return {"source": self.source, **{name: getattr(self, name) for name in sorted(_FIELD_NAMES)}}

    def __repr__(self) -> str:
        return f"Message(source={self.source!r}, id={self.id!r}, envelopes={self.envelope_names!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (self.source, self.raw, self.as_dict()) == (
            other.source,
            other.raw,
            other.as_dict(),
        )

    __hash__ = None  # type: ignore[assignment]


def _no_description(raw: Mapping[str, Any], inner: tuple[Envelope, ...]) -> Fields:
    return {"attributes": {}}


_FIELD_NAMES = frozenset(name for name, value in vars(Message).items() if isinstance(value, _Lazy))
