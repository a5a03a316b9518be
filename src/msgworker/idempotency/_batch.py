"""The idempotency layer's part in a batch run by ``worker``: claims for the whole batch
in :func:`prepare`, each record's run against its claim (:class:`BatchAttempt`), and the
writes waited for in :func:`finish`.

``prepare`` submits every record's claim to the store's executor at once, so the batch
waits for one round trip; a record's call then finds its claim's answer in the
invocation's state and makes no store call (except a rare lease renewal); completions
and releases are submitted as records end, and ``finish`` waits for them all (one more
round trip). What each answer means is decided in :mod:`._decisions`; this module only
keeps the batch's state and does its store calls, so the batch and a call alone
(:class:`~msgworker.idempotency._layer.AloneAttempt`) share every rule.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._layers import Batch, Invocation
from .._message import Message
from ..errors import ConfigurationError
from ._decisions import Entry, Outcome, Status, Step, claim_of, follow, needs_renewal, renewal_refused, store_failed

if TYPE_CHECKING:
    from ._layer import Idempotency, Write


@dataclass(slots=True, eq=False)
class BatchState:
    """The layer's part of ``invocation.state``: every record's entry, and writes in flight.

    Example:
        >>> state = BatchState()
        >>> state.entry_for(None) is None
        True
    """

    by_record: dict[int, Entry] = field(default_factory=dict)
    """Entries by ``id()`` of the raw record the pipeline hands to the record function."""
    entries: list[Entry] = field(default_factory=list)
    pending: list[Future[None]] = field(default_factory=list)
    """Completions and releases submitted to the store's executor; each handles its own failure."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    """Held while an entry's status changes: records of a repeated key read their first's."""
    releases: dict[int, Future[None]] = field(default_factory=dict)
    """The release in flight of each failed entry, by ``id()`` of the entry."""

    def entry_for(self, message: Message | None) -> Entry | None:
        if message is None:
            return None
        return self.by_record.get(id(message.raw))

    def released(self, entry: Entry) -> None:
        """Wait until the claim of ``entry`` (whose call failed) has been given back."""
        future = self.releases.get(id(entry))
        if future is not None:
            future.result()  # a failed release logs itself; the next claim then says why


def prepare(layer: Idempotency, batch: Batch) -> None:
    """Claim every record's key at once (one round trip for the whole batch)."""
    invocation = batch.invocation
    state = BatchState()
    invocation.state[layer] = state
    now = layer.clock()
    lease_end = layer.lease_end(invocation, now)
    firsts: dict[str, Entry] = {}
    to_claim: list[Entry] = []
    occurrences = Counter(id(item.message.raw) for item in batch.items)
    for item in batch.items:
        if occurrences[id(item.message.raw)] > 1:
            continue  # one record object listed twice: each call claims for itself
        entry = Entry(item.index)
        state.by_record[id(item.message.raw)] = entry
        state.entries.append(entry)
        try:
            entry.key, entry.validation = layer.identify(item.payload, item.message)
        except Exception as error:
            entry.adopt(Outcome(Status.KEY_ERROR, error=error))
            continue
        first = firsts.get(entry.key)
        if first is not None:
            entry.first = first
            continue
        firsts[entry.key] = entry
        if not layer.recalled(entry, now):
            entry.owner, entry.lease_expiration = uuid.uuid4().hex, lease_end
            to_claim.append(entry)
    if not to_claim:
        return
    store = layer.store
    ttl = layer.options.ttl
    futures = [store.executor.submit(store.claim, claim_of(entry, now, ttl), now) for entry in to_claim]
    configuration_error: ConfigurationError | None = None
    for entry, future in zip(to_claim, futures, strict=True):
        try:
            layer.settle_claim(entry, future.result)
        except ConfigurationError as error:
            configuration_error = error
    if configuration_error is not None:
        # A missing table is not a passing outage: fail the whole batch saying so
        # (finish still gives back the claims that went through).
        raise configuration_error


def finish(layer: Idempotency, batch: Batch) -> None:
    """Give back claims of records that never started, then wait for every completion
    and release written in the background (each logs and counts its own failure)."""
    state: BatchState | None = batch.invocation.state.get(layer)
    if state is None:
        return
    with state.lock:
        unstarted = [entry for entry in state.entries if entry.status is Status.CLAIMED]
        for entry in unstarted:
            entry.status = Status.RELEASED
    if unstarted:
        executor = layer.store.executor
        state.pending.extend(executor.submit(layer.release(entry)) for entry in unstarted)
    for future in state.pending:
        future.result()
    state.pending.clear()


@dataclass(slots=True, eq=False)
class BatchAttempt:
    """One call of the record function under ``worker``, against the claim ``prepare`` made.

    Its ``begin`` makes no store call; its writes go to the store's executor and
    ``finish`` waits for them, so the next record starts at once.
    """

    layer: Idempotency
    entry: Entry
    state: BatchState
    invocation: Invocation

    def begin(self) -> Step:
        entry, layer = self.entry, self.layer
        with self.state.lock:
            if entry.first is not None:
                entry.adopt(follow(entry.key, entry.validation, entry.first, layer.options.on_payload_mismatch))
                entry.first = None
            claimed = entry.status is Status.CLAIMED
            if claimed:
                entry.status = Status.RUNNING
        if not claimed:
            return layer.conclude(entry, self.invocation)
        if needs_renewal(entry.lease_expiration, layer.clock(), layer.options.lease):
            return Step.SETTLE
        return Step.RUN

    def settle(self) -> Step:
        """Renew the lease of a claim made long before its record started (blocking)."""
        entry, layer = self.entry, self.layer
        lease_end = layer.lease_end(self.invocation, layer.clock())
        try:
            outcome = None if layer.store.renew(entry.key, entry.owner, lease_end) else renewal_refused(entry.key)
        except Exception as error:
            outcome = store_failed(layer.name, error)
        if outcome is None:
            entry.lease_expiration = lease_end
            return Step.RUN
        with self.state.lock:
            entry.adopt(outcome)
        return layer.conclude(entry, self.invocation)

    def succeeded(self, result: Any) -> Write | None:
        write = self.layer.completed(self.entry, self.invocation, result)
        with self.state.lock:
            self.entry.status = Status.COMPLETED
        self.state.pending.append(self.layer.store.executor.submit(write))
        return None  # finish waits for it

    def failed(self) -> Write | None:
        with self.state.lock:
            self.entry.status = Status.FAILED
        future = self.layer.store.executor.submit(self.layer.release(self.entry))
        self.state.pending.append(future)
        self.state.releases[id(self.entry)] = future
        return None


__all__ = ["BatchAttempt", "BatchState", "finish", "prepare"]
