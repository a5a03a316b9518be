"""Match a compiled pattern against a JSON object, and say why it did not match.

One walk serves both: with ``failures=None`` it stops at the first condition that
fails (matching), with a list it goes on and records each failure (explaining). The
records name field paths and the expected condition, never the event's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._compile import Node
from ._conditions import leaf_values

_MISSING = object()
_EMPTY: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Explanation:
    """Whether a pattern matched and, if not, each field whose condition failed.

    ``failures`` are lines such as ``detail.total: no value matches; expected numeric > 100``:
    field paths and the pattern's conditions, never values from the event. It is true
    when the pattern matched.

    Example:
        >>> from msgworker.patterns import EventPattern
        >>> pattern = EventPattern({"detail": {"total": [{"numeric": [">", 100]}]}})
        >>> print(pattern.explain({"detail": {"total": 5}}))
        no match
          detail.total: no value matches; expected numeric > 100
    """

    matched: bool
    failures: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.matched

    def __str__(self) -> str:
        if self.matched:
            return "match"
        return "\n  ".join(("no match", *self.failures))


def as_object(event: Any) -> dict[str, Any]:
    """The event as the dict matching walks (JSON objects decode to dicts; other
    mappings are copied once; anything else is an object with no fields)."""
    if isinstance(event, dict):
        return event
    return dict(event) if isinstance(event, Mapping) else _EMPTY


def matches(node: Node, event: Any) -> bool:
    return check(node, as_object(event), "", None)


def explain(node: Node, event: Any) -> Explanation:
    failures: list[str] = []
    if not isinstance(event, Mapping):
        failures.append("(the whole input): not a JSON object, so only exists: false conditions can hold")
    matched = check(node, as_object(event), "", failures)
    return Explanation(True) if matched else Explanation(False, tuple(failures))


def check(node: Node, event: dict[str, Any], where: str, failures: list[str] | None) -> bool:
    """Does ``event`` satisfy every leaf, branch and ``$or`` group of ``node``?"""
    matched = True
    for leaf in node.leaves:
        value = event.get(leaf.key, _MISSING)
        kind = value.__class__
        # Scalars are the common case: no call to flatten them.
        values = (
            [] if value is _MISSING else [value] if kind is str or kind is int or kind is float else leaf_values(value)
        )
        for condition in leaf.conditions:
            if condition.test(values):
                break
        else:
            if failures is None:
                return False
            matched = False
            expected = " or ".join(condition.description for condition in leaf.conditions)
            state = "missing" if value is _MISSING else "no value matches" if values else "has no leaf value"
            failures.append(f"{_join(where, leaf.key)}: {state}; expected {expected}")
    for branch in node.branches:
        path = _join(where, branch.key)
        value = event.get(branch.key, _MISSING)
        if isinstance(value, dict):  # JSON objects: isinstance on an ABC costs a microsecond
            ok = check(branch.node, value, path, failures)
        elif value.__class__ is list and (objects := _objects(value)):
            # Any one element must match the whole sub-pattern: fields from different
            # elements of an array never combine (event-ruler's array consistency).
            ok = any(check(branch.node, item, path, None) for item in objects)
            if not ok and failures is not None:
                for index, item in enumerate(objects):
                    check(branch.node, item, f"{path}[{index}]", failures)
        else:
            # No object here: only conditions that accept absence (exists: false) can hold.
            ok = check(branch.node, _EMPTY, path, failures)
        if not ok:
            if failures is None:
                return False
            matched = False
    for group in node.ors:
        if any(check(alternative, event, where, None) for alternative in group):
            continue
        if failures is None:
            return False
        matched = False
        failures.append(f"{where or '(top level)'}: none of the {len(group)} $or alternatives matched")
        for index, alternative in enumerate(group):
            inner: list[str] = []
            check(alternative, event, where, inner)
            failures.extend(f"  $or[{index}] {line}" for line in inner)
    return matched


def _objects(value: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, dict):
            found.append(item)
        elif item.__class__ is list:
            found.extend(_objects(item))
    return found


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
