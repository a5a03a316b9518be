"""The contract between ``worker`` and the per-record decorators (``idempotent``,
``circuit_breaker``, ``retry``): what a layer may learn about the invocation running it,
and how it takes part in a batch.

A layer wraps a record function and returns a record function of the same shape. It
marks its wrapper with :func:`mark_layer`, so that ``worker`` finds it by following the
``__wrapped__`` chain. Everything else goes through two channels:

- **The invocation.** While ``worker`` runs a batch, :func:`current_invocation` returns an
  :class:`Invocation`: the Lambda deadline, the source, a place for per-batch state, and
  counters that end up as metrics. Outside ``worker`` (a plain call) it returns ``None``
  and layers fall back to their own defaults.
- **Batch hooks.** Before the first record runs, ``worker`` calls each layer's
  ``prepare(batch)`` with every record that parsed, innermost layer first; after the last
  record it calls ``finish(batch)``, outermost first. That is where a layer turns one
  round trip per record into one per batch (claims, state reads, flushes).

Exceptions carry decisions back: a layer that wants the batch stopped raises an error
``worker`` recognises (for example :class:`~msgworker.errors.CircuitOpenError`).
"""

from __future__ import annotations

import inspect
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .message import Message
from .sources import Record, Source

LAYER_ATTRIBUTE = "__msgworker_layer__"


@dataclass(slots=True)
class Invocation:
    """One batch being run by ``worker``, as per-record layers see it.

    ``deadline`` is the monotonic time after which the worker starts no record (the
    Lambda's end minus the worker's timeout margin); ``ends`` is the Lambda's own end.
    Both are ``math.inf`` when there is no Lambda context.
    """

    source: Source | None = None
    context: Any = None
    deadline: float = math.inf
    ends: float = math.inf
    state: dict[object, Any] = field(default_factory=dict)
    """Per-batch scratch space, keyed by the layer object that owns the entry."""
    metrics: Counter[str] = field(default_factory=Counter)
    """Counts layers add (``Retries``, ``IdempotentDuplicates``...), emitted with the batch's."""
    records: Sequence[Record] = ()

    def remaining(self) -> float:
        """Seconds until no record may start any more (``math.inf`` without a context)."""
        return self.deadline - time.monotonic()

    def wall_clock_end(self) -> float:
        """The Lambda's end as epoch seconds (``math.inf`` without a context)."""
        return math.inf if math.isinf(self.ends) else time.time() + (self.ends - time.monotonic())

    def count(self, metric: str, value: int = 1) -> None:
        self.metrics[metric] += value


_current: ContextVar[Invocation | None] = ContextVar("msgworker_invocation", default=None)


def current_invocation() -> Invocation | None:
    """The batch ``worker`` is running in this thread or task, or ``None`` outside one.

    Example:
        >>> current_invocation() is None
        True
    """
    return _current.get()


@contextmanager
def running(invocation: Invocation) -> Iterator[Invocation]:
    """Make ``invocation`` current for the code inside (threads and tasks started inside
    inherit it when started with a copy of the context)."""
    token = _current.set(invocation)
    try:
        yield invocation
    finally:
        _current.reset(token)


@dataclass(frozen=True, slots=True)
class Item:
    """A record that parsed, as batch hooks see it."""

    index: int
    payload: Any
    message: Message


@dataclass(slots=True)
class Batch:
    """What ``prepare`` and ``finish`` hooks receive."""

    invocation: Invocation
    items: list[Item]
    failures: dict[int, BaseException] = field(default_factory=dict)
    """Filled in before ``finish``: what failed, by record index."""


@runtime_checkable
class BatchHooks(Protocol):
    """Optional methods of a layer object, called once per batch by ``worker``."""

    def prepare(self, batch: Batch) -> None: ...

    def finish(self, batch: Batch) -> None: ...


def mark_layer(wrapper: Callable[..., Any], layer: object) -> None:
    """Mark ``wrapper`` (which must carry ``__wrapped__``) as the record function of ``layer``."""
    setattr(wrapper, LAYER_ATTRIBUTE, layer)


def find_layers(function: Callable[..., Any]) -> list[object]:
    """The layer objects wrapped around ``function``, outermost first."""
    found: list[object] = []
    seen: set[int] = set()
    current: Any = function
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        layer = getattr(current, LAYER_ATTRIBUTE, None)
        if layer is not None:
            found.append(layer)
        current = getattr(current, "__wrapped__", None)
    return found


def takes_message(function: Callable[..., Any]) -> bool:
    """Does ``function`` take a second positional argument (the :class:`Message`)?

    Every layer's wrapper does; for other functions the signature decides (following
    ``functools.wraps``, as ``worker`` does). Layers use it to call what they wrap the way
    it expects.
    """
    if getattr(function, LAYER_ATTRIBUTE, None) is not None:
        return True
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def call_with(function: Callable[..., Any]) -> Callable[[Any, Message | None], Any]:
    """``function`` as a two-argument callable ``(payload, message)``, whatever it takes."""
    if takes_message(function):
        return function
    return lambda payload, message: function(payload)


__all__ = [
    "Batch",
    "BatchHooks",
    "Invocation",
    "Item",
    "call_with",
    "current_invocation",
    "find_layers",
    "mark_layer",
    "running",
    "takes_message",
]
