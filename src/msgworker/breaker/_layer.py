"""``circuit_breaker``: the public decorator, and the layer object it returns.

This module is the wiring and nothing else: :func:`circuit_breaker` checks the options and
builds a :class:`CircuitBreaker` from its parts, each of which decides one thing:

- :mod:`._view`: what this container knows of the shared state, and every store request;
- :mod:`._admission`: whether a call may run (normally, as a probe, or not at all);
- :mod:`._outcomes`: what a call's outcome does to the shared state;
- :mod:`._report`: the logs and metrics of transitions and store errors.

What is left here is the per-call wrapper (sync or ``async def``, any signature, which it
keeps) and the two batch hooks ``worker`` calls (see :mod:`msgworker._layers`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

from .._checks import exception_types, flag, seconds
from .._layers import Batch, is_async, mark_layer
from ..errors import ConfigurationError, PermanentError
from ._admission import Gate
from ._machine import Policy, Snapshot
from ._outcomes import Outcomes
from ._report import BreakerLogger
from ._store import BreakerStore
from ._view import SharedView

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]
P = ParamSpec("P")
R = TypeVar("R")


class CircuitBreaker:
    """The layer object :func:`circuit_breaker` returns: a decorator for any function, and
    the batch hooks ``worker`` calls. Made by :func:`circuit_breaker`, not directly.

    :meth:`snapshot` returns the state this container currently sees (read through the
    cache), for tests and diagnostics; :attr:`store` is where the shared state lives.

    Example:
        >>> from msgworker.breaker import InMemoryStore
        >>> breaker = circuit_breaker("payments-api", store=InMemoryStore())
        >>> breaker.name, breaker.policy.failure_threshold
        ('payments-api', 5)
    """

    def __init__(self, view: SharedView, gate: Gate, outcomes: Outcomes) -> None:
        self._view = view
        self._gate = gate
        self._outcomes = outcomes

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r})"

    # -- what it was made with ------------------------------------------------------

    @property
    def name(self) -> str:
        """The dependency this breaker stands for; one shared state per name."""
        return self._view.name

    @property
    def policy(self) -> Policy:
        """Threshold, window, recovery timeout and probes per round."""
        return self._view.policy

    @property
    def store(self) -> BreakerStore:
        """The store, created on first use (DynamoDB: ``table=`` or ``MSGWORKER_BREAKER_TABLE``)."""
        return self._view.store

    @property
    def logger(self) -> BreakerLogger:
        """Where transitions and store problems are logged (msgworker's logger by default)."""
        return self._view.report.logger

    def snapshot(self) -> Snapshot:
        """The shared state as this container sees it now (cached for ``cache_seconds``).

        Example:
            >>> from msgworker.breaker import InMemoryStore
            >>> circuit_breaker("payments", store=InMemoryStore()).snapshot().state
            <CircuitState.CLOSED: 'closed'>
        """
        return self._view.current(self._view.clock())

    # -- the decorator -------------------------------------------------------------

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        # While the cache says closed, a call costs one clock read and one try.
        view, admit, failed, succeeded = self._view, self._gate.admit, self._outcomes.failed, self._outcomes.succeeded
        clock = view.clock
        wrapper: Callable[..., Any]

        if is_async(function):
            call_async = cast(Callable[..., Awaitable[Any]], function)

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                probe = None if clock() < view.closed_until else admit()
                try:
                    result = await call_async(*args, **kwargs)
                except BaseException as error:
                    failed(probe, error)
                    raise
                if probe is not None:
                    succeeded(probe)
                return result

            wrapper = async_wrapper
        else:

            @functools.wraps(function)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                probe = None if clock() < view.closed_until else admit()
                try:
                    result = function(*args, **kwargs)
                except BaseException as error:
                    failed(probe, error)
                    raise
                if probe is not None:
                    succeeded(probe)
                return result

            wrapper = sync_wrapper
        mark_layer(wrapper, self)
        return cast(Callable[P, R], wrapper)

    # -- batch hooks -----------------------------------------------------------------

    def prepare(self, batch: Batch) -> None:
        """Before a batch: one (cached) state read; if the breaker is open, stop the whole
        batch with :class:`~msgworker.errors.CircuitOpenError` before any record runs."""
        self._gate.check_batch(batch.invocation)

    def finish(self, batch: Batch) -> None:
        """After a batch: add its failures not yet counted to the shared count (one request;
        none when every failure was already added). A failure the function caught still counts."""
        self._outcomes.flush_batch(batch.invocation)


def circuit_breaker(
    name: str,
    *,
    table: str | None = None,
    failure_threshold: int = 5,
    recovery_timeout: float = 30,
    half_open_probes: int = 1,
    on: ExceptionTypes = (Exception,),
    ignore: ExceptionTypes = (PermanentError,),
    cache_seconds: float = 2.0,
    pause_source: bool = False,
    store: BreakerStore | None = None,
    failure_window: float | None = None,
    clock: Callable[[], float] = time.time,
    logger: BreakerLogger | None = None,
) -> CircuitBreaker:
    """Guard the decorated function with the breaker ``name``, shared by every Lambda
    instance through a DynamoDB table.

    Args:
        name: the dependency this breaker stands for (``"payments-api"``): every function
            and container using the same name shares one state.
        table: the DynamoDB table (string partition key ``id``); default: the
            environment variable ``MSGWORKER_BREAKER_TABLE``, read at first use.
        failure_threshold: failures within ``failure_window`` seconds (counted across all
            containers) that open the breaker.
        recovery_timeout: seconds it stays open before letting probes through.
        half_open_probes: calls let through per half-open round, across all containers;
            the first to finish closes (success) or re-opens (failure) the breaker.
        on: exception types that count as failures of the dependency.
        ignore: exception types that never count (default: ``PermanentError``, a problem
            with the record, not with the dependency).
        cache_seconds: how long a container trusts the state it read (no request per
            record while closed and healthy).
        pause_source: carried on the ``CircuitOpenError``, so the worker's failure actions
            pause the event source mapping until the breaker may close.
        store: a :class:`~msgworker.breaker._store.BreakerStore` instead of DynamoDB (tests:
            :class:`~msgworker.breaker._store.InMemoryStore`).
        failure_window: seconds a failure window lasts from its first failure; default
            ``recovery_timeout``.
        clock: epoch seconds (``time.time``); tests pass a fake one.
        logger: where transitions are logged (default: msgworker's Powertools logger).

    When open, calls raise :class:`~msgworker.errors.CircuitOpenError` without calling the
    function; under ``worker`` the whole batch is stopped before it starts.

    Example:
        >>> import logging
        >>> from msgworker.breaker import InMemoryStore
        >>> quiet = logging.getLogger("example.quiet"); quiet.addHandler(logging.NullHandler()); quiet.propagate = False
        >>> @circuit_breaker("payments-api", store=InMemoryStore(), failure_threshold=2, logger=quiet)
        ... def charge(order):
        ...     raise ConnectionError("payments API unreachable")
        >>> for attempt in range(3):
        ...     try:
        ...         charge({"order_id": "o-1"})
        ...     except Exception as error:
        ...         print(type(error).__name__)
        ConnectionError
        ConnectionError
        CircuitOpenError
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            "circuit_breaker(name) must be a non-empty string naming the dependency (e.g. 'payments-api'), "
            f"got {name!r}"
        )
    seconds("circuit_breaker", "cache_seconds", cache_seconds, zero=True)
    flag("circuit_breaker", "pause_source", pause_source)
    if table is not None and (not isinstance(table, str) or not table):
        raise ConfigurationError(f"circuit_breaker(table=...) must be a table name or None, got {table!r}")
    policy = Policy(
        failure_threshold=failure_threshold,
        recovery_timeout=recovery_timeout,
        half_open_probes=half_open_probes,
        failure_window=failure_window,
    )
    on_types = exception_types("circuit_breaker", "on", on)
    ignore_types = exception_types("circuit_breaker", "ignore", ignore) if ignore else ()
    view = SharedView(
        name,
        policy,
        cache_seconds=float(cache_seconds),
        table=table,
        store=store,
        clock=clock,
        logger=logger,
    )
    return CircuitBreaker(
        view,
        Gate(view, pause_source=pause_source),
        Outcomes(view, on=on_types, ignore=ignore_types),
    )


__all__ = ["CircuitBreaker", "ExceptionTypes", "circuit_breaker"]
