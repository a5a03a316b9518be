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

A layer that passes successful calls straight through while healthy (``retry``, a closed
circuit breaker) may also declare a fast path (:func:`mark_fast_path`): ``worker`` then
fuses such layers into its own loop, calling the innermost function directly and handing
only its exceptions to the layers (:class:`Fusion`, docs/decisions/0011-layers.md).
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .message import Message
from .sources import Record, Source

LAYER_ATTRIBUTE = "__msgworker_layer__"
FAST_PATH_ATTRIBUTE = "__msgworker_fast_path__"

Recover = Callable[[BaseException, Any, Message | None, float], Any]
"""``recover(error, payload, message, started)``: what a layer's wrapper does once the
function it wraps has raised ``error`` (``started``: ``time.monotonic()`` when the record
started); returns the record's result or raises."""


class Invocation:
    """One batch being run by ``worker``, as per-record layers see it.

    ``deadline`` is the monotonic time after which the worker starts no record (the
    Lambda's end minus the worker's timeout margin); ``ends`` is the Lambda's own end.
    Both are ``math.inf`` when there is no Lambda context. ``state`` is per-batch scratch
    space, keyed by the layer object that owns the entry; ``metrics`` holds the counts
    layers add (``Retries``, ``IdempotentDuplicates``...), emitted with the batch's own.
    """

    # A plain class with slots: one is built per batch, and a dataclass with factories
    # (or a Counter) costs a measurable share of a quick batch.
    __slots__ = ("context", "deadline", "ends", "metrics", "records", "source", "state")

    def __init__(
        self,
        source: Source | None = None,
        context: Any = None,
        deadline: float = math.inf,
        ends: float = math.inf,
        records: Sequence[Record] = (),
    ) -> None:
        self.source = source
        self.context = context
        self.deadline = deadline
        self.ends = ends
        self.records = records
        self.state: dict[object, Any] = {}
        self.metrics: dict[str, int] = {}

    def remaining(self) -> float:
        """Seconds until no record may start any more (``math.inf`` without a context)."""
        return self.deadline - time.monotonic()

    def wall_clock_end(self) -> float:
        """The Lambda's end as epoch seconds (``math.inf`` without a context)."""
        return math.inf if math.isinf(self.ends) else time.time() + (self.ends - time.monotonic())

    def count(self, metric: str, value: int = 1) -> None:
        """Add ``value`` to the batch's count ``metric``."""
        metrics = self.metrics
        with _counting:  # records on pool threads count at once; counts are rare, so one lock serves all
            metrics[metric] = metrics.get(metric, 0) + value


_counting = threading.Lock()

_current: ContextVar[Invocation | list[Any] | None] = ContextVar("msgworker_invocation", default=None)
_building = threading.Lock()


def current_invocation() -> Invocation | None:
    """The batch ``worker`` is running in this thread or task, or ``None`` outside one.

    Example:
        >>> current_invocation() is None
        True
    """
    value = _current.get()
    if isinstance(value, list):
        return built(value)
    return value


# enter(invocation) makes it current and returns the token to pass to leave(token)
# afterwards: the context variable's own methods, as a call frame each would cost a
# measurable share of a quick batch.
enter: Callable[[Invocation | list[Any] | None], Token[Invocation | list[Any] | None]] = _current.set
leave: Callable[[Token[Invocation | list[Any] | None]], None] = _current.reset


def built(pending: list[Any]) -> Invocation:
    """The :class:`Invocation` of ``pending``, built on first use.

    ``pending`` is ``[None, source, context, deadline, ends, records]``, what ``worker``
    makes current on the fused fast path instead of an ``Invocation``: a batch that nobody
    asks about (every record succeeds at once) never pays for building one. Every caller,
    on any thread of the batch, gets the same object; the first slot then holds it.

    Example:
        >>> pending = [None, None, None, 1.0, 2.0, ()]
        >>> built(pending) is built(pending) is pending[0]
        True
    """
    invocation = pending[0]
    if invocation is None:
        with _building:
            invocation = pending[0]
            if invocation is None:
                invocation = pending[0] = Invocation(*pending[1:])
    assert isinstance(invocation, Invocation)
    return invocation


@dataclass(frozen=True, slots=True)
class Item:
    """A record that parsed, as batch hooks see it."""

    index: int
    payload: Any
    message: Message


class Batch:
    """What ``prepare`` and ``finish`` hooks receive.

    ``items`` (every record that parsed) is worked out on first access: a hook that
    never reads it (a circuit breaker checking its cached state) costs the batch no
    second decode and parse of its records.
    """

    __slots__ = ("_items", "_load", "failures", "invocation")

    def __init__(
        self,
        invocation: Invocation,
        items: Sequence[Item] | Callable[[], list[Item]] = (),
        failures: dict[int, BaseException] | None = None,
    ) -> None:
        self.invocation = invocation
        self._items: list[Item] | None = None if callable(items) else list(items)
        self._load = items if callable(items) else None
        self.failures: dict[int, BaseException] = {} if failures is None else failures
        """Filled in before ``finish``: what failed, by record index."""

    @property
    def items(self) -> list[Item]:
        if self._items is None:
            self._items = self._load() if self._load is not None else []
        return self._items


@runtime_checkable
class BatchHooks(Protocol):
    """Optional methods of a layer object, called once per batch by ``worker``."""

    def prepare(self, batch: Batch) -> None: ...

    def finish(self, batch: Batch) -> None: ...


def mark_layer(wrapper: Callable[..., Any], layer: object) -> None:
    """Mark ``wrapper`` (which must carry ``__wrapped__``) as the record function of ``layer``."""
    setattr(wrapper, LAYER_ATTRIBUTE, layer)


@dataclass(frozen=True, slots=True)
class FastPath:
    """How ``worker`` may bypass one layer's wrapper while the layer is healthy.

    ``wrapper`` (the layer's own) calls ``inner``. Until ``healthy_until()`` (a
    ``time.monotonic()`` value; ``None``: always), the layer promises that the wrapper
    passes a call that succeeds straight through, that its ``prepare`` hook has nothing to
    do, and that its ``finish`` hook has nothing to do for a batch without failures.
    ``recover`` is what the wrapper does with an exception ``inner`` raised.
    """

    wrapper: Callable[..., Any]
    inner: Callable[..., Any]
    healthy_until: Callable[[], float] | None
    recover: Recover


def mark_fast_path(
    wrapper: Callable[..., Any],
    inner: Callable[..., Any],
    recover: Recover,
    healthy_until: Callable[[], float] | None = None,
) -> None:
    """Declare that ``worker`` may bypass ``wrapper`` (a layer's, around ``inner``) until
    ``healthy_until()``, calling ``recover`` only when ``inner`` raises (see
    :class:`FastPath`)."""
    setattr(wrapper, FAST_PATH_ATTRIBUTE, FastPath(wrapper, inner, healthy_until, recover))


class Fusion:
    """A stack of layers that all declared a fast path, seen as one: while every one is
    healthy, ``worker`` calls ``inner`` directly and hands only its exceptions to
    :meth:`recover`, which runs them through each layer's error handling, innermost first.
    """

    __slots__ = ("_checks", "_recovers", "healthy_until", "inner", "passes_message")

    def __init__(self, stages: Sequence[FastPath], inner: Callable[..., Any]) -> None:
        self.inner = inner
        self.passes_message = takes_message(inner)
        self._checks = [stage.healthy_until for stage in stages if stage.healthy_until is not None]
        self._recovers = [stage.recover for stage in reversed(stages)]
        # Asked once per batch: with a single layer that checks anything (a breaker), its
        # own check is the answer, without one call frame more.
        self.healthy_until: Callable[[], float] = (
            self._checks[0] if len(self._checks) == 1 else self._all_healthy_until if self._checks else _always
        )
        """The ``time.monotonic()`` value until which every layer passes successful calls
        straight through (in the past: not now)."""

    def _all_healthy_until(self) -> float:
        return min(check() for check in self._checks)

    def recover(self, error: BaseException, payload: Any, message: Message | None, started: float) -> Any:
        """Finish a record whose innermost call raised ``error``, as the wrappers would
        have: each layer, innermost first, gets the exception the one below it raised;
        once one returns, those above it see a success, which they pass straight through."""
        for recover in self._recovers:
            try:
                return recover(error, payload, message, started)
            except BaseException as raised:
                error = raised
        raise error


def _always() -> float:
    return math.inf


def fuse(function: Callable[..., Any]) -> Fusion | None:
    """The layers around ``function`` as one :class:`Fusion`, when every wrapper from
    ``function`` down is a layer's own wrapper with a fast path and what they wrap holds no
    other layer; otherwise ``None`` (a user's decorator in between, a layer without one).

    Example:
        >>> fuse(print) is None
        True
    """
    stages: list[FastPath] = []
    current: Any = function
    # functools.wraps copies the mark onto a user's decorator around a layer: only the
    # wrapper the mark names is the layer's own.
    while (stage := getattr(current, FAST_PATH_ATTRIBUTE, None)) is not None and stage.wrapper is current:
        stages.append(stage)
        current = stage.inner
    if not stages or find_layers(current):
        return None
    return Fusion(stages, current)


def find_layers(function: Callable[..., Any]) -> list[object]:
    """The layer objects wrapped around ``function``, outermost first."""
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
    "FastPath",
    "Fusion",
    "Invocation",
    "Item",
    "built",
    "call_with",
    "current_invocation",
    "enter",
    "find_layers",
    "fuse",
    "leave",
    "mark_fast_path",
    "mark_layer",
    "takes_message",
]
