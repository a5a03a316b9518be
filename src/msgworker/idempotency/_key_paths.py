"""Checks, at decoration, that an ``idempotent(key=...)`` path names a field the worker's
model can have: a key the payload cannot carry would fail every record at run time.

Apart from :mod:`._keys` because it reads types, not payloads: it runs once per decorator.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError


def check_path(model: Any, path: str, spec: str) -> None:
    """Raise :class:`~msgworker.errors.ConfigurationError` when ``path`` names a field that
    payloads parsed as ``model`` cannot have. Types whose fields are not known (``None``:
    any JSON, ``dict``, ``Any``, unions) are not checked."""
    current, walked = model, []
    for part in path.split("."):
        fields = _fields_of(current)
        if fields is None or (part not in fields and _has_attribute(current, part)):
            return  # not knowable here, or a property / computed attribute of the class
        walked.append(part)
        if part not in fields:
            where = _type_name(model) if len(walked) == 1 else f"{_type_name(current)} (at {'.'.join(walked[:-1])!r})"
            known = f"its fields: {', '.join(fields)}" if fields else "it has no fields"
            raise ConfigurationError(
                f"idempotent(key={spec!r}): {where} has no field {part!r} ({known}). Name a field of the payload "
                "(a dotted path for a nested one, e.g. key='customer.id'), or pass key= a callable taking the payload"
            )
        current = fields[part]


def _unwrap(kind: Any) -> Any:
    """``X`` for ``Annotated[X, ...]`` and ``X | None``; other unions stay as they are."""
    import types
    import typing

    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(kind)[0])
    if origin is typing.Union or origin is types.UnionType:
        others = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return _unwrap(others[0]) if len(others) == 1 else kind
    return kind


def _fields_of(kind: Any) -> dict[str, Any] | None:
    """The fields (name → type) of a payload type, ``{}`` for scalars, ``None`` when unknown."""
    import dataclasses
    import typing

    import typing_extensions

    kind = _unwrap(kind)
    if not isinstance(kind, type):
        return None
    fields_of_model = getattr(kind, "model_fields", None)
    if isinstance(fields_of_model, dict):  # a pydantic model
        return {name: info.annotation for name, info in fields_of_model.items()}
    # typing_extensions.TypedDict (what pydantic wants before Python 3.12) is not typing's.
    if typing_extensions.is_typeddict(kind) or dataclasses.is_dataclass(kind):
        try:
            return typing.get_type_hints(kind)
        except Exception:  # an annotation that does not resolve: not checked
            return None
    if kind in (str, bytes, int, float, bool):
        return {}
    return None


def _has_attribute(kind: Any, name: str) -> bool:
    kind = _unwrap(kind)
    return isinstance(kind, type) and hasattr(kind, name)


def _type_name(kind: Any) -> str:
    kind = _unwrap(kind)
    return getattr(kind, "__qualname__", None) or repr(kind)


__all__ = ["check_path"]
