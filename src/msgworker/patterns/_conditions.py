"""Leaf conditions: what one entry of a pattern's value list accepts.

A condition is asked about every leaf value found at its field (a scalar, or the
elements of an array, flattened); ``values`` is empty when the field is absent. Each
condition keeps a short description of what it expects, for explanations; none of
them ever holds event data.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Hashable, Sequence
from typing import Any

Values = Sequence[Any]


def typed(value: Any) -> Hashable:
    """The key exact matching compares: the value itself for strings, and a tagged
    tuple otherwise, so that ``True`` never equals ``1`` nor ``"1"`` equals ``1``, while
    ``5`` and ``5.0`` are one number."""
    kind = value.__class__
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return ("bool", value)
    if kind is int or kind is float:
        return ("number", value)
    if value is None:
        return ("null",)
    return ("other", repr(value))


def leaf_values(value: Any) -> list[Any]:
    """The scalar values of an event field: itself, or an array's elements flattened.

    Objects are not leaves (AWS: conditions apply only to leaf nodes), so an object,
    or the objects inside an array, contribute nothing.
    """
    if value.__class__ is list:
        found: list[Any] = []
        for item in value:
            if item.__class__ is list:
                found.extend(leaf_values(item))
            elif not isinstance(item, dict):
                found.append(item)
        return found
    if isinstance(value, dict):
        return []
    return [value]


def is_number(value: Any) -> bool:
    kind = value.__class__
    return kind is int or kind is float


class Condition:
    """One entry of a leaf's value list. ``index`` is ``(kind, key)`` for conditions a
    :class:`PatternSet` can look up by value (``exact``, ``ci``, ``prefix``), else None."""

    __slots__ = ("description", "index")

    def __init__(self, description: str, index: list[tuple[str, Hashable]] | None = None):
        self.description = description
        self.index = index

    def test(self, values: Values) -> bool:
        raise NotImplementedError


class Exact(Condition):
    """The plain values of a list (strings, numbers, booleans, null), merged into one set."""

    __slots__ = ("keys",)

    def __init__(self, literals: Sequence[Any]):
        self.keys = frozenset(typed(literal) for literal in literals)
        shown = ", ".join(_show(literal) for literal in literals[:5]) + (", ..." if len(literals) > 5 else "")
        super().__init__(f"one of [{shown}]" if len(literals) > 1 else f"equal to {shown}")
        self.index = [("exact", key) for key in self.keys]

    def test(self, values: Values) -> bool:
        keys = self.keys
        for value in values:  # noqa: SIM110 - a loop, not any(): no generator per test on the hot path
            if (value if value.__class__ is str else typed(value)) in keys:
                return True
        return False


class Predicate(Condition):
    """Any value satisfies ``accepts`` (prefix, suffix, wildcard, numeric, cidr, ...)."""

    __slots__ = ("accepts",)

    def __init__(
        self, accepts: Callable[[Any], bool], description: str, index: list[tuple[str, Hashable]] | None = None
    ):
        super().__init__(description, index)
        self.accepts = accepts

    def test(self, values: Values) -> bool:
        accepts = self.accepts
        for value in values:  # noqa: SIM110 - as in Exact.test
            if accepts(value):
                return True
        return False


class Exists(Condition):
    """``exists: true`` (the field has a leaf value) or ``exists: false`` (it has none)."""

    __slots__ = ("null_is_absent", "present")

    def __init__(self, present: bool, *, null_is_absent: bool = False):
        super().__init__(f"exists: {'true' if present else 'false'}")
        self.present = present
        # SNS: "the key must have a non-null and non-empty value" for exists: true.
        self.null_is_absent = null_is_absent

    def test(self, values: Values) -> bool:
        if self.null_is_absent:
            values = [value for value in values if value is not None]
        return bool(values) is self.present


class AnythingBut(Condition):
    """The field has a value that ``excluded`` does not reject; an absent field fails
    (use ``exists: false`` beside it for that)."""

    __slots__ = ("excluded",)

    def __init__(self, excluded: Callable[[Any], bool], description: str):
        super().__init__(f"anything but {description}")
        self.excluded = excluded

    def test(self, values: Values) -> bool:
        excluded = self.excluded
        return any(not excluded(value) for value in values)


def strings(accepts: Callable[[str], bool]) -> Callable[[Any], bool]:
    """``accepts`` applied to string values only: string operators never match numbers."""
    return lambda value: value.__class__ is str and accepts(value)


def wildcard(text: str) -> Callable[[str], bool] | str:
    """A matcher for a wildcard value, or the reason it is invalid (AWS: ``*`` is any run
    of characters, ``\\*`` a literal star, ``\\\\`` a backslash; ``**`` is not allowed)."""
    parts: list[str] = []
    index, previous_star = 0, False
    while index < len(text):
        character = text[index]
        if character == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped not in ("*", "\\"):
                return "a backslash in a wildcard may only escape '*' or '\\'"
            parts.append(re.escape(escaped))
            index, previous_star = index + 2, False
            continue
        if character == "*":
            if previous_star:
                return "consecutive wildcard characters ('**') are not allowed"
            parts.append(".*")
            previous_star = True
        else:
            parts.append(re.escape(character))
            previous_star = False
        index += 1
    return re.compile("".join(parts), re.DOTALL).fullmatch  # type: ignore[return-value]


def cidr(text: str) -> Callable[[Any], bool] | str:
    """A matcher for IP addresses inside the network ``text``, or why it is invalid."""
    if "/" not in text:
        return "cidr needs a network in CIDR notation, e.g. '10.0.0.0/24' or '2001:db8::/32'"
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as error:
        return f"cidr {text!r} is not an IPv4 or IPv6 network ({error})"

    def inside(value: Any) -> bool:
        if value.__class__ is not str:
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == network.version and address in network

    return inside


def numeric_range(
    lower: tuple[float, bool] | None, upper: tuple[float, bool] | None, limit: float, decimals: int
) -> Callable[[Any], bool]:
    """A matcher for numbers within bounds ``(value, inclusive)``; like AWS, numbers are
    compared at ``decimals`` digits after the point, and numbers beyond ``limit`` never match."""

    def accepts(value: Any) -> bool:
        if not is_number(value) or not -limit <= value <= limit:
            return False
        value = round(value, decimals)
        if lower is not None and not (value >= lower[0] if lower[1] else value > lower[0]):
            return False
        return upper is None or (value <= upper[0] if upper[1] else value < upper[0])

    return accepts


def _show(literal: Any) -> str:
    if literal is None:
        return "null"
    if isinstance(literal, bool):
        return "true" if literal else "false"
    return repr(literal)
