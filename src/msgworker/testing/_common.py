"""What every event factory shares: defaults, body serialisation, timestamps, ids and attributes.

Source modules (``_sqs``, ``_sns``, ...) build their shapes from these helpers, so a body, a
timestamp or a message attribute is encoded the same way whichever source carries it.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard

if TYPE_CHECKING:
    from pydantic import BaseModel

DEFAULT_REGION = "us-east-1"
"""Region used by every factory unless ``region=`` is given.

>>> DEFAULT_REGION
'us-east-1'
"""

DEFAULT_ACCOUNT = "123456789012"
"""AWS account id used by every factory unless ``account=`` is given.

>>> DEFAULT_ACCOUNT
'123456789012'
"""

MessageAttributeValue: TypeAlias = str | int | float | bytes | list[str]
"""A message attribute value: ``str`` (String), ``int``/``float`` (Number), ``bytes`` (Binary) or
``list[str]`` (SNS ``String.Array``).

>>> attributes: dict[str, MessageAttributeValue] = {"tenant": "acme", "priority": 5}
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# itertools.count.__next__ is atomic under the GIL, so concurrent test threads still get unique values.
# One counter for every source, so sequence numbers strictly increase across all calls.
_sequence = itertools.count(1)


def is_model(value: object) -> TypeGuard[BaseModel]:
    """Whether ``value`` is a pydantic model instance, without importing pydantic.

    >>> is_model({"order_id": "o-1"})
    False
    """
    # A BaseModel instance implies pydantic is already imported, so looking the module up answers the
    # isinstance question without making `import msgworker.testing` pay pydantic's import cost.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


def to_text(value: object) -> str:
    """A body as text: ``str`` as is, bytes as UTF-8, a model as its JSON, anything else via ``json.dumps``.

    >>> to_text({"order_id": "o-1"}), to_text(b"raw"), to_text("text")
    ('{"order_id": "o-1"}', 'raw', 'text')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    if is_model(value):
        return value.model_dump_json()
    return json.dumps(value)


def to_bytes(value: object) -> bytes:
    """A body as bytes: bytes-like as is, anything else as the UTF-8 of :func:`to_text`.

    >>> to_bytes({"n": 1})
    b'{"n": 1}'
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return to_text(value).encode("utf-8")


def b64(data: bytes) -> str:
    """Base64 text of ``data``.

    >>> b64(b"a")
    'YQ=='
    """
    return base64.b64encode(data).decode("ascii")


def utc(moment: datetime | None) -> datetime:
    """``moment`` in UTC (now if ``None``); a naive datetime is read as UTC.

    >>> utc(datetime(2026, 11, 25, 10, 0)).isoformat()
    '2026-11-25T10:00:00+00:00'
    """
    if moment is None:
        return datetime.now(UTC)
    # Naive datetimes are read as UTC rather than local time so tests behave the same on every machine.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly.

    >>> epoch_ms(datetime(1970, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC))
    1500
    """
    # Integer arithmetic on timedeltas avoids the float rounding of datetime.timestamp() * 1000.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def iso_ms(moment: datetime) -> str:
    """ISO 8601 with milliseconds and ``Z``, as SNS writes timestamps.

    >>> iso_ms(datetime(2026, 11, 25, 10, 0, 0, 123_456, tzinfo=UTC))
    '2026-11-25T10:00:00.123Z'
    """
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def iso_s(moment: datetime) -> str:
    """ISO 8601 to the second with ``Z``, as EventBridge writes ``time``.

    >>> iso_s(datetime(2026, 11, 25, 10, 0, 0, 123_456, tzinfo=UTC))
    '2026-11-25T10:00:00Z'
    """
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def next_sequence(base_and_stride: tuple[int, int]) -> str:
    """The next sequence number of a source, from its ``(base, stride)``; larger on every call.

    >>> int(next_sequence((1000, 10))) < int(next_sequence((1000, 10)))
    True
    """
    base, stride = base_and_stride
    return str(base + next(_sequence) * stride)


def typed_attribute(name: str, value: object) -> tuple[str, str]:
    """A message attribute value as SQS and SNS both carry it: its data type and its text (base64 for
    Binary), so the two sources encode an attribute the same way and differ only in key names.

    >>> typed_attribute("tenant", "acme"), typed_attribute("priority", 0.5), typed_attribute("tags", ["a", "b"])
    (('String', 'acme'), ('Number', '0.5'), ('String.Array', '["a","b"]'))
    >>> typed_attribute("urgent", True)
    Traceback (most recent call last):
    TypeError: message attribute 'urgent': expected str, int, float, bytes or list[str], got bool

    Raises:
        TypeError: ``value`` is not a :data:`MessageAttributeValue` (the message names the attribute,
            never its value).
    """
    # bool is an int subclass; silently sending it as Number "1" would hide a likely mistake.
    if isinstance(value, bool) or not isinstance(value, str | int | float | bytes | list):
        raise TypeError(
            f"message attribute {name!r}: expected str, int, float, bytes or list[str], got {type(value).__name__}"
        )
    if isinstance(value, bytes):
        return "Binary", b64(value)
    if isinstance(value, str):
        return "String", value
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise TypeError(f"message attribute {name!r}: list values must all be str")
        # SNS writes String.Array values as compact JSON text, and raw delivery forwards that text to SQS.
        return "String.Array", json.dumps(value, separators=(",", ":"))
    # repr() is the shortest text that round-trips a float, so the consumer parses back the same number.
    return "Number", repr(value) if isinstance(value, float) else str(value)


def is_record(item: object, source_key: str) -> TypeGuard[Mapping[str, Any]]:
    """Whether an item given to an ``*_event`` factory is already a record (it has ``source_key``).

    >>> is_record({"eventSource": "aws:sqs"}, "eventSource"), is_record("body", "eventSource")
    (True, False)
    """
    return isinstance(item, Mapping) and source_key in item
