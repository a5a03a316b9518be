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
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from ._layers import Clock, Item, _record
from .errors import NotStartedError
from .message import Message
from .parsing import Parser
from .sources import Ordering, Record, Source

Failures = dict[int, BaseException]
Items = Iterable[tuple[int, Record]]
RunItems = Callable[[Items, float], Failures]
"""``(items, deadline) -> failures``: runs ``(index, record)`` pairs in order."""
AsyncRunItems = Callable[[Items, float], Awaitable[Failures]]
KeyOf = Callable[[Record], object] | None

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
    """How one record of ``source`` becomes a call: decode, parse, build its Message.

    Built once per worker and source; shared by every chain of every batch.
    """

    __slots__ = ("clock", "function", "key_of", "name", "parser", "source", "wants_message")

    def __init__(
        self, source: Source, parser: Parser, function: Callable[..., Any], wants_message: bool, clock: Clock
    ) -> None:
        self.source = source
        self.parser = parser
        self.function = function
        self.wants_message = wants_message
        self.key_of = key_function(source)
        self.clock = clock
        self.name = getattr(function, "__qualname__", repr(function))

    def item(self, index: int, record: Record) -> Item:
        """The record decoded and parsed (raises the record's failure)."""
        source, parser = self.source, self.parser
        payload, serialised, inner = source.decode(record)
        try:
            value = parser.from_text(payload) if serialised else parser.from_value(payload)
        except ValidationError as error:
            raise parser.failure(error, payload) from None
        return Item(index, value, Message(record, source.name, source.describe, inner))

    def arguments(self, item: Item) -> tuple[Any, ...]:
        return (item.payload, item.message) if self.wants_message else (item.payload,)


class Chain:
    """The decisions for one chain of records: which record runs next, and what a
    failure means for the records after it. :attr:`failures` is the chain's outcome."""

    __slots__ = ("_deadline", "_pending", "_step", "_stopped", "failures")

    def __init__(self, step: Step, items: Items, deadline: float) -> None:
        self._step = step
        self._pending: Iterator[tuple[int, Record]] = iter(items)
        self._deadline = deadline
        self._stopped: set[object] = set()
        self.failures: Failures = {}

    def next(self) -> Item | None:
        """The next record to call (parsed), or ``None`` when the chain is over. Records
        passed over on the way (order blocked, not parsing, out of time) are reported."""
        step, failures, key_of = self._step, self.failures, self._step.key_of
        for index, record in self._pending:
            if step.clock() >= self._deadline:
                for position in (index, *(rest for rest, _ in self._pending)):
                    failures[position] = NotStartedError(
                        "not started: the Lambda's remaining time was below the worker's timeout margin",
                        reason="deadline",
                    )
                return None
            if key_of is not None and (key := key_of(record)) in self._stopped:
                failures[index] = _blocked(key)
                continue
            try:
                return step.item(index, record)
            except Exception as error:
                self.failed(index, record, error)
        return None

    def failed(self, index: int, record: Record, error: BaseException) -> None:
        self.failures[index] = error
        key_of = self._step.key_of
        if key_of is not None and (key := key_of(record)) is not None:
            self._stopped.add(key)

    def done(self, item: Item, result: Any) -> None:
        """A plain function handed back an awaitable: its work has not run, so the record
        must fail rather than be reported done."""
        if result is not None and inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()  # no "never awaited" warning: the failure below says it instead
            error = TypeError(
                f"record function {self._step.name!r} returned {type(result).__name__} instead of running: make "
                "the decorated function itself `async def` (or use functools.wraps in the decorator around it) "
                "so that worker awaits it"
            )
            self.failed(item.index, item.message.raw, error)


def run_chain(step: Step, items: Items, deadline: float) -> Failures:
    """Run ``items`` in order through a plain record function."""
    chain = Chain(step, items, deadline)
    function, arguments = step.function, step.arguments
    while (item := chain.next()) is not None:
        token = _record.set(item)
        try:
            chain.done(item, function(*arguments(item)))
        except Exception as error:
            chain.failed(item.index, item.message.raw, error)
        finally:
            _record.reset(token)
    return chain.failures


async def run_chain_async(step: Step, items: Items, deadline: float) -> Failures:
    """:func:`run_chain` for an ``async def`` record function."""
    chain = Chain(step, items, deadline)
    function, arguments = step.function, step.arguments
    while (item := chain.next()) is not None:
        token = _record.set(item)
        try:
            await function(*arguments(item))
        except Exception as error:
            chain.failed(item.index, item.message.raw, error)
        finally:
            _record.reset(token)
    return chain.failures


def _blocked(key: object) -> NotStartedError:
    what = "the stream" if key is STREAM else f"message group {key!r}"
    return NotStartedError(
        f"not started: an earlier record of {what} failed in this batch, and running this one would break order",
        reason="order",
    )


__all__ = ["Chain", "Failures", "Items", "Step", "key_function", "run_chain", "run_chain_async"]
