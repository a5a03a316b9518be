"""Check a pattern or filter policy and compile it into a tree of conditions.

All checking happens here, once, when a pattern is built: matching then only walks
the tree. The two dialects (EventBridge event patterns, which Lambda event filtering
shares, and SNS filter policies) differ only in the :class:`Dialect` values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ._conditions import AnythingBut, Condition, Exact, Exists, Predicate, cidr, numeric_range, strings, typed, wildcard
from ._errors import InvalidPatternError

OR = "$or"


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one AWS service accepts."""

    kind: str
    """How errors name the pattern: ``event pattern`` or ``filter policy``."""
    numeric_limit: float
    decimals: int
    wildcard: bool
    nested: bool
    max_length: int
    max_keys: int | None = None
    max_combinations: int | None = None
    exists_needs_value: bool = False
    anything_but_operators: bool = True
    """``anything-but`` with prefix, suffix, wildcard or equals-ignore-case (not only values)."""


# EventBridge: numbers within ±5.0e9 with six digits after the point (aws/event-ruler),
# PutRule's EventPattern is at most 4096 characters.
EVENTBRIDGE = Dialect("event pattern", 5.0e9, 6, wildcard=True, nested=True, max_length=4096)
# Lambda event filtering and EventBridge Pipes filters (eb-create-pattern-operators: "Pipe
# support: No" for wildcard and anything-but's prefix, suffix, ignore-case and wildcard forms).
LAMBDA_FILTER = replace(EVENTBRIDGE, kind="Lambda filter pattern", wildcard=False, anything_but_operators=False)
# SNS (subscription-filter-policy-constraints): numbers within ±1e9, five digits after the
# point, at most 5 keys and 150 combinations of values, 256 KB; no wildcard operator;
# exists: true needs a non-null value.
SNS_ATTRIBUTES = Dialect(
    "filter policy",
    1.0e9,
    5,
    wildcard=False,
    nested=False,
    max_length=256 * 1024,
    max_keys=5,
    max_combinations=150,
    exists_needs_value=True,
)
SNS_BODY = replace(SNS_ATTRIBUTES, nested=True)


@dataclass(frozen=True, slots=True)
class Leaf:
    key: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Branch:
    key: str
    node: Node


@dataclass(frozen=True, slots=True)
class Node:
    """One object of a pattern: every leaf, branch and ``$or`` group must match."""

    leaves: tuple[Leaf, ...]
    branches: tuple[Branch, ...]
    ors: tuple[tuple[Node, ...], ...]


def load(source: Mapping[str, Any] | str, dialect: Dialect) -> dict[str, Any]:
    """The pattern as a dict (parsed when given as JSON text), its size checked."""
    if isinstance(source, str | bytes):
        try:
            pattern = json.loads(source)
        except ValueError as error:
            raise InvalidPatternError(f"not valid JSON ({error})", kind=dialect.kind) from None
        length = len(source)
    elif isinstance(source, Mapping):
        pattern = _plain(source)
        length = len(json.dumps(pattern, separators=(",", ":")))
    else:
        raise InvalidPatternError(f"expected a JSON object or its text, got {type(source).__name__}", kind=dialect.kind)
    if not isinstance(pattern, dict):
        raise InvalidPatternError(f"must be a JSON object, got {_json_type(pattern)}", kind=dialect.kind)
    if length > dialect.max_length:
        raise InvalidPatternError(
            f"is {length} characters long; AWS accepts at most {dialect.max_length}", kind=dialect.kind
        )
    return pattern


def compile_pattern(pattern: Mapping[str, Any], dialect: Dialect) -> Node:
    """The condition tree of a loaded pattern; raises :class:`InvalidPatternError`."""
    node = _Compiler(dialect).node(pattern, "", depth=0)
    if dialect.max_keys is not None:
        keys = _top_keys(pattern)
        if len(keys) > dialect.max_keys:
            raise InvalidPatternError(
                f"has {len(keys)} keys ({', '.join(sorted(keys))}); SNS accepts at most {dialect.max_keys}",
                kind=dialect.kind,
            )
    if dialect.max_combinations is not None:
        combinations = _combinations(pattern)
        if combinations > dialect.max_combinations:
            raise InvalidPatternError(
                f"has {combinations} combinations of values (the product of the lengths of its value lists); "
                f"SNS accepts at most {dialect.max_combinations}",
                kind=dialect.kind,
            )
    return node


class _Compiler:
    def __init__(self, dialect: Dialect):
        self.dialect = dialect

    def fail(self, message: str, where: str) -> InvalidPatternError:
        return InvalidPatternError(message, where=where, kind=self.dialect.kind)

    def node(self, pattern: Mapping[str, Any], where: str, depth: int) -> Node:
        if not pattern:
            raise self.fail("an empty object matches nothing; name at least one field", where)
        leaves: list[Leaf] = []
        branches: list[Branch] = []
        ors: list[tuple[Node, ...]] = []
        for key, value in pattern.items():
            path = f"{where}.{key}" if where else key
            if key == OR and _is_or(value):
                ors.append(tuple(self.node(item, f"{path}[{i}]", depth) for i, item in enumerate(value)))
            elif isinstance(value, dict):
                if not self.dialect.nested:
                    raise self.fail(
                        "attribute filter policies cannot be nested (for a message body policy, "
                        "use FilterPolicyScope MessageBody)",
                        path,
                    )
                branches.append(Branch(key, self.node(value, path, depth + 1)))
            elif isinstance(value, list):
                leaves.append(Leaf(key, self.leaf(value, path)))
            else:
                raise self.fail(
                    f"a field's value must be a list of match values (e.g. [{json.dumps(value)}]) "
                    f"or an object, got {_json_type(value)}",
                    path,
                )
        return Node(tuple(leaves), tuple(branches), tuple(ors))

    def leaf(self, values: list[Any], where: str) -> tuple[Condition, ...]:
        if not values:
            raise self.fail("an empty list of match values matches nothing", where)
        literals: list[Any] = []
        conditions: list[Condition] = []
        for index, value in enumerate(values):
            if isinstance(value, dict):
                conditions.append(self.operator(value, f"{where}[{index}]"))
            elif isinstance(value, list):
                raise self.fail("match values cannot be nested lists", f"{where}[{index}]")
            elif isinstance(value, float) and not math.isfinite(value):
                raise self.fail("numbers must be finite", f"{where}[{index}]")
            else:
                literals.append(value)
        if literals:
            conditions.insert(0, Exact(literals))
        return tuple(conditions)

    def operator(self, spec: Mapping[str, Any], where: str) -> Condition:
        if len(spec) != 1:
            names = ", ".join(sorted(spec)) or "none"
            raise self.fail(f"an operator object has exactly one operator, got {len(spec)} ({names})", where)
        ((name, argument),) = spec.items()
        build = _OPERATORS.get(name)
        if build is None or (name == "wildcard" and not self.dialect.wildcard):
            known = ", ".join(op for op in _OPERATORS if self.dialect.wildcard or op != "wildcard")
            raise self.fail(f"unknown operator {name!r} for an AWS {self.dialect.kind} (known: {known})", where)
        condition: Condition = build(self, argument, where)
        return condition

    # -- operators ------------------------------------------------------------------------

    def string(self, argument: Any, operator: str, where: str) -> str:
        if not isinstance(argument, str):
            raise self.fail(f"{operator} takes a string, got {_json_type(argument)}", where)
        return argument

    def prefix_or_suffix(self, argument: Any, where: str, operator: str) -> Condition:
        take = str.startswith if operator == "prefix" else str.endswith
        if isinstance(argument, dict) and set(argument) == {"equals-ignore-case"}:
            text = self.string(argument["equals-ignore-case"], f"{operator} equals-ignore-case", where).lower()
            return Predicate(strings(lambda v: take(v.lower(), text)), f"{operator} {text!r} ignoring case")
        text = self.string(argument, operator, where)
        index: list[tuple[str, Any]] | None = [("prefix", text)] if operator == "prefix" else None
        return Predicate(strings(lambda v: take(v, text)), f"{operator} {text!r}", index)

    def equals_ignore_case(self, argument: Any, where: str) -> Condition:
        text = self.string(argument, "equals-ignore-case", where).lower()
        return Predicate(strings(lambda v: v.lower() == text), f"equal to {text!r} ignoring case", [("ci", text)])

    def wildcard(self, argument: Any, where: str) -> Condition:
        text = self.string(argument, "wildcard", where)
        matcher = wildcard(text)
        if isinstance(matcher, str):
            raise self.fail(matcher, where)
        return Predicate(strings(matcher), f"wildcard {text!r}")

    def cidr(self, argument: Any, where: str) -> Condition:
        matcher = cidr(self.string(argument, "cidr", where))
        if isinstance(matcher, str):
            raise self.fail(matcher, where)
        return Predicate(matcher, f"an IP address in {argument}")

    def exists(self, argument: Any, where: str) -> Condition:
        if not isinstance(argument, bool):
            raise self.fail(f"exists takes true or false, got {_json_type(argument)}", where)
        return Exists(argument, null_is_absent=self.dialect.exists_needs_value and argument)

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(f"numeric bounds must be JSON numbers, got {_json_type(value)}", where)
        limit = self.dialect.numeric_limit
        if not -limit <= value <= limit:
            raise self.fail(f"numeric matching accepts numbers between {-limit:g} and {limit:g}, got {value}", where)
        return round(float(value), self.dialect.decimals)

    def numeric(self, argument: Any, where: str) -> Condition:
        usage = "numeric takes an operator and a number, or a lower and an upper bound, e.g. ['>', 0, '<=', 5]"
        if not isinstance(argument, list) or len(argument) not in (2, 4):
            raise self.fail(usage, where)
        lower: tuple[float, bool] | None = None
        upper: tuple[float, bool] | None = None
        for position in range(0, len(argument), 2):
            operator, value = argument[position], self.number(argument[position + 1], where)
            if operator == "=" and len(argument) == 2:
                lower = upper = (value, True)
            elif operator in (">", ">=") and lower is None:
                lower = (value, operator == ">=")
            elif operator in ("<", "<=") and upper is None:
                upper = (value, operator == "<=")
            else:
                raise self.fail(f"{usage}; {operator!r} is not allowed here", where)
        if (
            lower is not None
            and upper is not None
            and len(argument) == 4
            and (lower[0] > upper[0] or (lower[0] == upper[0] and not (lower[1] and upper[1])))
        ):
            raise self.fail("the lower bound of a numeric range must be below its upper bound", where)
        description = " and ".join(f"{op} {bound:g}" for op, bound in _bound_texts(argument, lower, upper))
        dialect = self.dialect
        return Predicate(numeric_range(lower, upper, dialect.numeric_limit, dialect.decimals), f"numeric {description}")

    def anything_but(self, argument: Any, where: str) -> Condition:
        if isinstance(argument, dict):
            return self.anything_but_operator(argument, where)
        values = argument if isinstance(argument, list) else [argument]
        if not values:
            raise self.fail("anything-but needs at least one value", where)
        kinds = {"string" if isinstance(v, str) else "number" if _is_json_number(v) else "other" for v in values}
        if kinds not in ({"string"}, {"number"}):
            raise self.fail("anything-but takes a string, a number, or a list of only strings or only numbers", where)
        if kinds == {"number"}:
            for value in values:
                self.number(value, where)
        keys = frozenset(typed(value) for value in values)
        shown = ", ".join(json.dumps(value) for value in values[:5]) + (", ..." if len(values) > 5 else "")
        return AnythingBut(lambda value: typed(value) in keys, f"[{shown}]")

    def anything_but_operator(self, argument: Mapping[str, Any], where: str) -> Condition:
        if not self.dialect.anything_but_operators:
            raise self.fail("Lambda event filtering and Pipes take anything-but with values only", where)
        if len(argument) != 1:
            raise self.fail("anything-but takes one operator: prefix, suffix, wildcard or equals-ignore-case", where)
        ((name, value),) = argument.items()
        if name in ("prefix", "suffix"):
            text = self.string(value, f"anything-but {name}", where)
            take = str.startswith if name == "prefix" else str.endswith
            return AnythingBut(strings(lambda v: take(v, text)), f"{name} {text!r}")
        if name in ("wildcard", "equals-ignore-case"):
            if name == "wildcard" and not self.dialect.wildcard:
                raise self.fail(f"an AWS {self.dialect.kind} has no wildcard operator", where)
            texts = value if isinstance(value, list) else [value]
            if not texts:
                raise self.fail(f"anything-but {name} needs at least one string", where)
            for text in texts:
                self.string(text, f"anything-but {name}", where)
            if name == "wildcard":
                matchers = [wildcard(text) for text in texts]
                for matcher in matchers:
                    if isinstance(matcher, str):
                        raise self.fail(matcher, where)
                rejects = [strings(m) for m in matchers if not isinstance(m, str)]
                return AnythingBut(lambda v: any(reject(v) for reject in rejects), f"wildcard {texts}")
            lowered = frozenset(text.lower() for text in texts)
            return AnythingBut(strings(lambda v: v.lower() in lowered), f"{sorted(lowered)} ignoring case")
        raise self.fail(
            f"anything-but does not take {name!r}; it takes values, or prefix, suffix, wildcard or equals-ignore-case",
            where,
        )


_OPERATORS: dict[str, Callable[[_Compiler, Any, str], Condition]] = {
    "prefix": lambda c, a, w: c.prefix_or_suffix(a, w, "prefix"),
    "suffix": lambda c, a, w: c.prefix_or_suffix(a, w, "suffix"),
    "equals-ignore-case": _Compiler.equals_ignore_case,
    "wildcard": _Compiler.wildcard,
    "anything-but": _Compiler.anything_but,
    "numeric": _Compiler.numeric,
    "exists": _Compiler.exists,
    "cidr": _Compiler.cidr,
}


def _bound_texts(
    argument: list[Any], lower: tuple[float, bool] | None, upper: tuple[float, bool] | None
) -> list[tuple[str, float]]:
    if len(argument) == 2 and argument[0] == "=":
        return [("=", argument[1])]
    texts = []
    if lower is not None:
        texts.append((">=" if lower[1] else ">", lower[0]))
    if upper is not None:
        texts.append(("<=" if upper[1] else "<", upper[0]))
    return texts


def _is_or(value: Any) -> bool:
    """aws/event-ruler reads ``$or`` as OR only when it holds a list of two or more
    objects that name no operator; otherwise ``$or`` is an ordinary field name."""
    return (
        isinstance(value, list)
        and len(value) >= 2
        and all(isinstance(item, dict) and not (set(item) & set(_OPERATORS)) for item in value)
    )


def _is_json_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _top_keys(pattern: Mapping[str, Any]) -> set[str]:
    keys: set[str] = set()
    for key, value in pattern.items():
        if key == OR and _is_or(value):
            for item in value:
                keys |= _top_keys(item)
        else:
            keys.add(key)
    return keys


def _combinations(pattern: Any) -> int:
    """SNS's complexity: the product of the lengths of the value lists, an ``$or`` adding
    up the combinations of its alternatives."""
    total = 1
    for key, value in pattern.items():
        if key == OR and _is_or(value):
            total *= sum(_combinations(item) for item in value)
        elif isinstance(value, dict):
            total *= _combinations(value)
        elif isinstance(value, list):
            total *= max(len(value), 1)
    return total


def _plain(value: Any) -> Any:
    """A mapping given in Python, as the JSON AWS would receive (tuples become lists)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"
