"""The per-record pipeline: decode → parse → call, over a chain of records in order.

A chain runs in batch order. When a record of an ordering key (FIFO group, or the whole
stream) fails, the rest of that key is not started; once the deadline has passed,
nothing more is started. Sequential running is one chain over the whole batch;
:mod:`msgworker._scheduling` spreads several chains over threads or tasks.

Every decision lives in :class:`Chain` (which record runs next, what a failure means);
the two drivers, :func:`run_chain` and :func:`run_chain_async`, only call or await the
record function, as httpx's ``Client`` and ``AsyncClient`` share one ``BaseClient``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

from pydantic import ValidationError

from ._layers import Clock, Item, _invocation, _record
from ._message import Message
from ._parsing import Parser
from .errors import NotStartedError, ParseError, PermanentError
from .sources import Ordering, Parts, Record, Source

Failures = dict[int, BaseException]
Items = Iterable[tuple[int, Record]]
RunItems = Callable[[Items, float], Failures]
"""``(items, deadline) -> failures``: runs ``(index, record)`` pairs in order."""
AsyncRunItems = Callable[[Items, float], Awaitable[Failures]]
KeyOf = Callable[[Record], object] | None

TOO_DEEP = (
    "payload is nested deeper than Python's recursion limit allows to decode; no retry can process it, "
    "so it fails permanently (send flatter data)"
)

_OUT_OF_TIME = "not started: the Lambda's remaining time was below the worker's timeout margin"

STREAM = object()
"""The one ordering key every record of a stream shares."""


def key_function(source: Source) -> KeyOf:
    """What orders records: None (independent), the FIFO group, or the whole stream."""
    if source.ordering is Ordering.BY_GROUP:
        return source.group_key
    if source.ordering is Ordering.STREAM:
        return lambda record: STREAM
    return None


class Step:
    """What running a record of ``source`` takes: decode, parse, the Message, the function.

    Built once per worker and source; shared by every chain of every batch.
    """

    __slots__ = (
        "clock",
        "decode",
        "describe",
        "failure",
        "from_text",
        "from_value",
        "function",
        "group_noun",
        "key_of",
        "name",
        "source_name",
        "wants_message",
    )

    def __init__(
        self, source: Source, parser: Parser, function: Callable[..., Any], wants_message: bool, clock: Clock
    ) -> None:
        self.decode, self.describe, self.source_name = source.decode, source.describe, source.name
        self.from_text, self.from_value, self.failure = parser.from_text, parser.from_value, parser.failure
        self.function = function
        self.wants_message = wants_message
        self.key_of = key_function(source)
        self.group_noun = source.group_noun
        self.clock = clock
        self.name = getattr(function, "__qualname__", repr(function))


class Chain:
    """The decisions for one chain of records: which record runs next, and what a failure
    means for the records after it. :attr:`failures` is the chain's outcome.

    Iterating a chain yields ``(payload, message)`` for each record to call, decoded and
    parsed; records passed over on the way (order blocked, not parsing, out of time) are
    reported in :attr:`failures`, and a driver reports a call's failure with :meth:`fail`.
    While a record runs, :attr:`current` is ``(index, record, payload, message)``: what
    :func:`~msgworker._layers.current_record` reads (one context variable set per chain).
    """

    __slots__ = ("_deadline", "_pending", "_step", "_stopped", "current", "failures")

    def __init__(self, step: Step, items: Items, deadline: float) -> None:
        self._step = step
        self._pending: Iterator[tuple[int, Record]] = iter(items)
        self._deadline = deadline
        self._stopped: set[object] = set()
        self.failures: Failures = {}
        self.current: tuple[int, Record, Any, Message] | None = None

    def __iter__(self) -> Iterator[tuple[Any, Message]]:
        # A generator, so the per-record work runs with its names bound once per chain.
        step, failures, stopped, deadline = self._step, self.failures, self._stopped, self._deadline
        clock, key_of, decode, describe, name = step.clock, step.key_of, step.decode, step.describe, step.source_name
        from_text, from_value, failure = step.from_text, step.from_value, step.failure
        pending = self._pending
        # Offloaded payloads, fetched for the whole batch before any chain ran (one context
        # variable read per chain; None, and one comparison per record, without pointers).
        invocation = _invocation.get()
        claims = invocation.claims if invocation is not None else None
        for index, record in pending:
            if clock() >= deadline:
                for position in (index, *(rest for rest, _ in pending)):
                    failures[position] = NotStartedError(_OUT_OF_TIME, reason="deadline")
                return
            if key_of is not None and (key := key_of(record)) in stopped:
                failures[index] = _blocked(key, step.group_noun)
                continue
            try:
                payload, serialised, inner = decode(record)
                claim = claims.get(index) if claims is not None else None
                if claim is not None:
                    payload, serialised = claim.resolve(), True
                if payload.__class__ is Parts:
                    parts: Parts = payload
                else:
                    try:
                        value = from_text(payload) if serialised else from_value(payload)
                    except ValidationError as error:
                        raise failure(error, payload) from None
            except RecursionError:
                # A body nested thousands deep (json.loads, an image's maps): no retry can
                # decode it, so it is permanent, like any payload that does not parse.
                self._failed(index, record, ParseError(TOO_DEEP))
                continue
            except Exception as error:
                self._failed(index, record, error)
                continue
            if payload.__class__ is Parts:
                yield from self._parts(index, record, parts)
                continue
            message = Message(record, name, describe if claim is None else claim.describe(describe), inner)
            self.current = (index, record, value, message)
            yield value, message
            self.current = None

    def _parts(self, index: int, record: Record, parts: Parts) -> Iterator[tuple[Any, Message]]:
        """Each payload of a record that carries several (S3 records in one SQS message),
        all of them even after one failed: they are independent, and the record fails
        (comes back whole) if any did. Out of time, the rest are not started."""
        step = self._step
        for payload, serialised, inner in parts:
            if step.clock() >= self._deadline:
                self._failed(index, record, NotStartedError(_OUT_OF_TIME, reason="deadline"))
                return
            try:
                try:
                    value = step.from_text(payload) if serialised else step.from_value(payload)
                except ValidationError as error:
                    raise step.failure(error, payload) from None
            except Exception as error:
                self._failed(index, record, error)
                continue
            message = Message(record, step.source_name, step.describe, inner)
            self.current = (index, record, value, message)
            yield value, message
            self.current = None

    def fail(self, error: BaseException) -> None:
        """The record being run failed with ``error``."""
        assert self.current is not None
        index, record, _, _ = self.current
        self._failed(index, record, error)

    def _failed(self, index: int, record: Record, error: BaseException) -> None:
        # A record with several parts keeps its first failure, unless that one was
        # permanent and a later one is not: the record is then worth retrying, not
        # dead-lettering.
        earlier = self.failures.get(index)
        if earlier is None or (isinstance(earlier, PermanentError) and not isinstance(error, PermanentError)):
            self.failures[index] = error
        key_of = self._step.key_of
        if key_of is not None and (key := key_of(record)) is not None:
            self._stopped.add(key)

    def unawaited(self, result: Any) -> None:
        """A plain function handed back an awaitable: its work has not run, so the record
        must fail rather than be reported done."""
        close = getattr(result, "close", None)
        if close is not None:
            close()  # no "never awaited" warning: the failure below says it instead
        self.fail(
            TypeError(
                f"record function {self._step.name!r} returned {type(result).__name__} instead of running: make "
                "the decorated function itself `async def` (or use functools.wraps in the decorator around it) "
                "so that worker awaits it"
            )
        )


def parsed(step: Step, records: Sequence[Record]) -> list[Item]:
    """Every record that decodes and parses (and could run: not behind an unparsable
    record of its FIFO group), for the layers' ``prepare`` hooks."""
    chain = Chain(step, enumerate(records), math.inf)
    return [Item(chain.current[0], payload, message) for payload, message in chain if chain.current is not None]


def run_chain(step: Step, items: Items, deadline: float) -> Failures:
    """Run ``items`` in order through a plain record function."""
    chain = Chain(step, items, deadline)
    function, wants_message = step.function, step.wants_message
    token = _record.set(chain)
    try:
        for payload, message in chain:
            try:
                result = function(payload, message) if wants_message else function(payload)
                if result is not None and inspect.isawaitable(result):
                    chain.unawaited(result)
            except Exception as error:
                chain.fail(error)
    finally:
        _record.reset(token)
    return chain.failures


async def run_chain_async(step: Step, items: Items, deadline: float) -> Failures:
    """:func:`run_chain` for an ``async def`` record function."""
    chain = Chain(step, items, deadline)
    function, wants_message = step.function, step.wants_message
    token = _record.set(chain)
    try:
        for payload, message in chain:
            try:
                await (function(payload, message) if wants_message else function(payload))
            except Exception as error:
                chain.fail(error)
    finally:
        _record.reset(token)
    return chain.failures


def _blocked(key: object, group_noun: str) -> NotStartedError:
    what = "the stream" if key is STREAM else f"{group_noun} {key!r}"
    return NotStartedError(
        f"not started: an earlier record of {what} failed in this batch, and running this one would break order",
        reason="order",
    )


__all__ = ["Chain", "Failures", "Items", "Step", "key_function", "parsed", "run_chain", "run_chain_async"]
