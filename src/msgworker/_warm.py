"""What a warm Lambda container remembers between invocations, in one place, so tests can
make the process look like a new container (:func:`reset`) and can swap the DynamoDB
stores for in-memory ones (:func:`memory_stores`).

A container keeps AWS clients, the stores made from them, the idempotency layer's
completed keys and each breaker's cached state for as long as it lives: that is what
makes a warm batch cheap. In one test process the same memory outlives a test, so a
test that stops its local AWS server, or leaves a breaker open, would otherwise reach
into the next. Everything that keeps such state registers here when it is made:

- objects (a layer, a breaker's view, a worker's failure actions) with
  :func:`remember`, held weakly, each with a ``reset_warm_state()`` method;
- module-level caches with :func:`on_reset`.

Nothing here runs on the hot path: layers ask :func:`memory_stores` only when they make
their store, on first use.

Example:
    >>> class Cache:
    ...     def __init__(self): self.entries = {"k": 1}
    ...     def reset_warm_state(self): self.entries.clear()
    >>> cache = Cache(); remember(cache)
    >>> reset(); cache.entries
    {}
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol


class Warm(Protocol):
    """Something that keeps state across invocations and can forget it."""

    def reset_warm_state(self) -> None: ...


_objects: weakref.WeakSet[Any] = weakref.WeakSet()
_callbacks: list[Callable[[], None]] = []
_lock = threading.Lock()
_memory: list[tuple[Any, Any]] = []
"""When set: the (idempotency, breaker) in-memory stores layers use instead of DynamoDB."""


def remember(obj: Warm) -> None:
    """Have :func:`reset` call ``obj.reset_warm_state()`` while ``obj`` lives."""
    with _lock:
        _objects.add(obj)


def on_reset(callback: Callable[[], None]) -> None:
    """Have :func:`reset` call ``callback()`` (module-level caches)."""
    with _lock:
        if callback not in _callbacks:
            _callbacks.append(callback)


def reset() -> None:
    """Forget every warm state: AWS clients, stores made on first use, warm caches."""
    with _lock:
        objects, callbacks = list(_objects), list(_callbacks)
    for callback in callbacks:
        callback()
    for obj in objects:
        obj.reset_warm_state()


def memory_stores() -> tuple[Any, Any] | None:
    """The in-memory ``(idempotency, breaker)`` stores layers without a ``store=`` use,
    or ``None`` (then they use DynamoDB)."""
    return _memory[0] if _memory else None


def use_memory_stores(stores: tuple[Any, Any] | None) -> None:
    """Switch the layers without a ``store=`` to ``stores`` (``None``: back to DynamoDB);
    the stores already made are forgotten (:func:`reset`), so the switch applies at once."""
    with _lock:
        _memory.clear()
        if stores is not None:
            _memory.append(stores)
    reset()


__all__ = ["Warm", "memory_stores", "on_reset", "remember", "reset", "use_memory_stores"]
