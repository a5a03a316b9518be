"""The contract between ``worker`` and the per-record decorators (``idempotent``,
``circuit_breaker``, ``retry``).

A layer is a decorator for *any* function: its wrapper takes ``*args, **kwargs``, keeps
the wrapped signature (``functools.wraps``) and is marked with :func:`mark_layer`, so that
``worker`` finds the layer objects of a record function by following ``__wrapped__``.
Nothing else about a layer's calling convention is special; what it learns about the
batch comes from two context variables and two optional hooks:

- **The invocation.** While ``worker`` runs a batch, :func:`current_invocation` returns an
  :class:`Invocation`: the Lambda deadline, the source, per-batch state and counters that
  end up as metrics. Outside ``worker`` it returns ``None``; layers then use their own
  defaults.
- **The record.** While ``worker`` calls a record function, :func:`current_record` returns
  the :class:`Item` being run (its index, parsed payload and :class:`~msgworker.Message`):
  a layer logs the message id from it, whichever function it wraps, and a layer on the
  record function itself recognises its call by ``args[0] is item.payload``.
- **Batch hooks.** A layer object may have ``prepare(batch)`` and ``finish(batch)``
  (:class:`Batch`). Before the first record runs, ``worker`` calls each layer's
  ``prepare(batch)`` in the wrappers' order, outermost first; after the last record it
  calls ``finish(batch)``, innermost first, as the wrappers unwind. A ``prepare`` that
  raises stops the batch there: the layers inside it prepare nothing (an open circuit
  outside ``@idempotent`` costs no claim). That is where a layer turns one round trip
  per record into one per batch (claims, state reads, flushes).

Exceptions carry decisions back: a layer that wants the batch stopped raises an error
``worker`` recognises (for example :class:`~msgworker.errors.CircuitOpenError`).
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._message import Message
from .sources import Record, Source

LAYER_ATTRIBUTE = "__msgworker_layer__"

Clock = Callable[[], float]
"""A zero-argument callable returning monotonic seconds (``time.monotonic`` by default)."""


@dataclass(slots=True, eq=False)
class Invocation:
    """One batch being run by ``worker``, as per-record layers see it.

    ``deadline`` is the monotonic time after which the worker starts no record (the
    Lambda's end minus the worker's timeout margin); ``ends`` is the Lambda's own end.
    Both are ``math.inf`` when there is no Lambda context. ``state`` is per-batch scratch
    space, keyed by the layer object that owns the entry; ``metrics`` holds the counts
    layers add (``Retries``, ``IdempotentDuplicates``...), emitted with the batch's own.
    ``clock`` is the monotonic clock the worker reads (injectable, for tests).

    Example:
        >>> invocation = Invocation(deadline=10.0, ends=11.0, clock=lambda: 4.0)
        >>> invocation.remaining()
        6.0
    """

    source: Source | None = None
    context: Any = None
    deadline: float = math.inf
    ends: float = math.inf
    records: Sequence[Record] = ()
    clock: Clock = time.monotonic
    state: dict[object, Any] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)
    deferred: dict[object, Callable[[Batch], None]] | None = None
    claims: dict[int, Any] | None = None
    """The batch's offloaded payloads by record index (``msgworker._claim_check``), fetched
    before any record runs; ``None`` when no record is a pointer."""
    log_payload: bool = False
    """The worker's ``log_payload``: may failure logs and raised errors quote payload?"""

    def defer(self, owner: object, finish: Callable[[Batch], None]) -> None:
        """Have ``finish(batch)`` called once after the batch's records, like a layer's
        ``finish`` hook: for a layer ``worker`` did not find around the record function
        (a breaker around a client call the function makes), which still has per-batch
        work to complete (failures to add to the shared count). Once per ``owner``, after
        the hooks of the layers worker found (so ``finish`` must do nothing when their own
        hook already did the work)."""
        with _counting:
            if self.deferred is None:
                self.deferred = {}
            self.deferred.setdefault(owner, finish)

    def remaining(self) -> float:
        """Seconds until no record may start any more (``math.inf`` without a context)."""
        return self.deadline - self.clock()

    def wall_clock_end(self) -> float:
        """The Lambda's end as epoch seconds (``math.inf`` without a context)."""
        return math.inf if math.isinf(self.ends) else time.time() + (self.ends - self.clock())

    def count(self, metric: str, value: int = 1) -> None:
        """Add ``value`` to the batch's count ``metric``."""
        metrics = self.metrics
        with _counting:  # records on pool threads count at once; counts are rare, so one lock serves all
            metrics[metric] = metrics.get(metric, 0) + value


_counting = threading.Lock()


@dataclass(frozen=True, slots=True)
class Item:
    """A record that parsed: what batch hooks see, and what :func:`current_record` returns."""

    index: int
    payload: Any
    message: Message


class Running(Protocol):
    """What the pipeline's chain shows of the record it is running: ``current`` is
    ``(index, record, payload, message)``, or ``None`` between records."""

    current: tuple[int, Record, Any, Message] | None


_invocation: ContextVar[Invocation | None] = ContextVar("msgworker_invocation", default=None)
# One per chain of records, not per record: the chain's attributes say which record runs.
_record: ContextVar[Running | None] = ContextVar("msgworker_record", default=None)


def current_invocation() -> Invocation | None:
    """The batch ``worker`` is running in this thread or task, or ``None`` outside one.

    Example:
        >>> current_invocation() is None
        True
    """
    return _invocation.get()


def current_record() -> Item | None:
    """The record ``worker`` is running in this thread or task, or ``None`` outside one.

    Example:
        >>> current_record() is None
        True
    """
    running = _record.get()
    current = running.current if running is not None else None
    return None if current is None else Item(current[0], current[2], current[3])


class Batch:
    """What ``prepare`` and ``finish`` hooks receive.

    ``items`` (every record that parsed) is worked out on first access, by ``load``: a
    hook that never reads it (a circuit breaker checking its cached state) costs the batch
    no second decode and parse of its records. ``failures`` is filled in before ``finish``.
    """

    __slots__ = ("_items", "_load", "failures", "invocation")

    def __init__(self, invocation: Invocation, load: Callable[[Invocation], list[Item]]) -> None:
        self.invocation = invocation
        self._load = load
        self._items: list[Item] | None = None
        self.failures: dict[int, BaseException] = {}

    @property
    def items(self) -> list[Item]:
        if self._items is None:
            self._items = self._load(self.invocation)
        return self._items


def mark_layer(wrapper: Callable[..., Any], layer: object) -> None:
    """Mark ``wrapper`` (which must carry ``__wrapped__``) as the function of ``layer``."""
    setattr(wrapper, LAYER_ATTRIBUTE, layer)


def find_layers(function: Callable[..., Any]) -> list[object]:
    """The layer objects wrapped around ``function``, outermost first.

    Example:
        >>> find_layers(print)
        []
    """
    found: list[object] = []
    seen: set[int] = set()
    current: Any = function
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        layer = getattr(current, LAYER_ATTRIBUTE, None)
        # functools.update_wrapper copies the mark onto whatever wraps a layer (a Worker,
        # a user's decorator), so the same layer can be met more than once on the way down.
        if layer is not None and not any(layer is known for known in found):
            found.append(layer)
        current = getattr(current, "__wrapped__", None)
    return found


def innermost(function: Callable[..., Any]) -> Callable[..., Any]:
    """The user's own function under every layer (and every ``functools.wraps`` decorator).

    Example:
        >>> innermost(print) is print
        True
    """
    unwrapped: Callable[..., Any] = inspect.unwrap(function)
    return unwrapped


def is_async(function: Callable[..., Any]) -> bool:
    """Is this an ``async def`` function, even behind decorators that used functools.wraps,
    or a callable object with an ``async def __call__``?

    Example:
        >>> async def handler(payload): ...
        >>> is_async(handler), is_async(print)
        (True, False)
    """
    unwrapped = inspect.unwrap(function)
    return any(
        inspect.iscoroutinefunction(candidate)
        for candidate in (function, unwrapped, getattr(unwrapped, "__call__", None))  # noqa: B004
    )


def positional_arity(function: Callable[..., Any]) -> int | None:
    """How many positional arguments ``function`` takes (through ``functools.wraps``),
    2 for ``*args`` (it can take the payload and the Message), ``None`` when its signature
    cannot be read.

    Example:
        >>> positional_arity(lambda payload, message: None), positional_arity(lambda *args: None)
        (2, 2)
    """
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def is_record_call(args: tuple[Any, ...]) -> Item | None:
    """The record being run when ``args`` are the arguments ``worker`` passed to the record
    function (its parsed payload first), else ``None`` (a call of a helper, or outside
    ``worker``)."""
    item = current_record()
    return item if item is not None and args and args[0] is item.payload else None


__all__ = [
    "Batch",
    "Clock",
    "Invocation",
    "Item",
    "current_invocation",
    "current_record",
    "find_layers",
    "innermost",
    "is_async",
    "is_record_call",
    "mark_layer",
    "positional_arity",
]
