"""The public pattern objects: EventPattern, FilterPolicy, PatternSet."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Generic, Literal, TypeVar

from ._compile import EVENTBRIDGE, LAMBDA_FILTER, SNS_ATTRIBUTES, SNS_BODY, Node, compile_pattern, load
from ._errors import InvalidPatternError
from ._evaluate import Explanation, as_object, explain, matches
from ._index import Index

K = TypeVar("K")
Scope = Literal["MessageAttributes", "MessageBody"]
Service = Literal["eventbridge", "lambda"]
SCOPES = ("MessageAttributes", "MessageBody")


class EventPattern:
    """An EventBridge event pattern (also Lambda event filtering's pattern language),
    checked and compiled once; :meth:`matches` answers as EventBridge would.

    ``pattern`` is a dict or its JSON text; an invalid one raises
    :class:`InvalidPatternError` here. ``event`` is a whole EventBridge event or any
    JSON object (Lambda event filtering applies patterns to records). With
    ``service="lambda"`` the pattern is checked as Lambda event filtering (and EventBridge
    Pipes) accept it: no ``wildcard``, and ``anything-but`` with values only.

    Example:
        >>> pattern = EventPattern({"source": ["com.example.orders"],
        ...                         "detail": {"total": [{"numeric": [">", 100]}]}})
        >>> pattern.matches({"source": "com.example.orders", "detail": {"total": 250}})
        True
        >>> pattern.matches({"source": "com.example.orders", "detail": {"total": 99}})
        False
    """

    __slots__ = ("_node", "pattern")

    def __init__(self, pattern: Mapping[str, Any] | str, *, service: Service = "eventbridge"):
        if service not in ("eventbridge", "lambda"):
            raise InvalidPatternError(f"service must be eventbridge or lambda, got {service!r}")
        dialect = EVENTBRIDGE if service == "eventbridge" else LAMBDA_FILTER
        self.pattern: dict[str, Any] = load(pattern, dialect)
        """The pattern as a plain dict."""
        self._node: Node = compile_pattern(self.pattern, dialect)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Does the pattern match ``event``?"""
        return matches(self._node, event)

    def explain(self, event: Mapping[str, Any]) -> Explanation:
        """Whether it matches and, if not, which fields failed which condition."""
        return explain(self._node, event)

    def __repr__(self) -> str:
        return f"EventPattern({json.dumps(self.pattern)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventPattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(json.dumps(self.pattern, sort_keys=True))


class FilterPolicy:
    """An SNS subscription filter policy, with SNS's rules and limits.

    ``scope="MessageAttributes"`` (SNS's default) matches message attributes in SNS form,
    ``{"name": {"Type": "String" | "Number" | "String.Array" | "Binary", "Value": "..."}}``
    (SQS's ``{"dataType": ..., "stringValue": ...}`` form, as Lambda receives raw
    deliveries, is read too); Binary attributes are ignored, as SNS does, and a message
    with no attributes matches no policy. ``scope="MessageBody"`` matches the message
    body: a JSON string, or already decoded; a body that is not a JSON object matches
    nothing.

    Example:
        >>> policy = FilterPolicy({"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}]})
        >>> policy.matches(attributes={"store": {"Type": "String", "Value": "example_corp"},
        ...                            "price_usd": {"Type": "Number", "Value": "210.75"}})
        True
        >>> FilterPolicy({"store": [{"prefix": "example"}]}, scope="MessageBody").matches(
        ...     body='{"store": "example_corp"}')
        True
    """

    __slots__ = ("_node", "policy", "scope")

    def __init__(self, policy: Mapping[str, Any] | str, scope: Scope = "MessageAttributes"):
        if scope not in SCOPES:
            raise InvalidPatternError(
                f"scope must be MessageAttributes or MessageBody, got {scope!r}", kind="filter policy"
            )
        dialect = SNS_ATTRIBUTES if scope == "MessageAttributes" else SNS_BODY
        self.scope: Scope = scope
        self.policy: dict[str, Any] = load(policy, dialect)
        """The policy as a plain dict."""
        self._node: Node = compile_pattern(self.policy, dialect)

    def matches(self, attributes: Mapping[str, Any] | None = None, body: Any = None) -> bool:
        """Does the policy accept a message with these ``attributes`` (scope
        MessageAttributes) or this ``body`` (scope MessageBody)?"""
        view = self._view(attributes, body)
        return view is not None and matches(self._node, view)

    def explain(self, attributes: Mapping[str, Any] | None = None, body: Any = None) -> Explanation:
        """Whether it matches and, if not, which attributes or fields failed which condition."""
        view = self._view(attributes, body)
        if view is None:
            reason = (
                "the message has no (non-Binary) attributes: SNS matches no attribute policy then, "
                "not even exists: false"
                if self.scope == "MessageAttributes"
                else "the message body is not a JSON object"
            )
            return Explanation(False, (reason,))
        return explain(self._node, view)

    def _view(self, attributes: Mapping[str, Any] | None, body: Any) -> Mapping[str, Any] | None:
        if self.scope == "MessageAttributes":
            view = attribute_values(attributes or {})
            return view or None
        if isinstance(body, str | bytes):
            try:
                body = json.loads(body)
            except ValueError:
                return None
        return body if isinstance(body, Mapping) else None

    def __repr__(self) -> str:
        return f"FilterPolicy({json.dumps(self.policy)}, scope={self.scope!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FilterPolicy) and (other.policy, other.scope) == (self.policy, self.scope)

    def __hash__(self) -> int:
        return hash((json.dumps(self.policy, sort_keys=True), self.scope))


def attribute_values(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SNS (or SQS) message attributes as the values a policy compares: String as text,
    Number as a number, String.Array as its list; Binary and unreadable ones left out.

    Example:
        >>> attribute_values({"n": {"Type": "Number", "Value": "3.015e2"}, "b": {"Type": "Binary", "Value": "AA=="}})
        {'n': 301.5}
    """
    values: dict[str, Any] = {}
    for name, attribute in attributes.items():
        if not isinstance(attribute, Mapping):
            continue
        kind = attribute.get("Type", attribute.get("dataType", attribute.get("DataType")))
        value = attribute.get("Value", attribute.get("stringValue", attribute.get("StringValue")))
        if not isinstance(kind, str) or not isinstance(value, str):
            continue
        base = kind.split(".", 1)[0]
        if kind == "String.Array" or kind == "Number.Array":
            try:
                items = json.loads(value)
            except ValueError:
                continue
            if isinstance(items, list):
                values[name] = items
        elif base == "Number":
            number = _number(value)
            if number is not None:
                values[name] = number
        elif base == "String":
            values[name] = value
    return values


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


class PatternSet(Generic[K]):
    """Many event patterns, each under a key, matched against an event at once.

    Patterns are indexed by field and value (see ``docs/decisions/0012-patterns.md``), so
    matching one event against a thousand patterns costs about what it costs against a
    few; the answer is always what matching each pattern alone would give, in the order
    the patterns were added.

    Example:
        >>> rules = PatternSet({"placed": {"detail-type": ["OrderPlaced"]},
        ...                     "big": {"detail": {"total": [{"numeric": [">", 100]}]}}})
        >>> rules.matching({"detail-type": "OrderPlaced", "detail": {"total": 250}})
        ['placed', 'big']
        >>> rules.first({"detail-type": "OrderShipped", "detail": {"total": 250}})
        'big'
    """

    def __init__(self, patterns: Mapping[K, EventPattern | Mapping[str, Any] | str] | None = None):
        self._keys: list[K] = []
        self._patterns: list[EventPattern] = []
        self._index = Index()
        for key, pattern in (patterns or {}).items():
            self.add(key, pattern)

    def add(self, key: K, pattern: EventPattern | Mapping[str, Any] | str) -> None:
        """Add ``pattern`` under ``key`` (keys need not be unique)."""
        compiled = pattern if isinstance(pattern, EventPattern) else EventPattern(pattern)
        self._index.add(compiled._node)
        self._keys.append(key)
        self._patterns.append(compiled)

    def matching(self, event: Mapping[str, Any]) -> list[K]:
        """The keys of every pattern that matches ``event``, in the order they were added."""
        return [self._keys[position] for position in self._matching_positions(event, first=False)]

    def first(self, event: Mapping[str, Any]) -> K | None:
        """The key of the first-added pattern that matches ``event``, or None."""
        positions = self._matching_positions(event, first=True)
        return self._keys[positions[0]] if positions else None

    def _matching_positions(self, event: Mapping[str, Any], *, first: bool) -> list[int]:
        event = as_object(event)
        found = []
        patterns = self._patterns
        for position in sorted(self._index.candidates(event)):
            if matches(patterns[position]._node, event):
                found.append(position)
                if first:
                    break
        return found

    def __len__(self) -> int:
        return len(self._patterns)

    def __iter__(self) -> Iterator[tuple[K, EventPattern]]:
        return iter(zip(self._keys, self._patterns, strict=True))
