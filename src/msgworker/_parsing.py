"""Turn a decoded payload into the value the record function receives.

``make_parser(model)`` is called once, when the worker is decorated; what it returns
is used on the per-record hot path, so it does as little as it can: one pydantic call
for JSON text, one for Python values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from .errors import ParseError


@dataclass(frozen=True, slots=True)
class Parser:
    """How one model is parsed. ``from_text`` takes str/bytes still to decode,
    ``from_value`` an already-decoded Python value; both may raise pydantic's
    ValidationError, which :meth:`failure` turns into a payload-free ParseError.

    They are plain callables (for pydantic models, the model's own validators) so that
    the per-record path adds no call of its own.
    """

    from_text: Callable[[Any], Any]
    from_value: Callable[[Any], Any]
    model_name: str
    include_input: bool = False

    def failure(self, error: ValidationError, payload: Any) -> ParseError:
        return validation_failure(error, self.model_name, payload, self.include_input)


def make_parser(model: Any, *, include_input: bool = False) -> Parser:
    """The parser for ``model``: a pydantic model, any type pydantic's TypeAdapter
    accepts, ``str``/``bytes`` for the raw text or data, or ``None`` for the decoded
    JSON (or the text when it is not JSON, or bytes when not UTF-8).

    ``include_input`` lets validation errors quote the offending values; it is off by
    default so that failure logs never carry payload content.

    Example:
        >>> make_parser(int).from_text("42")
        42
    """
    if model is None:
        return Parser(_parse_untyped, _identity, "JSON")
    if model is str:
        return Parser(_parse_text, _text_only, "str")
    if model is bytes:
        return Parser(_parse_bytes, _bytes_only, "bytes")
    name = getattr(model, "__name__", repr(model))
    if isinstance(model, type) and issubclass(model, BaseModel):
        if model.__pydantic_complete__:
            # The model's own validator, without the classmethod around it (a measurable
            # share of a quick record); an incomplete model (forward references) goes
            # through the classmethods, which rebuild it first.
            validator = model.__pydantic_validator__
            return Parser(validator.validate_json, validator.validate_python, name, include_input)
        return Parser(model.model_validate_json, model.model_validate, name, include_input)
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    return Parser(adapter.validate_json, adapter.validate_python, name, include_input)


def validation_failure(error: ValidationError, model_name: str, payload: Any, include_input: bool) -> ParseError:
    """A ParseError that says what was wrong without quoting the payload (unless asked)."""
    if isinstance(payload, str | bytes) and not payload.strip():
        return ParseError(f"payload is empty; expected JSON for {model_name}", original=error)
    if isinstance(payload, bytes):
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as bad:
            return ParseError(
                f"payload is not valid UTF-8 ({bad.reason} at byte {bad.start}); expected JSON for {model_name}",
                original=error,
            )
    details = error.errors(include_url=False, include_input=include_input, include_context=False)
    if len(details) == 1 and details[0]["type"] == "json_invalid":
        reason = details[0]["msg"].removeprefix("Invalid JSON: ")
        return ParseError(f"payload is not valid JSON for {model_name}: {reason}", errors=details, original=error)
    summary = "; ".join(_describe_error(detail, include_input) for detail in details)
    count = len(details)
    return ParseError(
        f"payload does not match {model_name}: {count} validation error{'s' if count != 1 else ''}: {summary}",
        errors=details,
        original=error,
    )


def _describe_error(detail: Any, include_input: bool) -> str:
    location = ".".join(str(part) for part in detail["loc"]) or "(root)"
    text = f"{location}: {detail['msg']} [{detail['type']}]"
    if include_input and "input" in detail:
        text += f" (input {detail['input']!r:.200})"
    return text


def _utf8(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as bad:
        raise ParseError(f"payload is not valid UTF-8 ({bad.reason} at byte {bad.start})") from None


def _identity(payload: Any) -> Any:
    return payload


def _parse_untyped(payload: Any) -> Any:
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload
    if not isinstance(payload, str):
        raise ParseError(f"payload is a {type(payload).__name__}, expected JSON text")
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def _parse_text(payload: Any) -> str:
    return _utf8(payload) if isinstance(payload, bytes) else _text_only(payload)


def _text_only(payload: Any) -> str:
    if isinstance(payload, str):
        return payload
    raise ParseError(f"payload is a {type(payload).__name__}, but the model is str")


def _parse_bytes(payload: Any) -> bytes:
    return payload.encode("utf-8") if isinstance(payload, str) else _bytes_only(payload)


def _bytes_only(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    raise ParseError(f"payload is a {type(payload).__name__}, but the model is bytes")
