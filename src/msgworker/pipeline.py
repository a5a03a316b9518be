"""The per-record pipeline: decode → parse → call, over a chain of records in order.

A chain runs in batch order. When a record of an ordering key (FIFO group, or the
whole stream) fails, the rest of that key is not started; once the deadline has passed,
nothing more is started. Sequential running is one chain over the whole batch;
:mod:`msgworker.scheduling` spreads several chains over threads or tasks.

The loop and the pipeline are written out flat in one function because they run once
per record: a call layer per stage would cost more than the bookkeeping of a batch.
The sync and async loops are the same code, one calling and one awaiting; the fused
loop is the sync one with the layers' fast path added (tests/test_fusion.py checks that
it behaves exactly as the sync loop through the layers' wrappers). A change to one loop
belongs in all three.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from .errors import NotStartedError
from .layers import Fusion
from .message import Message
from .parsing import Parser
from .sources import Ordering, Record, Source

Failures = dict[int, BaseException]
Items = Iterable[tuple[int, Record]]
RunItems = Callable[[Items, float], Failures]
"""``(items, deadline) -> failures``: runs ``(index, record)`` pairs in order."""
AsyncRunItems = Callable[[Items, float], Awaitable[Failures]]
FusedRunItems = Callable[[Items, float, list[float]], Failures]
"""``(items, deadline, window) -> failures``: :data:`RunItems` for fused layers, bypassed
while ``time.monotonic() < window[0]``."""
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


def blocked(key: object) -> NotStartedError:
    what = "the stream" if key is STREAM else f"message group {key!r}"
    return NotStartedError(
        f"not started: an earlier record of {what} failed in this batch, and running this one would break order",
        reason="order",
    )


def out_of_time(failures: Failures, index: int, pending: Iterator[tuple[int, Record]]) -> None:
    """Report the record at ``index`` and every one after it as not started."""
    for position in (index, *(rest for rest, _ in pending)):
        failures[position] = NotStartedError(
            "not started: the Lambda's remaining time was below the worker's timeout margin", reason="deadline"
        )


def unawaited(result: Any, function: Callable[..., Any]) -> TypeError:
    """A plain function handed back an awaitable: its work has not run, so the record
    must fail rather than be reported done."""
    close = getattr(result, "close", None)
    if close is not None:
        close()  # no "never awaited" warning: the failure below says it instead
    return TypeError(
        f"record function {getattr(function, '__qualname__', function)!r} returned {type(result).__name__} "
        "instead of running: make the decorated function itself `async def` (or use functools.wraps in the "
        "decorator around it) so that worker awaits it"
    )


def sync_pipeline(source: Source, parser: Parser, function: Callable[..., Any], wants_message: bool) -> RunItems:
    """The loop for a plain record function on records of ``source``."""
    decode, describe, name = source.decode, source.describe, source.name
    from_text, from_value, failure = parser.from_text, parser.from_value, parser.failure
    key_of = key_function(source)
    clock = time.monotonic

    def run_items(items: Items, deadline: float) -> Failures:
        failures: Failures = {}
        stopped: set[object] = set()
        pending = iter(items)
        for index, record in pending:
            if clock() >= deadline:
                out_of_time(failures, index, pending)
                break
            if key_of is not None and (key := key_of(record)) in stopped:
                failures[index] = blocked(key)
                continue
            try:
                payload, serialised, inner = decode(record)
                try:
                    value = from_text(payload) if serialised else from_value(payload)
                except ValidationError as error:
                    raise failure(error, payload) from None
                result = function(value, Message(record, name, describe, inner)) if wants_message else function(value)
                if result is not None and inspect.isawaitable(result):
                    raise unawaited(result, function)
            except Exception as error:
                failures[index] = error
                if key_of is not None and (key := key_of(record)) is not None:
                    stopped.add(key)
        return failures

    return run_items


def fused_pipeline(source: Source, parser: Parser, function: Callable[..., Any], fusion: Fusion) -> FusedRunItems:
    """:func:`sync_pipeline` for a function whose layers all have a fast path (see
    :class:`~msgworker.layers.Fusion`).

    ``window`` is a one-element list shared by every thread of the batch: the monotonic
    time until which the layers are healthy (never after the deadline). Before it, a record
    calls the innermost function directly and only an exception goes through the layers'
    error handling; from it on, records go through ``function`` (the layers' wrappers, which
    check their state on every call). The clock is read once per record either way, as
    :func:`sync_pipeline` does for the deadline alone.
    """
    decode, describe, name = source.decode, source.describe, source.name
    from_text, from_value, failure = parser.from_text, parser.from_value, parser.failure
    inner, passes_message, recover = fusion.inner, fusion.passes_message, fusion.recover
    key_of = key_function(source)
    clock = time.monotonic

    def run_items(items: Items, deadline: float, window: list[float]) -> Failures:
        failures: Failures = {}
        stopped: set[object] = set()
        pending = iter(items)
        for index, record in pending:
            now = clock()
            fast = now < window[0]
            if not fast and now >= deadline:
                out_of_time(failures, index, pending)
                break
            if key_of is not None and (key := key_of(record)) in stopped:
                failures[index] = blocked(key)
                continue
            try:
                payload, serialised, inner_record = decode(record)
                try:
                    value = from_text(payload) if serialised else from_value(payload)
                except ValidationError as error:
                    raise failure(error, payload) from None
                message = Message(record, name, describe, inner_record)
                if fast:
                    try:
                        result = inner(value, message) if passes_message else inner(value)
                    except Exception as error:
                        # A failure may change a layer's state (a breaker trips): from now on
                        # every record of the batch, on every thread, goes through the wrappers.
                        window[0] = -math.inf
                        result = recover(error, value, message, now)
                else:
                    result = function(value, message)
                if result is not None and inspect.isawaitable(result):
                    raise unawaited(result, function)
            except Exception as error:
                failures[index] = error
                if key_of is not None and (key := key_of(record)) is not None:
                    stopped.add(key)
        return failures

    return run_items


def async_pipeline(
    source: Source, parser: Parser, function: Callable[..., Awaitable[Any]], wants_message: bool
) -> AsyncRunItems:
    """:func:`sync_pipeline` for an ``async def`` record function."""
    decode, describe, name = source.decode, source.describe, source.name
    from_text, from_value, failure = parser.from_text, parser.from_value, parser.failure
    key_of = key_function(source)
    clock = time.monotonic

    async def run_items(items: Items, deadline: float) -> Failures:
        failures: Failures = {}
        stopped: set[object] = set()
        pending = iter(items)
        for index, record in pending:
            if clock() >= deadline:
                out_of_time(failures, index, pending)
                break
            if key_of is not None and (key := key_of(record)) in stopped:
                failures[index] = blocked(key)
                continue
            try:
                payload, serialised, inner = decode(record)
                try:
                    value = from_text(payload) if serialised else from_value(payload)
                except ValidationError as error:
                    raise failure(error, payload) from None
                if wants_message:
                    await function(value, Message(record, name, describe, inner))
                else:
                    await function(value)
            except Exception as error:
                failures[index] = error
                if key_of is not None and (key := key_of(record)) is not None:
                    stopped.add(key)
        return failures

    return run_items
