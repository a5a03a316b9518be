"""What the idempotency layer decides, as pure functions over plain values: no I/O, no
clock reads, no logging.

Every answer the store gives (a claim won, the record in the way, a failure) and every
record that will not simply run becomes a value here: an :class:`Outcome` (the record's
new :class:`Status`, with its result or error) or a :class:`Verdict` (what the call does
next, and which metrics count it). The callers in :mod:`._batch` and :mod:`._layer` do the
store calls, read the clock and log; this split keeps the rules in one place, readable in
one sitting and testable with plain values, the way :mod:`msgworker.breaker._machine` holds
the circuit breaker's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .._redaction import describe, key_digest
from ..errors import (
    ConfigurationError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyStoreError,
)
from ._cache import CompletedEntry
from ._options import OnPayloadMismatch, OnStoreError
from ._store import COMPLETED, IN_PROGRESS, Claim, StoredRecord

LEASE_WITHOUT_LAMBDA = 900.0
"""Lease of a claim made with no Lambda deadline known: the longest a Lambda can run."""

# Metric names, counted on the invocation and emitted with the batch's metrics.
DUPLICATES = "IdempotentDuplicates"
IN_PROGRESS_METRIC = "IdempotencyInProgress"
STORE_ERRORS = "IdempotencyStoreErrors"
UNGUARDED = "IdempotencyUnguardedRuns"
COMPLETION_FAILED = "IdempotencyCompletionFailed"


class Status(Enum):
    """Where one record (or one call) stands."""

    CLAIMED = "claimed"  # ours, not started yet
    RUNNING = "running"
    COMPLETED = "completed"  # the function returned (completion written in the background)
    FAILED = "failed"  # the function raised; the claim is being released
    RELEASED = "released"  # never started; claim given back in finish
    DUPLICATE = "duplicate"
    IN_PROGRESS = "in_progress"  # another delivery holds the key
    REUSED = "reused"  # the key is known with another payload
    STORE_ERROR = "store_error"
    KEY_ERROR = "key_error"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision about one record: its new status, and the result or error that goes with it.

    ``stored`` is the existing record it was judged against, if any.

    Example:
        >>> Outcome(Status.DUPLICATE, result='{"charged":5}').error is None
        True
    """

    status: Status
    result: str | None = None
    error: BaseException | None = None
    stored: StoredRecord | CompletedEntry | None = None


@dataclass(slots=True, eq=False)
class Entry:
    """One record (or one call) as the layer tracks it from its claim to its completion.

    Example:
        >>> entry = Entry(key="charge#o-1")
        >>> entry.adopt(Outcome(Status.DUPLICATE, result="5"))
        >>> entry.status, entry.result
        (<Status.DUPLICATE: 'duplicate'>, '5')
    """

    index: int = -1
    key: str = ""
    validation: str = ""
    status: Status = Status.KEY_ERROR
    owner: str = ""
    lease_expiration: float = 0.0
    result: str | None = None
    """Stored (or, once completed, storable) result as JSON text."""
    error: BaseException | None = None
    stored: StoredRecord | CompletedEntry | None = None
    """The existing record this delivery was judged against, if any."""
    first: Entry | None = None
    """For a key repeated within the batch: the entry of its first record, which claims for both."""

    def adopt(self, outcome: Outcome) -> None:
        self.status, self.result, self.error, self.stored = (
            outcome.status,
            outcome.result,
            outcome.error,
            outcome.stored,
        )


class Step(Enum):
    """What a call does next."""

    RUN = "run"
    """The key is ours: run the function, then complete (or release if it raises)."""
    SETTLE = "settle"
    """A store call decides first: the claim, or the renewal of a lease running short."""
    RETURN = "return"
    """A duplicate: return the stored result without running."""
    RUN_UNGUARDED = "run_unguarded"
    """The store failed and ``on_store_error="run"``: run without a claim (and warn)."""
    RAISE = "raise"
    """Fail with the entry's error, without running."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The step a record that will not run normally takes, and the metrics that count it.

    ``RUN_UNGUARDED`` always comes with a warning log: the caller logs it.

    Example:
        >>> Verdict(Step.RAISE, ("IdempotencyInProgress",)).metrics
        ('IdempotencyInProgress',)
    """

    step: Step
    metrics: tuple[str, ...] = ()


def judge(
    key: str, stored: StoredRecord | CompletedEntry, validation: str, on_payload_mismatch: OnPayloadMismatch
) -> Outcome:
    """What an existing record means for a delivery whose payload hash is ``validation``:
    a duplicate, in progress elsewhere, or its key reused for another payload.

    Example:
        >>> judge("charge#o-1", CompletedEntry("h1", '{"ok":true}', 100.0), "h1", "error").status
        <Status.DUPLICATE: 'duplicate'>
        >>> judge("charge#o-1", CompletedEntry("h1", None, 100.0), "h2", "error").status
        <Status.REUSED: 'reused'>
    """
    if stored.validation is not None and stored.validation != validation and on_payload_mismatch == "error":
        return Outcome(
            Status.REUSED,
            error=IdempotencyKeyReusedError(
                f"idempotency {key_digest(key)} was already used for a different payload: the key must identify "
                "the payload (pick another key= field), or pass on_payload_mismatch='duplicate' to treat "
                "such records as duplicates"
            ),
            stored=stored,
        )
    if isinstance(stored, CompletedEntry) or stored.status == COMPLETED:
        return Outcome(Status.DUPLICATE, result=stored.result, stored=stored)
    lease = stored.lease_expiration
    until = f" until {lease:.3f} (epoch seconds)" if lease is not None else ""
    return Outcome(
        Status.IN_PROGRESS,
        error=IdempotencyInProgressError(
            f"idempotency {key_digest(key)} is being processed by another delivery{until}; "
            "this record fails and is retried after its visibility timeout"
        ),
        stored=stored,
    )


def claimed(
    key: str, validation: str, stored: StoredRecord | None, on_payload_mismatch: OnPayloadMismatch, *, owner: str = ""
) -> Outcome:
    """What a claim's answer means: ``None`` (the key is ours) or the record in the way.

    A record in the way that carries this delivery's own ``owner`` token is this claim
    itself: the write landed, its answer was lost, and the SDK's retry met it. It is ours.

    Example:
        >>> claimed("charge#o-1", "h1", None, "error").status
        <Status.CLAIMED: 'claimed'>
        >>> mine = StoredRecord("charge#o-1", "INPROGRESS", owner="t-1", validation="h1", expiration=9e9)
        >>> claimed("charge#o-1", "h1", mine, "error", owner="t-1").status
        <Status.CLAIMED: 'claimed'>
    """
    if stored is None or (owner and stored.owner == owner and stored.status == IN_PROGRESS):
        return Outcome(Status.CLAIMED)
    return judge(key, stored, validation, on_payload_mismatch)


def follow(key: str, validation: str, first: Entry, on_payload_mismatch: OnPayloadMismatch) -> Outcome:
    """A key repeated within one batch: the later record behaves like a duplicate delivery
    of the ``first`` record of that key, which claimed for both.

    Example:
        >>> first = Entry(key="charge#o-1", validation="h1", status=Status.COMPLETED, result="5")
        >>> follow("charge#o-1", "h1", first, "error").result
        '5'
        >>> follow("charge#o-1", "h1", Entry(status=Status.RUNNING, validation="h1"), "error").status
        <Status.IN_PROGRESS: 'in_progress'>
    """
    if first.stored is not None:  # the first met an existing record: so does this one
        return judge(key, first.stored, validation, on_payload_mismatch)
    if first.status in (Status.STORE_ERROR, Status.KEY_ERROR):
        return Outcome(first.status, error=first.error)
    if validation != first.validation and on_payload_mismatch == "error":
        return judge(key, CompletedEntry(first.validation, None, 0), validation, on_payload_mismatch)
    if first.status is Status.COMPLETED:
        return Outcome(Status.DUPLICATE, result=first.result)
    # Claimed, running, failed or released by a record of this very batch.
    return Outcome(
        Status.IN_PROGRESS,
        error=IdempotencyInProgressError(
            f"idempotency {key_digest(key)} belongs to an earlier record of this batch that has not "
            "completed; this record fails and is retried after its visibility timeout"
        ),
    )


def store_failed(name: str, error: BaseException) -> Outcome:
    """A store call raised: the record fails with an :class:`IdempotencyStoreError`
    (the original as its cause), unless ``on_store_error="run"`` says otherwise later.

    Example:
        >>> store_failed("charge", ConnectionError("refused")).error.__cause__
        ConnectionError('refused')
    """
    if isinstance(error, IdempotencyStoreError):
        return Outcome(Status.STORE_ERROR, error=error)
    store_error = IdempotencyStoreError(f"idempotency store failed for {name!r}: {describe(error)}")
    store_error.__cause__ = error
    return Outcome(Status.STORE_ERROR, error=store_error)


def claim_failed(name: str, error: Exception) -> Outcome:
    """A claim raised. A store that kept finding the key changing hands raises
    :class:`IdempotencyInProgressError`: retry later; anything else is a store failure.

    Example:
        >>> type(claim_failed("charge", TimeoutError("read timeout")).error).__name__
        'IdempotencyStoreError'
    """
    if isinstance(error, IdempotencyInProgressError):
        return Outcome(Status.IN_PROGRESS, error=error)
    return store_failed(name, error)


def renewal_refused(key: str) -> Outcome:
    """A renewal found the claim no longer ours: its lease lapsed and another delivery took over.

    Example:
        >>> renewal_refused("charge#o-1").status
        <Status.IN_PROGRESS: 'in_progress'>
    """
    return Outcome(
        Status.IN_PROGRESS,
        error=IdempotencyInProgressError(
            f"idempotency {key_digest(key)}: this batch's claim lapsed before the record started and another "
            "delivery took it over; this record fails and is retried"
        ),
    )


def verdict(status: Status, error: BaseException | None, on_store_error: OnStoreError) -> Verdict:
    """What a record that will not run normally turns into: return (a duplicate), run
    unguarded (the store failed and ``on_store_error="run"``), or fail with its error.

    A missing table (a :class:`~msgworker.errors.ConfigurationError`) always fails: no
    record can be guarded, and running them all unguarded would hide the mistake.

    Example:
        >>> verdict(Status.DUPLICATE, None, "fail")
        Verdict(step=<Step.RETURN: 'return'>, metrics=('IdempotentDuplicates',))
        >>> verdict(Status.STORE_ERROR, IdempotencyStoreError("down"), "run").step
        <Step.RUN_UNGUARDED: 'run_unguarded'>
    """
    if status is Status.DUPLICATE:
        return Verdict(Step.RETURN, (DUPLICATES,))
    if status is Status.STORE_ERROR and not isinstance(error, ConfigurationError):
        if on_store_error == "run":
            return Verdict(Step.RUN_UNGUARDED, (STORE_ERRORS, UNGUARDED))
        return Verdict(Step.RAISE, (STORE_ERRORS,))
    if status is Status.IN_PROGRESS:
        return Verdict(Step.RAISE, (IN_PROGRESS_METRIC,))
    return Verdict(Step.RAISE)


def lease_end(now: float, lease: float | None, lambda_end: float) -> float:
    """When a claim made at ``now`` stops holding its key: ``lease`` seconds on, or the
    longest a Lambda runs, and never past the Lambda's own end (epoch seconds, or inf).

    Example:
        >>> lease_end(100.0, 30.0, lambda_end=float("inf")), lease_end(100.0, None, lambda_end=160.0)
        (130.0, 160.0)
    """
    return min(now + (lease if lease is not None else LEASE_WITHOUT_LAMBDA), lambda_end)


def needs_renewal(lease_expiration: float, now: float, lease: float | None) -> bool:
    """Does a claim about to run need its lease renewed first?

    A configured lease is the time one record may take; records late in a long batch were
    claimed long before they start, so they renew when half of it is gone. Without one
    the lease is the Lambda's end, which no renewal could extend.

    Example:
        >>> needs_renewal(110.0, now=100.0, lease=30.0), needs_renewal(120.0, now=100.0, lease=30.0)
        (True, False)
    """
    return lease is not None and lease_expiration - now < lease / 2


def claim_of(entry: Entry, now: float, ttl: float) -> Claim:
    """The claim to write for ``entry`` (its key, owner token, payload hash and lease).

    Example:
        >>> claim_of(Entry(key="charge#o-1", owner="me", lease_expiration=130.0), now=100.0, ttl=3600).expiration
        3700.0
    """
    # The in-progress record outlives its lease, so TTL never removes a live claim.
    return Claim(
        entry.key, entry.owner, entry.validation, entry.lease_expiration, max(now + ttl, entry.lease_expiration)
    )


__all__ = [
    "COMPLETION_FAILED",
    "DUPLICATES",
    "IN_PROGRESS_METRIC",
    "LEASE_WITHOUT_LAMBDA",
    "STORE_ERRORS",
    "UNGUARDED",
    "Entry",
    "Outcome",
    "Status",
    "Step",
    "Verdict",
    "claim_failed",
    "claim_of",
    "claimed",
    "follow",
    "judge",
    "lease_end",
    "needs_renewal",
    "renewal_refused",
    "store_failed",
    "verdict",
]
