"""What identifies a call for idempotency: keys, the payload hash, namespacing.

:class:`CallKeys` turns what a user passes to ``idempotent(key=...)`` into the key and
the validation hash of one call, for the decorated function's own signature:

- a field name or dotted path (``"order_id"``, ``"order.customer.id"``): when its first
  name is a parameter of the function, the path starts at that argument; otherwise at
  the first argument (the payload of a record function). Each step reads attributes of
  models and items of mappings alike (:func:`field`);
- a callable: called with the function's own arguments; on a record function under
  ``worker`` a callable taking two positional parameters gets ``(payload, message)``;
- ``None``: the SHA-256 of the canonical JSON of the payload (of the arguments, for a
  function that is not a record function).

Stored ids are ``"{name}#{key}"`` (:func:`namespaced`), so functions sharing one table
never see each other's keys.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from .._layers import positional_arity
from .._message import Message
from ..errors import ConfigurationError, PermanentError
from ._key_paths import check_path

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
    data = payload if isinstance(payload, bytes) else _utf8(canonical_json(payload))
    return hashlib.sha256(data).hexdigest()


def _utf8(text: str) -> bytes:
    # "surrogatepass": a lone surrogate ("\ud800", which json.loads accepts) still has
    # bytes to hash, where strict UTF-8 would fail every call carrying it.
    return text.encode("utf-8", "surrogatepass")


def _storable(text: str) -> bool:
    """Can ``text`` go to DynamoDB as it is (valid UTF-8: no lone surrogate)?"""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
        if not isinstance(self.path, str) or not self.path or any(not part for part in self.path.split(".")):
            raise ConfigurationError(
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


def check_key(spec: object) -> None:
    """Refuse a malformed ``key=`` when the handler module is imported."""
    if spec is None or callable(spec):
        return
    if not isinstance(spec, str):
        raise ConfigurationError(
            f"idempotent(key=...) takes a field name, a dotted path or a callable, not {type(spec).__name__}"
        )
    field(spec)


class CallKeys:
    """The key and the validation hash of each call of one decorated function.

    Example:
        >>> def charge(order_id: str, amount: float, *, currency: str = "EUR") -> None: ...
        >>> keys = CallKeys("order_id", charge)
        >>> keys.of_call(("o-1", 5.0), {"currency": "USD"})[0]
        'o-1'
        >>> CallKeys("customer.id", lambda order: None).of_record({"customer": {"id": 7}}, None)[0]
        '7'
    """

    def __init__(self, spec: KeySpec, function: Callable[..., Any]) -> None:
        check_key(spec)
        self._spec = spec
        try:
            self._signature: inspect.Signature | None = inspect.signature(function)
        except (TypeError, ValueError):
            self._signature = None
        parameters = list(self._signature.parameters.values()) if self._signature is not None else []
        self._record_takes_message = (positional_arity(function) or 0) >= 2
        self._names = {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        self._root: str | None = None
        self._path: field | None = None
        if isinstance(spec, str):
            first, _, rest = spec.partition(".")
            if first in self._names:
                self._root, self._path = first, field(rest) if rest else None
            elif self._signature is not None and not parameters:
                raise ConfigurationError(
                    f"idempotent(key={spec!r}) names a field of the first argument, but "
                    f"{getattr(function, '__qualname__', function)!r} takes no arguments: pass key= a callable"
                )
            else:
                self._path = field(spec)
        self._key_takes_message = callable(spec) and (positional_arity(spec) or 1) >= 2
        positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self._payload_parameter = positional[0] if positional else None

    def check_model(self, model: Any) -> None:
        """Refuse, when ``worker`` wraps the function, a key path the payloads of ``model``
        cannot have: it would fail every record at run time (and with
        ``dead_letter=True`` send every one to the DLQ).

        Example:
            >>> from pydantic import BaseModel
            >>> class Order(BaseModel):
            ...     order_id: str
            >>> CallKeys("payment_id", lambda order: None).check_model(Order)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            msgworker.errors.ConfigurationError: idempotent(key='payment_id'): Order has no field 'payment_id' ...
        """
        spec = self._spec
        if not isinstance(spec, str):
            return
        if self._root is None:
            path = spec
        elif self._root == self._payload_parameter and self._path is not None:
            path = self._path.path
        else:
            return  # the key is a whole argument, or a path into one that is not the payload
        check_path(model, path, spec)

    def of_record(self, payload: Any, message: Message | None) -> tuple[str, str]:
        """The key and payload hash of a record function called by ``worker``."""
        validation = payload_hash(payload)
        spec = self._spec
        if spec is None:
            return validation, validation
        if callable(spec):
            value = spec(payload, message) if self._key_takes_message else spec(payload)
            return _checked(spec, value), validation
        args = (payload, message) if self._record_takes_message else (payload,)
        return self._from_path(args, {}), validation

    def of_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str]:
        """The key and arguments hash of any other call of the function."""
        validation = arguments_hash(self._bound(args, kwargs))
        spec = self._spec
        if spec is None:
            return validation, validation
        if callable(spec):
            return _checked(spec, spec(*args, **kwargs)), validation
        return self._from_path(args, kwargs), validation

    def _bound(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self._signature is None:
            return {**{str(i): value for i, value in enumerate(args)}, **kwargs}
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError:
            return {**{str(i): value for i, value in enumerate(args)}, **kwargs}  # the call itself will say why
        bound.apply_defaults()
        return dict(bound.arguments)

    def _from_path(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if self._root is not None:
            value = self._bound(args, kwargs).get(self._root)
            if self._path is None:
                if value is None or value == "":
                    raise PermanentError(
                        f"idempotency key argument {self._root!r} is missing or empty: every call needs a value there"
                    )
                return key_text(value)
            return self._path(value)
        assert self._path is not None
        if not args:
            raise PermanentError(
                f"idempotency key {self._path.path!r} is read from the first argument, and the call passed none"
            )
        return self._path(args[0])


def arguments_hash(arguments: Mapping[str, Any]) -> str:
    """The hash of a call: of its one argument as :func:`payload_hash` has it (so a record
    function called directly hashes as under ``worker``), else of the arguments that have
    a JSON form (models, dataclasses, mappings, sequences, scalars). Others (clients,
    sessions, callables) are left out, so two calls with equal data hash alike.

    Example:
        >>> arguments_hash({"order": {"id": 1}}) == payload_hash({"id": 1})
        True
        >>> arguments_hash({"order_id": "o-1", "client": object()}) == arguments_hash({"order_id": "o-1", "n": 1})
        False
    """
    if len(arguments) == 1:
        return payload_hash(next(iter(arguments.values())))
    return payload_hash({name: value for name, value in arguments.items() if _has_json_form(value)})


def _has_json_form(value: Any) -> bool:
    if value is None or isinstance(value, str | bytes | bool | int | float | Decimal | UUID | Enum):
        return True
    if isinstance(value, Mapping | list | tuple):
        return True
    from datetime import date, time

    if isinstance(value, date | time):
        return True
    import dataclasses

    return dataclasses.is_dataclass(value) or hasattr(value, "model_dump")


def _checked(function: Callable[..., Any], value: Any) -> str:
    if value is None or value == "":
        raise PermanentError(
            f"idempotency key function {getattr(function, '__qualname__', function)!r} returned an empty key: "
            "it must return a non-empty key for every call"
        )
    return key_text(value)


def namespaced(name: str, key: str) -> str:
    """The stored id of ``key`` under the function name ``name``: ``"{name}#{key}"``.

    Keys longer than :data:`MAX_KEY_LENGTH`, and keys that are not valid UTF-8 (a lone
    surrogate, which no DynamoDB string can hold), are replaced by ``sha256:<hex>``.

    Example:
        >>> namespaced("charge-order", "o-1")
        'charge-order#o-1'
        >>> namespaced("charge-order", chr(0xD800))[:20]
        'charge-order#sha256:'
    """
    if len(key) > MAX_KEY_LENGTH or not _storable(key):
        key = "sha256:" + hashlib.sha256(_utf8(key)).hexdigest()
    return f"{name}#{key}"


def default_name(function: Callable[..., Any]) -> str:
    """The namespace of a function decorated without ``name=``: ``module.qualname``.

    Example:
        >>> def charge(order): ...
        >>> default_name(charge)
        'msgworker.idempotency._keys.charge'
    """
    module = getattr(function, "__module__", None) or "unknown"
    qualname = getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or repr(function)
    return f"{module}.{qualname}".replace(".<locals>", "")


__all__ = [
    "MAX_KEY_LENGTH",
    "CallKeys",
    "KeyFunction",
    "KeySpec",
    "arguments_hash",
    "canonical_json",
    "check_key",
    "check_path",
    "default_name",
    "field",
    "key_text",
    "namespaced",
    "payload_hash",
]
