"""Where breaker state lives: the :class:`BreakerStore` protocol, and an in-memory store
for unit tests and single-process use.

A store keeps one :class:`~.machine.Snapshot` per breaker name and offers only atomic
operations, so that many containers sharing it agree: counting failures, a
compare-and-set on ``version`` for state changes, and claiming or releasing a half-open
probe slot. The DynamoDB store (:mod:`.dynamodb`) implements each as one conditional
request.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from typing import Protocol, runtime_checkable

from ._machine import CircuitState, Snapshot, with_failures


@runtime_checkable
class BreakerStore(Protocol):
    """Shared breaker state, one snapshot per name (an absent name reads as closed)."""

    def read(self, name: str) -> Snapshot:
        """The current snapshot (strongly consistent)."""
        ...

    def add_failures(self, name: str, count: int, *, now: float, window: float) -> Snapshot:
        """Atomically add ``count`` failures to the window still open at ``now`` (or start
        a new window of ``window`` seconds) and return the snapshot after the change."""
        ...

    def replace(self, name: str, new: Snapshot, *, expected_version: int) -> bool:
        """Store ``new`` only if the stored version is still ``expected_version``;
        ``True`` when this caller won."""
        ...

    def claim_probe(self, name: str, *, version: int, limit: int) -> bool:
        """Take a probe slot of the half-open round ``version`` if fewer than ``limit``
        are taken; ``True`` when taken."""
        ...

    def release_probe(self, name: str, *, version: int) -> None:
        """Give a slot of round ``version`` back (its call neither succeeded nor failed)."""
        ...


class InMemoryStore:
    """A :class:`BreakerStore` in a dict, safe across threads; ``calls`` counts the
    operations, as the DynamoDB store's requests would be counted.

    Example:
        >>> store = InMemoryStore()
        >>> store.add_failures("payments", 2, now=100.0, window=30.0).failures
        2
        >>> store.replace("payments", Snapshot(CircuitState.OPEN, version=1, opened_at=100.0), expected_version=0)
        True
        >>> store.replace("payments", Snapshot(CircuitState.OPEN, version=1, opened_at=101.0), expected_version=0)
        False
        >>> store.read("payments").state, store.calls["replace"]
        (<CircuitState.OPEN: 'open'>, 2)
    """

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def read(self, name: str) -> Snapshot:
        with self._lock:
            self.calls["read"] += 1
            return self._snapshots.get(name, Snapshot())

    def add_failures(self, name: str, count: int, *, now: float, window: float) -> Snapshot:
        with self._lock:
            self.calls["add_failures"] += 1
            current = self._snapshots.get(name, Snapshot())
            after = with_failures(current, count, window, now)
            self._snapshots[name] = after
            return after

    def replace(self, name: str, new: Snapshot, *, expected_version: int) -> bool:
        with self._lock:
            self.calls["replace"] += 1
            if self._snapshots.get(name, Snapshot()).version != expected_version:
                return False
            self._snapshots[name] = new
            return True

    def claim_probe(self, name: str, *, version: int, limit: int) -> bool:
        with self._lock:
            self.calls["claim_probe"] += 1
            current = self._snapshots.get(name, Snapshot())
            if current.version != version or current.state is not CircuitState.HALF_OPEN or current.probes >= limit:
                return False
            self._snapshots[name] = dataclasses.replace(current, probes=current.probes + 1)
            return True

    def release_probe(self, name: str, *, version: int) -> None:
        with self._lock:
            self.calls["release_probe"] += 1
            current = self._snapshots.get(name, Snapshot())
            if current.version == version and current.probes > 0:
                self._snapshots[name] = dataclasses.replace(current, probes=current.probes - 1)


__all__ = ["BreakerStore", "InMemoryStore"]
