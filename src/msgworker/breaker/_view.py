"""What one container knows of a breaker's shared state, and every request to its store.

:mod:`.machine` decides (pure rules over a :class:`~msgworker.breaker.Snapshot`); this
module is the I/O and the per-container memory around those decisions, kept apart so the
rules stay testable without a store and the cache's locking reads in one place:

- **The cached snapshot, and when to trust it.** Closed is trusted for ``cache_seconds``
  (:attr:`SharedView.closed_until` is the wrapper's only test per call); open is trusted
  until it may reopen, since nothing can change it before then. Reads are one at a time
  per container, and a read that raced with a transition never undoes it (versions only
  go forward).
- **Store requests**: compare-and-set transitions, probe claims and releases, failure
  adds. A lost compare-and-set re-reads once, to learn what won.
- **The local view when the store cannot be reached.** The container goes on with its own
  view (failures counted, transitions applied without bumping the version), so the store's
  state wins again at its first answer. That is "fail open, per container".
- **Failures of the running batch not yet added** to the shared count, guarded by the same
  lock as the snapshot they are compared with.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Callable
from typing import Literal

from .. import _warm
from .._aws_clients import prepare
from .._layers import Invocation, current_invocation
from ..errors import ConfigurationError
from ._dynamodb import TABLE_ENV, DynamoDBStore
from ._machine import CircuitState, Policy, Snapshot, reopens_at, trips, with_failures
from ._report import BreakerLogger, Reporter
from ._store import BreakerStore


@dataclasses.dataclass(slots=True)
class _Pending:
    """Failures of one batch not yet added to the shared count."""

    count: int = 0


class SharedView:
    """One container's view of the breaker ``name``, and the only code that asks its store.

    Example:
        >>> import logging
        >>> from msgworker.breaker import InMemoryStore, Policy
        >>> quiet = logging.getLogger("example.view"); quiet.propagate = False
        >>> policy = Policy(failure_threshold=2)
        >>> view = SharedView("payments", policy, cache_seconds=2.0, table=None, store=InMemoryStore(),
        ...                   clock=lambda: 100.0, logger=quiet)
        >>> view.current(100.0).state
        <CircuitState.CLOSED: 'closed'>
        >>> view.add_failures(2, 100.0, None).failures
        2
    """

    def __init__(
        self,
        name: str,
        policy: Policy,
        *,
        cache_seconds: float,
        table: str | None,
        store: BreakerStore | None,
        clock: Callable[[], float],
        logger: BreakerLogger | None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.cache_seconds = cache_seconds
        self.table = table
        self.clock = clock
        self.report = Reporter(name, policy, logger)
        """Where the view and everything acting through it report (logs and metrics)."""
        self.closed_until = -math.inf
        """Calls before this time (``clock`` seconds) run without asking anything: the
        hot path's only test, set whenever a closed snapshot is cached."""
        self._given = self._store = store
        if store is None:
            prepare("dynamodb")  # in Lambda's init phase, not the first batch (docs/decisions/0013)
        self._snapshot: Snapshot | None = None
        self._read_at = -math.inf
        self._local_view = False  # the cached snapshot is this container's own (store unreachable)
        self._lock = threading.Lock()  # guards the cached snapshot and pending counts
        self._read_lock = threading.Lock()  # one store read at a time per container
        self._store_lock = threading.Lock()
        _warm.remember(self)

    def reset_warm_state(self) -> None:
        """Forget the cached state and the store made on first use (``msgworker.testing.reset()``)."""
        with self._lock:
            self._snapshot = None
            self._read_at = self.closed_until = -math.inf
            self._local_view = False
            self._store = self._given

    @property
    def store(self) -> BreakerStore:
        """The store, created on first use (DynamoDB: ``table`` or ``MSGWORKER_BREAKER_TABLE``)."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    memory = _warm.memory_stores()
                    if memory is not None:
                        self._store = memory[1]
                        return self._store
                    table = self.table or os.environ.get(TABLE_ENV)
                    if not table:
                        raise ConfigurationError(
                            f"circuit breaker {self.name!r} has no table: pass circuit_breaker(..., table='<name>') "
                            f"or set the environment variable {TABLE_ENV} to a DynamoDB table whose partition key "
                            "is the string 'id'"
                        )
                    self._store = DynamoDBStore(table)
        return self._store

    @property
    def cached(self) -> Snapshot | None:
        """The snapshot last cached, without reading anything (``None`` before the first)."""
        return self._snapshot

    # -- reading -------------------------------------------------------------------

    def current(self, now: float) -> Snapshot:
        """The shared state as of ``now``: the cached snapshot while it can be trusted,
        else one read (this container's own view when the store does not answer)."""
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
                self.report.store_failed("read", error, current_invocation())
                # Carry on with what this container knows, and ask again in cache_seconds.
                self.remember(self._snapshot or Snapshot(), now, from_store=False)
                return self._snapshot or Snapshot()
            self.remember(fresh, now)
            return fresh

    def refresh(self, invocation: Invocation | None) -> None:
        """Read the store now, whatever the cache holds."""
        with self._read_lock:
            try:
                fresh = self.store.read(self.name)
            except ConfigurationError:
                raise
            except Exception as error:
                self.report.store_failed("read", error, invocation)
                return
            self.remember(fresh, self.clock())

    def remember(self, snapshot: Snapshot, now: float, *, from_store: bool = True) -> None:
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
        self.closed_until = now + self.cache_seconds if snapshot.state is CircuitState.CLOSED else -math.inf

    # -- writing -------------------------------------------------------------------

    def move(
        self,
        expected: Snapshot,
        new: Snapshot,
        now: float,
        invocation: Invocation | None,
        why: tuple[Literal["info", "warning"], str, str],
        **fields: object,
    ) -> bool:
        """:meth:`transition`, and the container that wins it reports it: ``why`` is the
        log level, the message and the metric to count."""
        if not self.transition(expected, new, now, invocation):
            return False
        level, text, metric = why
        self.report.transition(level, text, new, metric, invocation, **fields)
        return True

    def transition(self, expected: Snapshot, new: Snapshot, now: float, invocation: Invocation | None) -> bool:
        """Compare-and-set ``expected`` → ``new`` in the store; ``True`` when this call won
        (it then caches ``new``; otherwise it re-reads what won)."""
        try:
            won = self.store.replace(self.name, new, expected_version=expected.version)
        except ConfigurationError:
            raise
        except Exception as error:
            self.report.store_failed("replace", error, invocation)
            # Alone, this container still protects the dependency. The version stays as
            # it was so that the store's state wins again as soon as it can be read.
            self.remember(dataclasses.replace(new, version=expected.version), now, from_store=False)
            return True
        if won:
            self.remember(new, now)
            return True
        self.refresh(invocation)  # learn what won instead
        return False

    def claim_probe(self, snapshot: Snapshot, invocation: Invocation | None) -> bool:
        """Take one of the probe slots of the half-open round ``snapshot``; ``False`` when
        every slot is taken or the round is over."""
        try:
            claimed = self.store.claim_probe(self.name, version=snapshot.version, limit=self.policy.half_open_probes)
        except Exception as error:
            self.report.store_failed("claim_probe", error, invocation)
            claimed = True  # no shared view: this container decides on its own
        if claimed:
            with self._lock:
                current = self._snapshot
                if current is not None and current.version == snapshot.version:
                    self._cache(dataclasses.replace(current, probes=current.probes + 1), self._read_at)
        else:
            # Every slot is taken, or the round is over: one read tells which, and caching
            # it spares the calls after this one from asking again.
            self.refresh(invocation)
        return claimed

    def release_probe(self, version: int) -> None:
        """Give back a probe slot of round ``version`` (the call did not really run).
        Store errors are the caller's to report."""
        self.store.release_probe(self.name, version=version)

    def add_failures(self, count: int, now: float, invocation: Invocation | None) -> Snapshot:
        """Add ``count`` failures to the shared count; the state after (this container's
        own count when the store does not answer)."""
        try:
            after = self.store.add_failures(self.name, count, now=now, window=self.policy.window)
        except ConfigurationError:
            raise
        except Exception as error:
            self.report.store_failed("add_failures", error, invocation)
            after = with_failures(self._snapshot or Snapshot(), count, self.policy.window, now)
            self.remember(after, now, from_store=False)
        else:
            self.remember(after, now)
        return after

    # -- failures not yet added ----------------------------------------------------

    def count_failure(self, now: float, invocation: Invocation | None) -> int:
        """Count a failure of a closed-state call; how many failures to add to the shared
        count now: the batch's pending ones when they may trip the breaker, else 0 (they
        wait for the end of the batch, or the breaker is no longer closed)."""
        with self._lock:
            snapshot = self._snapshot or Snapshot()
            if snapshot.state is not CircuitState.CLOSED:
                return 0  # started before the breaker opened: the trip is already decided
            if invocation is None:
                return 1
            pending = invocation.state.get(self)
            if not isinstance(pending, _Pending):
                pending = invocation.state[self] = _Pending()
            pending.count += 1
            if not trips(snapshot, self.policy, now, pending.count):
                return 0
            count, pending.count = pending.count, 0
            return count

    def take_pending(self, invocation: Invocation) -> int:
        """The failures of the batch ``invocation`` not yet added (forgotten here)."""
        pending = invocation.state.pop(self, None)
        return pending.count if isinstance(pending, _Pending) else 0


__all__ = ["SharedView"]
