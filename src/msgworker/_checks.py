"""Checks of decorator options, made when the decorator is applied (at the handler module's
import), each failing with a :class:`~msgworker.errors.ConfigurationError` that names the
option, what it accepts and what it got.

A mistake in an option then stops the deploy's first import rather than failing every
record at run time (and, with ``dead_letter=True``, sending each one to the DLQ).

Example:
    >>> seconds("idempotent", "ttl", 60)
    60
    >>> seconds("idempotent", "ttl", "1h")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    msgworker.errors.ConfigurationError: idempotent(ttl=...) must be a positive number of seconds ..., got '1h' (str)
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, TypeVar

from .errors import ConfigurationError

T = TypeVar("T")


def _got(value: object) -> str:
    return f"got {value!r} ({type(value).__name__})"


def _is_number(value: object) -> bool:
    # bool is an int, but ttl=True is a slip, not one second.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def seconds(decorator: str, option: str, value: T, *, zero: bool = False, none: str | None = None) -> T:
    """``value`` if it is a finite number of seconds, > 0 (>= 0 with ``zero``); ``None``
    passes when ``none`` says what it means."""
    if value is None and none is not None:
        return value
    if not _is_number(value) or value < 0 or (value == 0 and not zero):  # type: ignore[operator]
        bound = "a number of seconds >= 0" if zero else "a positive number of seconds"
        alternative = f", or None ({none})" if none is not None else ""
        raise ConfigurationError(
            f"{decorator}({option}=...) must be {bound} (an int or float, e.g. {option}={_example(option)})"
            f"{alternative}, {_got(value)}"
        )
    return value


def whole(decorator: str, option: str, value: T, *, minimum: int, meaning: str = "") -> T:
    """``value`` if it is an ``int`` (not a bool) >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        note = f" ({meaning})" if meaning else ""
        raise ConfigurationError(f"{decorator}({option}=...) must be a whole number >= {minimum}{note}, {_got(value)}")
    return value


def choice(decorator: str, option: str, value: T, choices: Collection[str]) -> T:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ConfigurationError(f"{decorator}({option}=...) must be one of {listed}, {_got(value)}")
    return value


def flag(decorator: str, option: str, value: T) -> T:
    """``value`` if it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{decorator}({option}=...) must be True or False, {_got(value)}")
    return value


def exception_types(decorator: str, option: str, value: Any, *, base: type[BaseException] = BaseException) -> Any:
    """``value`` as a tuple of exception classes (a single class is accepted too)."""
    types = value if isinstance(value, tuple) else (value,)
    for kind in types:
        if not (isinstance(kind, type) and issubclass(kind, base)):
            raise ConfigurationError(
                f"{decorator}({option}=...) takes exception classes (or a tuple of them), e.g. "
                f"{option}=(ConnectionError, TimeoutError); got {kind!r}"
            )
    return types


def _example(option: str) -> str:
    return {"ttl": "3600", "lease": "60", "recovery_timeout": "30"}.get(option, "5")


__all__ = ["choice", "exception_types", "flag", "seconds", "whole"]
