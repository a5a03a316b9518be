"""``Router``: send each record to the first route whose event pattern or filter policy
matches it, each route with its own model.

    router = Router()

    @router.route({"detail-type": ["OrderPlaced"], "detail": {"total": [{"numeric": [">", 100]}]}}, model=Order)
    def high_value(order: Order) -> None: ...

    handler = worker(router)

A route's pattern applies to what AWS would apply it to (docs/patterns.md says what, per source); the
event-pattern routes are matched together through a :class:`~msgworker.patterns.PatternSet`,
so many routes cost about what a few do. The guide is ``docs/patterns.md``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from ._layers import is_async
from ._message import Message
from ._parsing import Parser, make_parser
from ._worker import wants_message
from .errors import PermanentError
from .patterns import EventPattern, FilterPolicy, PatternSet
from .patterns._api import Scope

F = TypeVar("F", bound=Callable[..., Any])


class NoRouteError(PermanentError):
    """No route of a :class:`Router` matched the record (and ``unmatched="fail"``).

    A :class:`~msgworker.errors.PermanentError`: the same record will never match on a
    retry. The message names the routes tried, never values from the record.
    """


@dataclass(frozen=True, slots=True)
class _Route:
    name: str
    function: Callable[..., Any]
    parser: Parser
    pattern: EventPattern | None
    policy: FilterPolicy | None
    takes_message: bool

    @property
    def condition(self) -> str:
        if self.pattern is not None:
            return "event pattern"
        if self.policy is not None:
            return f"filter policy on {self.policy.scope}"
        return "every record"

    def call(self, payload: Any, message: Message) -> Any:
        parser = self.parser
        try:
            value = parser.from_text(payload) if isinstance(payload, bytes) else parser.from_value(payload)
        except ValidationError as error:
            raise parser.failure(error, payload) from None
        return self.function(value, message) if self.takes_message else self.function(value)


class Router:
    """Routes records to functions by EventBridge event pattern or SNS filter policy.

    Routes are tried in the order they were registered and the first match wins; a record
    no route matches fails with :class:`NoRouteError` (a ``PermanentError``), or counts
    as done with ``unmatched="skip"``. ``worker(router)`` makes the router a Lambda
    handler for every source msgworker knows.

    Example:
        >>> from msgworker import worker
        >>> from msgworker.testing import eventbridge_event
        >>> router = Router()
        >>> @router.route({"detail-type": ["OrderPlaced"], "detail": {"total": [{"numeric": [">", 100]}]}})
        ... def high_value(detail: dict) -> None:
        ...     print("high value", detail["order_id"])
        >>> @router.route({"detail-type": ["OrderPlaced"]})
        ... def any_order(detail: dict) -> None:
        ...     print("order", detail["order_id"])
        >>> handler = worker(router)
        >>> handler(eventbridge_event({"order_id": "o-1", "total": 250}, detail_type="OrderPlaced"))
        high value o-1
        >>> handler(eventbridge_event({"order_id": "o-2", "total": 5}, detail_type="OrderPlaced"))
        order o-2
    """

    def __init__(self, *, unmatched: Literal["fail", "skip"] = "fail"):
        if unmatched not in ("fail", "skip"):
            raise ValueError(f"unmatched must be 'fail' or 'skip', got {unmatched!r}")
        self.unmatched = unmatched
        self._routes: list[_Route] = []
        # Event-pattern routes go through the index, keyed by route position; the others
        # (filter policies, catch-alls) are few and checked in order.
        self._patterns: PatternSet[int] = PatternSet()
        self._others: list[int] = []

    def route(
        self,
        pattern: EventPattern | Mapping[str, Any] | str | None = None,
        *,
        policy: FilterPolicy | Mapping[str, Any] | str | None = None,
        scope: Scope = "MessageAttributes",
        model: Any = None,
        name: str | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function for records matching ``pattern`` (an
        EventBridge event pattern) or ``policy`` (an SNS filter policy with ``scope``);
        with neither, for every record (a catch-all, put it last).

        ``model`` parses the payload for this route as ``worker(model)`` would. The
        function takes the parsed payload and optionally the :class:`Message`, and is
        returned unchanged. An invalid pattern or policy raises
        :class:`~msgworker.patterns.InvalidPatternError` here.
        """
        if pattern is not None and policy is not None:
            raise ValueError("a route takes an event pattern or a filter policy, not both")
        compiled_pattern = pattern if isinstance(pattern, EventPattern | None) else EventPattern(pattern)
        if policy is not None and not isinstance(policy, FilterPolicy):
            policy = FilterPolicy(policy, scope=scope)

        def register(function: F) -> F:
            position = len(self._routes)
            self._routes.append(
                _Route(
                    name=name or getattr(function, "__name__", None) or repr(function),
                    function=function,
                    parser=make_parser(model),
                    pattern=compiled_pattern,
                    policy=policy,
                    takes_message=wants_message(function),
                )
            )
            if compiled_pattern is not None:
                self._patterns.add(position, compiled_pattern)
            else:
                self._others.append(position)
            return function

        return register

    @property
    def routes(self) -> tuple[str, ...]:
        """The route names, in the order they are tried."""
        return tuple(route.name for route in self._routes)

    def select(self, payload: Any, message: Message) -> str | None:
        """The name of the route a record would take, or None (for tests and tools)."""
        route = self._select(payload, message)
        return route.name if route is not None else None

    def __msgworker_record_function__(self) -> Callable[..., Any]:
        """The record function ``worker(router)`` runs: ``(payload, message)``, where the
        payload is what ``worker(model=None)`` decodes. ``async def`` when any route is."""
        if not self._routes:
            raise ValueError("this Router has no routes: register some with @router.route(...) first")
        select, unmatched = self._select, self._unmatched

        if any(is_async(route.function) for route in self._routes):

            async def route_record_async(payload: Any, message: Message) -> Any:
                route = select(payload, message)
                if route is None:
                    return unmatched(message)
                result = route.call(payload, message)
                return await result if inspect.isawaitable(result) else result

            return route_record_async

        def route_record(payload: Any, message: Message) -> Any:
            route = select(payload, message)
            if route is None:
                return unmatched(message)
            return route.call(payload, message)

        return route_record

    def __call__(self, payload: Any, message: Message) -> Any:
        """Route one decoded payload, as ``worker(router)`` does (handy in unit tests)."""
        return self.__msgworker_record_function__()(payload, message)

    def _select(self, payload: Any, message: Message) -> _Route | None:
        view = _pattern_view(payload, message)
        found = self._patterns.first(view) if len(self._patterns) else None
        for position in self._others:
            if found is not None and position > found:
                break
            policy = self._routes[position].policy
            if policy is None or _policy_matches(policy, payload, message):
                found = position
                break
        return None if found is None else self._routes[found]

    def _unmatched(self, message: Message) -> None:
        if self.unmatched == "skip":
            return None
        tried = ", ".join(f"{index}: {route.name} ({route.condition})" for index, route in enumerate(self._routes))
        chain = " → ".join(name for name, _ in _chain(message))
        raise NoRouteError(f"no route matched this record ({chain}); routes tried in order: {tried}")

    def __repr__(self) -> str:
        return f"Router(routes={list(self.routes)!r}, unmatched={self.unmatched!r})"


def _pattern_view(payload: Any, message: Message) -> Mapping[str, Any]:
    """What AWS applies an event pattern to, for a record: the whole EventBridge event
    (also inside an SQS body); the SNS message body; for plain SQS bodies and streams the
    record as Lambda event filtering sees it, with the decoded ``body`` (SQS), ``data``
    (Kinesis, its ``kinesis`` fields at the top), the decoded ``value`` (Kafka) or as it is
    (DynamoDB, ``dynamodb``; an S3 record; through EventBridge, the whole event)."""
    name, data = _chain(message)[-1]
    if name == "eventbridge":
        return data
    if name == "sns":
        return payload if isinstance(payload, dict) else {}
    if name == "sqs":
        return {**data, "body": payload}
    if name == "kinesis":
        kinesis = data.get("kinesis")
        return {**(kinesis if isinstance(kinesis, dict) else {}), "data": payload}
    if name == "kafka":
        return {**data, "value": payload}
    return data


def _chain(message: Message) -> list[tuple[str, Mapping[str, Any]]]:
    """The delivery chain, outermost first: the record, then the envelopes found inside it.

    Read from the Message's own slots rather than ``message.envelopes``, which would work
    out every Message field (timestamps, attributes) of each record routed: a third of
    the cost of routing a record.
    """
    return [(message.source, message.raw), *((envelope.name, envelope.data) for envelope in message._inner)]


def _policy_matches(policy: FilterPolicy, payload: Any, message: Message) -> bool:
    if policy.scope == "MessageBody":
        return policy.matches(body=payload)
    return policy.matches(attributes=_sns_attributes(message))


def _sns_attributes(message: Message) -> Mapping[str, Any]:
    """The message attributes SNS filtered on: the SNS notification's, or for raw
    delivery to SQS (and plain SQS), the SQS record's, which carry the same values."""
    for name, data in reversed(_chain(message)):
        if name == "sns":
            notification = data.get("Sns", data)
            attributes = notification.get("MessageAttributes") if isinstance(notification, dict) else None
            return attributes if isinstance(attributes, dict) else {}
        if name == "sqs":
            attributes = data.get("messageAttributes")
            return attributes if isinstance(attributes, dict) else {}
    return {}


__all__ = ["NoRouteError", "Router"]
