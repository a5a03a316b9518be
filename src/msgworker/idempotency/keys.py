"""What identifies a record for idempotency: key functions, the payload hash, namespacing.

A key function takes ``(payload, message)`` and returns a string. :func:`key_function`
turns what a user passes to ``idempotent(key=...)`` into one:

- ``None``: :func:`payload_hash`, the SHA-256 of the canonical JSON of the payload;
- a field name or dotted path (``"order_id"``, ``"customer.id"``): :func:`field`, which
  reads attributes of models and items of mappings alike;
- any callable taking ``(payload, message)`` or just ``(payload)``.

Stored ids are ``"{name}#{key}"`` (:func:`namespaced`), so functions sharing one table
never see each other's keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from ..errors import PermanentError
from ..layers import takes_message
from ..message import Message

KeyFunction = Callable[[Any, "Message | None"], str]
"""``(payload, message) -> key``; ``message`` is ``None`` for a plain call without one."""

KeySpec = str | Callable[..., Any] | None
"""What ``idempotent(key=...)`` accepts: ``None``, a field path, or a callable."""

MAX_KEY_LENGTH = 250
"""Longer keys are stored as their SHA-256, so an item stays within one write unit (1 KB)."""


def canonical_json(payload: Any) -> str:
    """``payload`` as JSON with sorted keys and no whitespace: equal payloads give equal text.

    Pydantic models are dumped in JSON mode; dataclasses, datetimes, UUIDs and decimals
    go through pydantic's JSON conversion.

    Example:
        >>> canonical_json({"b": 1, "a": [1.5, "x"]})
        '{"a":[1.5,"x"],"b":1}'
    """
    from pydantic_core import to_jsonable_python

    if isinstance(payload, bytes):
        # JSON has no bytes; hex keeps the text reversible and stable.
        payload = payload.hex()
    return json.dumps(
        to_jsonable_python(payload, serialize_unknown=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def payload_hash(payload: Any, message: Message | None = None) -> str:
    """The SHA-256 (hex) of :func:`canonical_json` of ``payload`` (``bytes`` hashed as they are).

    It is both the default key and what ``idempotent`` stores to tell a repeated key
    with a different payload from a true duplicate.

    Example:
        >>> payload_hash({"order_id": "o-1", "total": 5}) == payload_hash({"total": 5, "order_id": "o-1"})
        True
        >>> len(payload_hash("hello"))
        64
    """
    data = payload if isinstance(payload, bytes) else canonical_json(payload).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def key_text(value: Any) -> str:
    """A key value as the string stored: scalars as text, anything else as canonical JSON.

    Example:
        >>> key_text(42), key_text("o-1"), key_text({"b": 2, "a": 1})
        ('42', 'o-1', '{"a":1,"b":2}')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Enum):
        return key_text(value.value)
    if isinstance(value, bool | int | float | Decimal | UUID):
        return str(value)
    return canonical_json(value)


@dataclass(frozen=True, slots=True)
class field:
    """The key read from a field of the payload: a name or a dotted path.

    Each step reads a mapping item if the value is a mapping, an attribute otherwise,
    so ``"customer.id"`` works on pydantic models, dataclasses and plain dicts. A
    missing or empty value fails the record with a :class:`~msgworker.PermanentError`:
    without a key there is no way to recognise a duplicate.

    Example:
        >>> field("customer.id")({"customer": {"id": 7}}, None)
        '7'
    """

    path: str

    def __post_init__(self) -> None:
        if not self.path or any(not part for part in self.path.split(".")):
            raise ValueError(
                f"idempotency key path {self.path!r} is not a field name or dotted path like 'customer.id'"
            )

    def __call__(self, payload: Any, message: Message | None = None) -> str:
        value = payload
        for part in self.path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
            if value is None:
                break
        if value is None or value == "":
            raise PermanentError(
                f"idempotency key {self.path!r} is missing or empty in the payload ({type(payload).__name__}): "
                "every record needs a value there, or pass idempotent(key=...) a field that is always set"
            )
        return key_text(value)


def key_function(spec: KeySpec) -> KeyFunction:
    """Turn ``idempotent(key=...)`` into a ``(payload, message) -> str`` function.

    Example:
        >>> key_function("order_id")({"order_id": "o-1"}, None)
        'o-1'
        >>> key_function(lambda order: order["order_id"].upper())({"order_id": "o-1"}, None)
        'O-1'
    """
    if spec is None:
        return payload_hash
    if isinstance(spec, str):
        return field(spec)
    if not callable(spec):
        raise TypeError(f"idempotent(key=...) takes a field name, a dotted path or a callable, not {spec!r}")
    function = spec
    with_message = takes_message(function)

    def user_key(payload: Any, message: Message | None) -> str:
        value = function(payload, message) if with_message else function(payload)
        if value is None or value == "":
            raise PermanentError(
                f"idempotency key function {getattr(function, '__qualname__', function)!r} returned {value!r}: "
                "it must return a non-empty key for every record"
            )
        return key_text(value)

    return user_key


def namespaced(name: str, key: str) -> str:
    """The stored id of ``key`` under the function name ``name``: ``"{name}#{key}"``.

    Keys longer than :data:`MAX_KEY_LENGTH` are replaced by ``sha256:<hex>``.

    Example:
        >>> namespaced("charge-order", "o-1")
        'charge-order#o-1'
    """
    if len(key) > MAX_KEY_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{name}#{key}"


def default_name(function: Callable[..., Any]) -> str:
    """The namespace of a function decorated without ``name=``: ``module.qualname``.

    Example:
        >>> def charge(order): ...
        >>> default_name(charge)
        'msgworker.idempotency.keys.charge'
    """
    module = getattr(function, "__module__", None) or "unknown"
    qualname = getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or repr(function)
    return f"{module}.{qualname}".replace(".<locals>", "")


__all__ = [
    "MAX_KEY_LENGTH",
    "KeyFunction",
    "KeySpec",
    "canonical_json",
    "default_name",
    "field",
    "key_function",
    "key_text",
    "namespaced",
    "payload_hash",
]
