"""The index of a :class:`PatternSet`: candidate patterns looked up by field and value.

Every pattern is filed under one *necessary* condition, a set of ``(path, kind, key)``
entries of which any event it matches must satisfy at least one: the exact values of
one of its fields (or their lowercase form for equals-ignore-case, or a prefix), or the
union over the alternatives of an ``$or``; of its fields, the one fewest other patterns
share. Matching an event then reads each indexed
path of the event once and looks its values up in a dict; only the patterns found (and
those with no indexable field, which are always checked) are matched in full. The cost
grows with the number of indexed paths and of candidates, not with the number of
patterns. aws/event-ruler compiles a whole automaton; one lookup level is enough here,
because routes and rules almost always pin an exact value (``source``, ``detail-type``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

from ._compile import Node
from ._conditions import leaf_values, typed

Path = tuple[str, ...]
Entry = tuple[Path, str, Hashable]


def options(node: Node, where: Path = ()) -> list[list[Entry]]:
    """Every entry set that is a necessary condition of ``node``: one per indexable field
    (exact values, lowercase values or prefixes), per nested object, and per ``$or`` whose
    alternatives all have one."""
    found: list[list[Entry]] = []
    for leaf in node.leaves:
        path = (*where, leaf.key)
        entries: list[Entry] = []
        for condition in leaf.conditions:
            if condition.index is None:
                break
            entries.extend((path, kind, key) for kind, key in condition.index)
        else:
            found.append(entries)
    for branch in node.branches:
        found.extend(options(branch.node, (*where, branch.key)))
    for group in node.ors:
        alternatives = [options(alternative, where) for alternative in group]
        if all(alternatives):
            found.append([entry for choices in alternatives for entry in min(choices, key=len)])
    return found


class Index:
    """Positions of patterns by the entries of their necessary condition.

    Which field a pattern is filed under is chosen over all patterns at once (rebuilt on
    the first lookup after a change): the option whose entries the fewest patterns share,
    so a field every pattern has (``source``) loses to the one that tells them apart
    (``detail-type``).
    """

    def __init__(self) -> None:
        self._options: list[list[list[Entry]]] = []
        self._built = True
        self._exact: dict[Path, dict[Hashable, list[int]]] = {}
        self._ci: dict[Path, dict[str, list[int]]] = {}
        self._prefix: dict[Path, tuple[dict[str, list[int]], set[int]]] = {}
        self._unindexed: list[int] = []

    def add(self, node: Node) -> None:
        self._options.append(options(node))
        self._built = False

    @property
    def unindexed(self) -> list[int]:
        """Positions checked for every event: patterns with no indexable condition."""
        self._build()
        return self._unindexed

    def _build(self) -> None:
        if self._built:
            return
        shared: dict[Entry, int] = {}
        for choices in self._options:
            for entry in {entry for option in choices for entry in option}:
                shared[entry] = shared.get(entry, 0) + 1
        self._exact, self._ci, self._prefix, self._unindexed = {}, {}, {}, []
        for position, choices in enumerate(self._options):
            if not choices:
                self._unindexed.append(position)
                continue
            # Exact lookups are cheapest; then the entries the fewest other patterns share.
            best = min(
                choices,
                key=lambda option: (
                    any(kind != "exact" for _, kind, _ in option),
                    sum(shared[entry] for entry in option),
                ),
            )
            for path, kind, key in set(best):
                if kind == "exact":
                    self._exact.setdefault(path, {}).setdefault(key, []).append(position)
                elif kind == "ci":
                    self._ci.setdefault(path, {}).setdefault(str(key), []).append(position)
                else:
                    table, lengths = self._prefix.setdefault(path, ({}, set()))
                    table.setdefault(str(key), []).append(position)
                    lengths.add(len(str(key)))
        self._built = True

    def candidates(self, event: dict[str, Any]) -> set[int]:
        """Positions of the patterns that may match ``event`` (a superset of those that do)."""
        self._build()
        found = set(self._unindexed)
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


def _values_at(event: dict[str, Any], path: Path) -> Iterator[Any]:
    """The leaf values at ``path``, descending through arrays as matching does."""
    level: list[Any] = [event]
    for key in path:
        following: list[Any] = []
        for item in level:
            if isinstance(item, dict) and key in item:
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
