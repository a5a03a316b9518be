"""The index of a :class:`PatternSet`: candidate patterns looked up by field and value.

Every pattern is reduced to one *necessary* condition, a set of ``(path, kind, key)``
entries of which any event it matches must satisfy at least one: the exact values of
one of its fields (or their lowercase form for equals-ignore-case, or a prefix), the
union over the alternatives of an ``$or``. Matching an event then reads each indexed
path of the event once and looks its values up in a dict; only the patterns found (and
those with no indexable field, which are always checked) are matched in full. The cost
grows with the number of indexed paths and of candidates, not with the number of
patterns. aws/event-ruler compiles a whole automaton; one lookup level is enough here,
because routes and rules almost always pin an exact value (``source``, ``detail-type``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from ._compile import Node
from ._conditions import leaf_values, typed

Path = tuple[str, ...]
Entry = tuple[Path, str, Hashable]


def necessary(node: Node, where: Path = ()) -> list[Entry] | None:
    """Entries one of which every event matching ``node`` satisfies; None if no such set
    can be drawn from exact values, lowercase values or prefixes."""
    best: list[Entry] | None = None

    def consider(entries: list[Entry] | None) -> None:
        nonlocal best
        if entries is not None and (best is None or _rank(entries) < _rank(best)):
            best = entries

    for leaf in node.leaves:
        path = (*where, leaf.key)
        entries: list[Entry] = []
        for condition in leaf.conditions:
            if condition.index is None:
                break
            entries.extend((path, kind, key) for kind, key in condition.index)
        else:
            consider(entries)
    for branch in node.branches:
        consider(necessary(branch.node, (*where, branch.key)))
    for group in node.ors:
        alternatives = [necessary(alternative, where) for alternative in group]
        if all(entries is not None for entries in alternatives):
            consider([entry for entries in alternatives if entries is not None for entry in entries])
    return best


def _rank(entries: list[Entry]) -> tuple[bool, int]:
    # Exact values first (one dict lookup each), then the fewest entries.
    return (any(kind != "exact" for _, kind, _ in entries), len(entries))


class Index:
    """Positions of patterns by the entries of their necessary condition."""

    def __init__(self) -> None:
        self._exact: dict[Path, dict[Hashable, list[int]]] = {}
        self._ci: dict[Path, dict[str, list[int]]] = {}
        self._prefix: dict[Path, tuple[dict[str, list[int]], set[int]]] = {}
        self.unindexed: list[int] = []
        """Positions checked for every event: patterns with no indexable condition."""

    def add(self, position: int, node: Node) -> None:
        entries = necessary(node)
        if entries is None:
            self.unindexed.append(position)
            return
        for path, kind, key in set(entries):
            if kind == "exact":
                self._exact.setdefault(path, {}).setdefault(key, []).append(position)
            elif kind == "ci":
                self._ci.setdefault(path, {}).setdefault(str(key), []).append(position)
            else:
                table, lengths = self._prefix.setdefault(path, ({}, set()))
                table.setdefault(str(key), []).append(position)
                lengths.add(len(str(key)))

    def candidates(self, event: Mapping[str, Any]) -> set[int]:
        """Positions of the patterns that may match ``event`` (a superset of those that do)."""
        found = set(self.unindexed)
        for path, table in self._exact.items():
            for value in _values_at(event, path):
                positions = table.get(typed(value))
                if positions:
                    found.update(positions)
        for path, folded in self._ci.items():
            for value in _values_at(event, path):
                if value.__class__ is str and (positions := folded.get(value.lower())):
                    found.update(positions)
        for path, (prefixes, lengths) in self._prefix.items():
            for value in _values_at(event, path):
                if value.__class__ is str:
                    for length in lengths:
                        if len(value) >= length and (positions := prefixes.get(value[:length])):
                            found.update(positions)
        return found


def _values_at(event: Mapping[str, Any], path: Path) -> Iterator[Any]:
    """The leaf values at ``path``, descending through arrays as matching does."""
    level: list[Any] = [event]
    for key in path:
        following: list[Any] = []
        for item in level:
            if isinstance(item, Mapping) and key in item:
                value = item[key]
                if value.__class__ is list:
                    following.extend(_flatten(value))
                else:
                    following.append(value)
            # lists inside lists were flattened above; scalars have no fields
        level = following
        if not level:
            return iter(())
    return iter(leaf_values(level))


def _flatten(value: list[Any]) -> Iterator[Any]:
    for item in value:
        if item.__class__ is list:
            yield from _flatten(item)
        else:
            yield item
