"""Turn a decoded payload into the value the record function receives.

``make_parser(model)`` is called once, when the worker is decorated; what it returns
is used on the per-record hot path, so it does as little as it can: one pydantic call
for JSON text, one for Python values.
"""

from __future__ import annotations

import functools
import json
import typing
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

    model: Any = None
    """What is parsed into: its schema's field names are the locations errors may name."""

    def failure(self, error: ValidationError, payload: Any) -> ParseError:
        return validation_failure(error, self.model_name, payload, self.include_input, schema_names(self.model))


def make_parser(model: Any, *, include_input: bool = False, deserializer: Callable[[Any], Any] | None = None) -> Parser:
    """The parser for ``model``: a pydantic model, any type pydantic's TypeAdapter
    accepts, ``str``/``bytes`` for the raw text or data, or ``None`` for the decoded
    JSON (or the text when it is not JSON, or bytes when not UTF-8).

    ``include_input`` lets validation errors quote the offending values; it is off by
    default so that failure logs never carry payload content. ``deserializer`` (the
    worker's ``value_deserializer``) turns a payload still to decode (bytes of a Kafka
    value or Kinesis record, text of an SQS body) into the value validated against
    ``model``.

    Example:
        >>> make_parser(int).from_text("42")
        42
    """
    if deserializer is not None:
        plain = make_parser(model, include_input=include_input)
        from_text = _deserializing(deserializer, plain.from_value, include_input)
        return Parser(from_text, plain.from_value, plain.model_name, include_input, plain.model)
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
            return Parser(validator.validate_json, validator.validate_python, name, include_input, model)
        return Parser(model.model_validate_json, model.model_validate, name, include_input, model)
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    return Parser(adapter.validate_json, adapter.validate_python, name, include_input, model)


def _deserializing(
    deserializer: Callable[[Any], Any], from_value: Callable[[Any], Any], include_input: bool
) -> Callable[[Any], Any]:
    name = getattr(deserializer, "__qualname__", repr(deserializer))

    def from_text(payload: Any) -> Any:
        try:
            value = deserializer(payload)
        except ParseError:
            raise
        except Exception as error:
            # The deserializer's own message may quote the payload: only with log_payload.
            detail = f": {error}" if include_input else ""
            raise ParseError(
                f"value_deserializer {name} could not read the payload ({type(error).__name__}{detail})",
                original=error,
            ) from None
        return from_value(value)

    return from_text


def validation_failure(
    error: ValidationError, model_name: str, payload: Any, include_input: bool, names: frozenset[str] | None = None
) -> ParseError:
    """A ParseError that says what was wrong without quoting the payload (unless asked).

    Without ``include_input``, locations name only the model's own fields (``names``, from
    its schema; without it, identifier-like parts): a dict key, a key that
    ``extra="forbid"`` rejected or a union tag is data, shown as ``*``; and messages that
    quote input (a discriminator's tag, a validator's own text) are replaced by their type.
    """
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
    if not include_input:
        details = [_payload_free(detail, names) for detail in details]
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


# pydantic's messages that quote input (a tag, the text of a validator or of a parser).
_QUOTES_INPUT = frozenset(
    {"union_tag_invalid", "value_error", "assertion_error", "get_attribute_error", "uuid_parsing", "url_parsing"}
)


def _payload_free(detail: Any, names: frozenset[str] | None) -> Any:
    kind = detail["type"]
    last = len(detail["loc"]) - 1
    loc = tuple(
        part
        if isinstance(part, int)
        or (
            (part in names if names is not None else part.isidentifier())
            and not (kind == "extra_forbidden" and position == last)
        )
        else "*"
        for position, part in enumerate(detail["loc"])
    )
    message = detail["msg"]
    if kind in _QUOTES_INPUT or kind not in _known_error_types():
        message = f"{kind.replace('_', ' ')} (its text is withheld: it may quote the payload)"
    return {**detail, "loc": loc, "msg": message}


@functools.cache
def _known_error_types() -> frozenset[str]:
    from pydantic_core.core_schema import ErrorType

    return frozenset(typing.get_args(ErrorType))


def schema_names(model: Any) -> frozenset[str] | None:
    """Every name the model's JSON schema gives (fields, aliases, titles, tags), or ``None``
    when it has no schema; worked out on the first failure, then kept."""
    try:
        return _schema_names(model)
    except TypeError:  # not hashable: work it out each time (only on failures)
        return _schema_names.__wrapped__(model)


@functools.lru_cache(maxsize=256)
def _schema_names(model: Any) -> frozenset[str] | None:
    if model is None:
        return None
    try:
        schema = TypeAdapter(model).json_schema()
    except Exception:  # a type without a JSON schema: fall back to identifier-like parts
        return None
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("properties", "$defs") and isinstance(value, dict):
                    names.update(value)
                elif key in ("title", "const", "propertyName") and isinstance(value, str):
                    names.add(value)
                elif key == "enum" and isinstance(value, list):
                    names.update(item for item in value if isinstance(item, str))
                elif key == "mapping" and isinstance(value, dict):
                    names.update(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return frozenset(names)


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
