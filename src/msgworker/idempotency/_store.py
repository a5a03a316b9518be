"""Where idempotency records live: the :class:`IdempotencyStore` protocol, the record
shape, and :class:`InMemoryStore` for unit tests.

A store keeps one record per namespaced key and offers four atomic operations:
``claim`` (create or take over an absent, expired or abandoned record), ``renew`` and
``complete`` and ``release`` (each only while the caller still owns the record). The
decisions built on them (duplicate, in progress, key reused) live in
:mod:`msgworker.idempotency._decisions`, so a new store is a new file, not an edit there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from typing import ParamSpec, Protocol, TypeVar, runtime_checkable

P = ParamSpec("P")
T = TypeVar("T")

IN_PROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"
"""Record statuses, spelled as aws-lambda-powertools spells them in the same table shape."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One key's record as a store holds it.

    ``expiration`` is epoch seconds (the table's TTL attribute): past it the record
    counts as absent, whether or not DynamoDB has deleted it yet. ``lease_expiration``
    (epoch seconds) ends an in-progress claim: past it another delivery may take over.
    """

    key: str
    status: str
    owner: str | None
    validation: str | None
    expiration: float
    lease_expiration: float | None = None
    result: str | None = None
    """The function's result as JSON text, when the layer stores results."""

    def is_expired(self, now: float) -> bool:
        return self.expiration < now

    def is_abandoned(self, now: float) -> bool:
        """An in-progress claim whose lease has ended: its owner crashed or ran out of time."""
        return self.status == IN_PROGRESS and self.lease_expiration is not None and self.lease_expiration < now

    def is_available(self, now: float) -> bool:
        """May a new delivery claim this key?"""
        return self.is_expired(now) or self.is_abandoned(now)


@dataclass(frozen=True, slots=True)
class Claim:
    """A request to own ``key`` until ``lease_expiration`` (epoch seconds)."""

    key: str
    owner: str
    """A random token: later writes are conditioned on the record still carrying it."""
    validation: str
    """The payload's hash, to tell a duplicate from a reused key."""
    lease_expiration: float
    expiration: float
    """TTL of the in-progress record, so abandoned claims are eventually deleted."""


@runtime_checkable
class IdempotencyStore(Protocol):
    """Storage for idempotency records. Every method is atomic for one key.

    Stores raise :class:`~msgworker.errors.IdempotencyStoreError` when they cannot be
    reached or answer with an error, and :class:`~msgworker.errors.ConfigurationError`
    when they are set up wrongly (a table that does not exist).
    """

    @property
    def executor(self) -> Executor:
        """Where the layer runs store calls concurrently (claims for a batch, completions)."""
        ...

    def claim(self, claim: Claim, now: float) -> StoredRecord | None:
        """Create the record of ``claim`` if the key is absent or available at ``now``.

        Returns ``None`` when the caller now owns the key, else the record in the way.
        """
        ...

    def renew(self, key: str, owner: str, lease_expiration: float) -> bool:
        """Extend ``owner``'s lease; ``False`` if the record is no longer ``owner``'s."""
        ...

    def complete(self, key: str, owner: str, *, expiration: float, result: str | None) -> bool:
        """Mark ``owner``'s claim completed until ``expiration``; ``False`` if no longer ``owner``'s."""
        ...

    def release(self, key: str, owner: str) -> bool:
        """Delete ``owner``'s claim so a retry can run; ``False`` if no longer ``owner``'s."""
        ...


class InlineExecutor(Executor):
    """Runs each submitted call at once in the caller's thread (for stores with no I/O)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
        return future


class InMemoryStore:
    """An :class:`IdempotencyStore` in a dict, for unit tests and local runs.

    It follows the same rules as the DynamoDB store (expiry, leases, ownership), but
    only within one process: it cannot protect Lambda containers from each other.

    Example:
        >>> from msgworker.idempotency import idempotent
        >>> store = InMemoryStore()
        >>> @idempotent(key="order_id", name="charge", store=store)
        ... def charge(order):
        ...     print("charged", order["order_id"])
        >>> charge({"order_id": "o-1"})
        charged o-1
        >>> charge({"order_id": "o-1"})  # a duplicate: skipped
        >>> sorted(store.records)
        ['charge#o-1']
    """

    def __init__(self) -> None:
        self.records: dict[str, StoredRecord] = {}
        self._executor = InlineExecutor()
        self._lock = threading.Lock()

    @property
    def executor(self) -> Executor:
        return self._executor

    def claim(self, claim: Claim, now: float) -> StoredRecord | None:
        with self._lock:
            existing = self.records.get(claim.key)
            if existing is not None and not existing.is_available(now):
                return existing
            self.records[claim.key] = StoredRecord(
                key=claim.key,
                status=IN_PROGRESS,
                owner=claim.owner,
                validation=claim.validation,
                expiration=claim.expiration,
                lease_expiration=claim.lease_expiration,
            )
            return None

    def renew(self, key: str, owner: str, lease_expiration: float) -> bool:
        with self._lock:
            existing = self.records.get(key)
            if existing is None or existing.owner != owner:
                return False
            self.records[key] = replace(existing, lease_expiration=lease_expiration)
            return True

    def complete(self, key: str, owner: str, *, expiration: float, result: str | None) -> bool:
        with self._lock:
            existing = self.records.get(key)
            if existing is None or existing.owner != owner:
                return False
            self.records[key] = replace(
                existing, status=COMPLETED, expiration=expiration, lease_expiration=None, result=result
            )
            return True

    def release(self, key: str, owner: str) -> bool:
        with self._lock:
            existing = self.records.get(key)
            if existing is None or existing.owner != owner:
                return False
            del self.records[key]
            return True


__all__ = [
    "COMPLETED",
    "IN_PROGRESS",
    "Claim",
    "IdempotencyStore",
    "InMemoryStore",
    "InlineExecutor",
    "StoredRecord",
]
