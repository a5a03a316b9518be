"""``circuit_breaker``: stop calling a dependency that is failing, for every concurrent
Lambda instance at once.

Cost model (the reason for most of the code below):

- **Closed and healthy: no request per record.** The shared state is read at most once
  per ``cache_seconds`` per container; a success writes nothing.
- **Failures: one request per batch.** Under ``worker`` a failure is counted locally and
  the batch's count is added to the shared one in ``finish``; if the shared count known
  to this container plus the batch's own reaches ``failure_threshold``, it is added at
  once so the breaker trips mid-batch.
- **Transitions: one conditional write**, which exactly one container wins; that one
  logs the transition and counts the metric.
- **Open: no request per record.** The state cannot change before ``reopens_at``, so it
  is not even re-read until then; every call is rejected locally.

When the store cannot be reached, each container carries on with its own view: failures
are counted and the breaker trips locally, and the shared state takes over again once
the store answers (logged, and counted as ``CircuitStoreErrors``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from .._aws_clients import prepare
from .._layers import Batch, Invocation, current_invocation, is_async, mark_layer
from ..errors import CircuitOpenError, ConfigurationError, MsgworkerError, PermanentError
from .dynamodb import TABLE_ENV, DynamoDBStore
from .machine import (
    Admission,
    CircuitState,
    Policy,
    Snapshot,
    admission,
    closed,
    failures_in_window,
    half_opened,
    opened,
    reopens_at,
    trips,
    with_failures,
)
from .store import BreakerStore

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]
P = ParamSpec("P")
R = TypeVar("R")
STORE_ERROR_LOG_INTERVAL = 60.0
"""Seconds between two warnings about an unreachable store, per breaker."""


class BreakerLogger(Protocol):
    """What the breaker needs of a logger: Powertools' Logger and logging.Logger both fit."""

    def warning(self, msg: object, *args: object, extra: Any = None) -> None: ...

    def info(self, msg: object, *args: object, extra: Any = None) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class _Probe:
    """This call holds a probe slot of the half-open round ``version``."""

    version: int


@dataclasses.dataclass(slots=True)
class _Pending:
    """Failures of one batch not yet added to the shared count."""

    count: int = 0


class CircuitBreaker:
    """A circuit breaker shared by every container through its store; the layer object
    of :func:`circuit_breaker`, and a decorator for record functions.

    :meth:`snapshot` returns the state this container currently sees (read through the
    cache), for tests and diagnostics; :attr:`store` is where the shared state lives.
    """

    def __init__(
        self,
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
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"circuit_breaker(name) must be a non-empty string naming the dependency, got {name!r}")
        if not cache_seconds >= 0:
            raise ValueError(f"circuit_breaker(cache_seconds=...) must be >= 0 seconds, got {cache_seconds!r}")
        self.name = name
        self.policy = Policy(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout,
            half_open_probes=half_open_probes,
            failure_window=failure_window,
        )
        self.on = _exception_types("on", on)
        self.ignore = _exception_types("ignore", ignore) if ignore else ()
        self.cache_seconds = float(cache_seconds)
        self.pause_source = pause_source
        self.table = table
        self._store = store
        if store is None:
            prepare("dynamodb")  # in Lambda's init phase, not the first batch (docs/decisions/0013)
        self._clock = clock
        self._logger = logger
        self._snapshot: Snapshot | None = None
        self._read_at = -math.inf
        self._closed_until = -math.inf
        self._local_view = False  # the cached snapshot is this container's own (store unreachable)
        self._lock = threading.Lock()  # guards the cached snapshot and pending counts
        self._read_lock = threading.Lock()  # one store read at a time per container
        self._store_lock = threading.Lock()
        self._store_error_logged_at = -math.inf

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r})"

    # -- the decorator -------------------------------------------------------------

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        # While the cache says closed, a call costs one clock read and one try.
        admit, failed, succeeded, clock = self._admit_slowly, self._failed, self._succeeded, self._clock
        wrapper: Callable[..., Any]

        if is_async(function):
            call_async = cast(Callable[..., Awaitable[Any]], function)

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                probe = None if clock() < self._closed_until else admit()
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
                probe = None if clock() < self._closed_until else admit()
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
        batch with :class:`CircuitOpenError` before any record runs."""
        now = self._clock()
        if now < self._closed_until:
            return
        snapshot = self._current(now)
        if admission(snapshot, self.policy, now) is Admission.REJECT:
            raise self._rejection(snapshot, batch.invocation, len(batch.invocation.records))

    def finish(self, batch: Batch) -> None:
        """After a batch: add its failures not yet counted to the shared count (one request)."""
        if not batch.failures:
            return
        pending = batch.invocation.state.pop(self, None)
        if isinstance(pending, _Pending) and pending.count:
            self._flush(pending.count, batch.invocation)

    # -- state ---------------------------------------------------------------------

    @property
    def store(self) -> BreakerStore:
        """The store, created on first use (DynamoDB: ``table=`` or ``MSGWORKER_BREAKER_TABLE``)."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    table = self.table or os.environ.get(TABLE_ENV)
                    if not table:
                        raise ConfigurationError(
                            f"circuit breaker {self.name!r} has no table: pass circuit_breaker(..., table='<name>') "
                            f"or set the environment variable {TABLE_ENV} to a DynamoDB table whose partition key "
                            "is the string 'id'"
                        )
                    self._store = DynamoDBStore(table)
        return self._store

    def snapshot(self) -> Snapshot:
        """The shared state as this container sees it now (cached for ``cache_seconds``).

        Example:
            >>> from msgworker.breaker import InMemoryStore
            >>> circuit_breaker("payments", store=InMemoryStore()).snapshot().state
            <CircuitState.CLOSED: 'closed'>
        """
        return self._current(self._clock())

    def _current(self, now: float) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is not None:
            if now - self._read_at < self.cache_seconds:
                return snapshot
            if snapshot.state is CircuitState.OPEN and now < reopens_at(snapshot, self.policy):
                return snapshot  # an open breaker stays open until then: nothing new to read
        with self._read_lock:
            if self._snapshot is not None and now - self._read_at < self.cache_seconds:
                return self._snapshot
            try:
                fresh = self.store.read(self.name)
            except ConfigurationError:
                raise
            except Exception as error:
                self._store_failed("read", error, current_invocation())
                # Carry on with what this container knows, and ask again in cache_seconds.
                self._remember(self._snapshot or Snapshot(), now, from_store=False)
                return self._snapshot or Snapshot()
            self._remember(fresh, now)
            return fresh

    def _remember(self, snapshot: Snapshot, now: float, *, from_store: bool = True) -> None:
        """Cache ``snapshot`` unless another thread has already cached a later version
        (a read that raced with a transition must not undo it). ``from_store=False``: a
        view of this container's own, while the store cannot be reached; the store's
        next answer replaces it whatever its version."""
        with self._lock:
            current = self._snapshot
            if current is None or snapshot.version >= current.version or self._local_view:
                self._cache(snapshot, now)
                self._local_view = not from_store

    def _cache(self, snapshot: Snapshot, now: float) -> None:
        """Set the cached snapshot (with ``_lock`` held)."""
        self._snapshot = snapshot
        self._read_at = now
        # The hot path's only test: calls before this time run without asking anything.
        self._closed_until = now + self.cache_seconds if snapshot.state is CircuitState.CLOSED else -math.inf

    # -- admission -------------------------------------------------------------------

    def _admit_slowly(self) -> _Probe | None:
        """Before a call, unless the cache says closed: ``None`` to run it normally, a probe
        slot to run it as a probe; raises :class:`CircuitOpenError` when it must not run."""
        now = self._clock()
        invocation = current_invocation()
        snapshot = self._current(now)
        for _ in range(3):  # each lost race re-reads; three in a row means heavy contention: reject
            decision = admission(snapshot, self.policy, now)
            if decision is Admission.RUN:
                return None
            if decision is Admission.REJECT:
                break
            if decision is Admission.CLAIM_PROBE:
                if self._claim(snapshot, invocation):
                    return _Probe(snapshot.version)
                snapshot = self._snapshot or snapshot
                continue
            # START_HALF_OPEN or NEW_ROUND: whoever moves the state holds the first slot.
            new = half_opened(snapshot, now)
            if self._transition(snapshot, new, now, invocation):
                self._log_transition(
                    "info",
                    "circuit half-open: letting probes through",
                    new,
                    metric="CircuitHalfOpened",
                    invocation=invocation,
                    probes=self.policy.half_open_probes,
                )
                return _Probe(new.version)
            snapshot = self._snapshot or snapshot
        raise self._rejection(snapshot, invocation, 1)

    def _claim(self, snapshot: Snapshot, invocation: Invocation | None) -> bool:
        try:
            claimed = self.store.claim_probe(self.name, version=snapshot.version, limit=self.policy.half_open_probes)
        except Exception as error:
            self._store_failed("claim_probe", error, invocation)
            claimed = True  # no shared view: this container decides on its own
        if claimed:
            with self._lock:
                current = self._snapshot
                if current is not None and current.version == snapshot.version:
                    self._cache(dataclasses.replace(current, probes=current.probes + 1), self._read_at)
        else:
            # Every slot is taken, or the round is over: one read tells which, and caching
            # it spares the calls after this one from asking again.
            self._refresh(invocation)
        return claimed

    def _rejection(self, snapshot: Snapshot, invocation: Invocation | None, records: int) -> CircuitOpenError:
        if invocation is not None:
            invocation.count("CircuitRejected", records)
        # Never in the past: a rejection after lost races on a breaker that has just
        # closed again says "come back now", not "long ago".
        when = max(reopens_at(snapshot, self.policy), self._clock())
        at = datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
        if snapshot.state is CircuitState.HALF_OPEN:
            why = f"half-open with every probe slot taken (a new probe round starts at {at} at the latest)"
        else:
            why = f"open (it lets a probe through from {at})"
        return CircuitOpenError(
            f"circuit {self.name!r} is {why}, so the function was not called",
            name=self.name,
            reopens_at=when,
            pause_source=self.pause_source,
        )

    # -- outcomes --------------------------------------------------------------------

    def _succeeded(self, probe: _Probe) -> None:
        try:
            self._probe_succeeded(probe)
        except Exception as error:  # the record's own outcome stands
            self._store_failed("close", error, current_invocation())

    def _failed(self, probe: _Probe | None, error: BaseException) -> None:
        """After the call raised ``error``; never raises itself, so the caller re-raises
        the record's own error."""
        try:
            verdict = self._classify(error)
            if verdict == "neutral":
                if probe is not None:
                    self.store.release_probe(self.name, version=probe.version)
            elif verdict == "success":
                if probe is not None:
                    self._probe_succeeded(probe)
            elif probe is not None:
                self._probe_failed(probe, error)
            else:
                self._count_failure()
        except Exception as problem:
            self._store_failed("record an outcome", problem, current_invocation())

    def _classify(self, error: BaseException) -> str:
        """``failure`` counts towards tripping; ``success``: the dependency answered (an
        error outside ``on``, or in ``ignore``); ``neutral``: the function did not really
        run (msgworker's own decisions, cancellation)."""
        if not isinstance(error, Exception) or (
            isinstance(error, MsgworkerError) and not isinstance(error, PermanentError)
        ):
            return "neutral"
        if isinstance(error, self.on) and not isinstance(error, self.ignore):
            return "failure"
        return "success"

    def _probe_succeeded(self, probe: _Probe) -> None:
        now = self._clock()
        invocation = current_invocation()
        expected = self._expected(probe)
        new = closed(expected)
        if self._transition(expected, new, now, invocation):
            self._log_transition("info", "circuit closed: a probe succeeded", new, "CircuitClosed", invocation)

    def _probe_failed(self, probe: _Probe, error: BaseException) -> None:
        now = self._clock()
        invocation = current_invocation()
        expected = self._expected(probe)
        new = opened(expected, now)
        if self._transition(expected, new, now, invocation):
            self._log_transition(
                "warning",
                "circuit re-opened: a probe failed",
                new,
                "CircuitOpened",
                invocation,
                error_type=type(error).__name__,
                error=str(error),
            )

    def _expected(self, probe: _Probe) -> Snapshot:
        current = self._snapshot
        if current is not None and current.version == probe.version:
            return current
        return Snapshot(CircuitState.HALF_OPEN, version=probe.version)

    def _count_failure(self) -> None:
        """A failure of a closed-state call: counted in the batch, and added to the shared
        count now if that may trip the breaker (else at the end of the batch)."""
        now = self._clock()
        invocation = current_invocation()
        with self._lock:
            snapshot = self._snapshot or Snapshot()
            if snapshot.state is not CircuitState.CLOSED:
                return  # started before the breaker opened: the trip is already decided
            if invocation is None:
                count = 1
            else:
                pending = invocation.state.get(self)
                if not isinstance(pending, _Pending):
                    pending = invocation.state[self] = _Pending()
                pending.count += 1
                if not trips(snapshot, self.policy, now, pending.count):
                    return
                count, pending.count = pending.count, 0
        self._flush(count, invocation)

    def _flush(self, count: int, invocation: Invocation | None) -> None:
        """Add ``count`` failures to the shared count; trip the breaker if that reaches
        the threshold."""
        now = self._clock()
        try:
            after = self.store.add_failures(self.name, count, now=now, window=self.policy.window)
        except ConfigurationError:
            raise
        except Exception as error:
            self._store_failed("add_failures", error, invocation)
            after = with_failures(self._snapshot or Snapshot(), count, self.policy.window, now)
            self._remember(after, now, from_store=False)
        else:
            self._remember(after, now)
        if trips(after, self.policy, now):
            new = opened(after, now)
            if self._transition(after, new, now, invocation):
                self._log_transition(
                    "warning",
                    "circuit opened: too many failures",
                    new,
                    "CircuitOpened",
                    invocation,
                    failures=failures_in_window(after, self.policy, now),
                    window_seconds=self.policy.window,
                )

    def _transition(self, expected: Snapshot, new: Snapshot, now: float, invocation: Invocation | None) -> bool:
        """Compare-and-set ``expected`` → ``new`` in the store; ``True`` when this call won
        (it then caches ``new``; otherwise it re-reads what won)."""
        try:
            won = self.store.replace(self.name, new, expected_version=expected.version)
        except ConfigurationError:
            raise
        except Exception as error:
            self._store_failed("replace", error, invocation)
            # Alone, this container still protects the dependency. The version stays as
            # it was so that the store's state wins again as soon as it can be read.
            self._remember(dataclasses.replace(new, version=expected.version), now, from_store=False)
            return True
        if won:
            self._remember(new, now)
            return True
        self._refresh(invocation)  # learn what won instead
        return False

    def _refresh(self, invocation: Invocation | None) -> None:
        """Read the store now, whatever the cache holds."""
        with self._read_lock:
            try:
                fresh = self.store.read(self.name)
            except ConfigurationError:
                raise
            except Exception as error:
                self._store_failed("read", error, invocation)
                return
            self._remember(fresh, self._clock())

    # -- logs and metrics -------------------------------------------------------------

    @property
    def logger(self) -> BreakerLogger:
        """Where transitions and store problems are logged (msgworker's logger by default)."""
        if self._logger is None:
            from ..observability import default_logger

            # Powertools' Logger (the default) has info() as well as warning().
            self._logger = cast(BreakerLogger, default_logger())
        return self._logger

    def _log_transition(
        self,
        level: str,
        text: str,
        snapshot: Snapshot,
        metric: str,
        invocation: Invocation | None,
        **fields: object,
    ) -> None:
        if invocation is not None:
            invocation.count(metric)
        log = self.logger.warning if level == "warning" else self.logger.info
        log(
            text,
            extra={
                "circuit": self.name,
                "state": snapshot.state.value,
                "version": snapshot.version,
                "reopens_at": reopens_at(snapshot, self.policy) or None,
                **fields,
            },
        )

    def _store_failed(self, operation: str, error: BaseException, invocation: Invocation | None) -> None:
        if invocation is not None:
            invocation.count("CircuitStoreErrors")
        now = time.monotonic()
        if now - self._store_error_logged_at < STORE_ERROR_LOG_INTERVAL:
            return
        self._store_error_logged_at = now
        self.logger.warning(
            "circuit breaker store unavailable: this container uses its own view of the breaker until it answers",
            extra={
                "circuit": self.name,
                "operation": operation,
                "error_type": type(error).__name__,
                "error": str(error),
            },
        )


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
    """Guard the decorated record function with the breaker ``name``, shared by every
    Lambda instance through a DynamoDB table.

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
        store: a :class:`~msgworker.breaker.store.BreakerStore` instead of DynamoDB (tests:
            :class:`~msgworker.breaker.store.InMemoryStore`).
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
    return CircuitBreaker(
        name,
        table=table,
        failure_threshold=failure_threshold,
        recovery_timeout=recovery_timeout,
        half_open_probes=half_open_probes,
        on=on,
        ignore=ignore,
        cache_seconds=cache_seconds,
        pause_source=pause_source,
        store=store,
        failure_window=failure_window,
        clock=clock,
        logger=logger,
    )


def _exception_types(option: str, value: object) -> tuple[type[BaseException], ...]:
    types = value if isinstance(value, tuple) else (value,)
    for kind in types:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise TypeError(f"circuit_breaker({option}=...) takes exception classes (or a tuple of them), got {kind!r}")
    return types


__all__ = ["BreakerLogger", "CircuitBreaker", "circuit_breaker"]
