"""``idempotent``: run a record function at most once per key within the TTL.

How a record goes through the layer (see docs/idempotency.md for the user's view):

1. **Identify.** The key function gives the key, namespaced ``"{name}#{key}"``; the
   payload's SHA-256 is kept beside it to tell a duplicate from a reused key.
2. **Claim.** A conditional write creates an in-progress record with a lease. It
   succeeds if the key is absent, its record has expired, or its lease has ended. When
   it fails, the same response carries the record in the way: completed → duplicate
   (the function is skipped, the record succeeds); in progress → the record fails and
   is retried later; different payload → :class:`IdempotencyKeyReusedError`.
3. **Run**, then **complete** (mark the record completed until ``now + ttl``), or
   **release** (delete our claim) if the function raised, so a retry can run it.

Under ``worker`` the claims of a whole batch go out together in ``prepare`` (one round
trip for the batch), each record finds its claim's answer in the invocation's state,
and completions are written in the background while the next records run; ``finish``
waits for them (one more round trip). A plain call does the three steps in order.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, ParamSpec, TypeVar, cast

from .._aws_clients import prepare
from .._layers import Batch, Invocation, Item, current_invocation, is_async, is_record_call, mark_layer
from ..errors import (
    ConfigurationError,
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyStoreError,
)
from ..message import Message
from .cache import DEFAULT_CACHE_SIZE, CompletedCache, CompletedEntry
from .dynamodb import shared_store
from .keys import CallKeys, KeySpec, check_key, default_name, namespaced
from .store import COMPLETED, Claim, IdempotencyStore, StoredRecord

logger = logging.getLogger("msgworker.idempotency")

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_TTL = 3600
LEASE_WITHOUT_LAMBDA = 900.0
"""Lease of a claim made with no Lambda deadline known: the longest a Lambda can run."""

OnPayloadMismatch = Literal["error", "duplicate"]
OnStoreError = Literal["fail", "run"]

# Metric names, counted on the invocation and emitted with the batch's metrics.
DUPLICATES = "IdempotentDuplicates"
IN_PROGRESS_METRIC = "IdempotencyInProgress"
STORE_ERRORS = "IdempotencyStoreErrors"
UNGUARDED = "IdempotencyUnguardedRuns"
COMPLETION_FAILED = "IdempotencyCompletionFailed"


class Status(Enum):
    """Where one record of a batch stands."""

    CLAIMED = "claimed"  # ours, not started yet
    RUNNING = "running"
    COMPLETED = "completed"  # the function returned (completion written in the background)
    FAILED = "failed"  # the function raised; the claim is being released
    RELEASED = "released"  # never started; claim given back in finish
    DUPLICATE = "duplicate"
    BLOCKED = "blocked"  # in progress elsewhere, or key reused: ``error`` says which
    STORE_ERROR = "store_error"
    KEY_ERROR = "key_error"


@dataclass(slots=True, eq=False)
class Entry:
    """One parsed record of a batch, as the layer tracks it between the hooks."""

    index: int
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


@dataclass(slots=True, eq=False)
class BatchState:
    """The layer's part of ``invocation.state``: every record's entry, and writes in flight."""

    by_record: dict[int, Entry] = field(default_factory=dict)
    """Entries by ``id()`` of the raw record the pipeline hands to the record function."""
    entries: list[Entry] = field(default_factory=list)
    pending: list[tuple[str, Entry, Future[bool]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def entry_for(self, message: Message | None) -> Entry | None:
        if message is None:
            return None
        return self.by_record.get(id(message.raw))


class Decision(Enum):
    """What a record's wrapper does once its claim is settled (or it raises instead)."""

    RUN = "run"
    RUN_UNGUARDED = "run_unguarded"
    RETURN = "return"


def check_options(
    *, name: str | None, ttl: float, lease: float | None, on_payload_mismatch: str, on_store_error: str
) -> None:
    """Reject bad ``idempotent(...)`` options when the handler module is imported, not at first use."""
    if ttl <= 0:
        raise ValueError(f"idempotent(ttl=...) must be a positive number of seconds, got {ttl}")
    if lease is not None and lease <= 0:
        raise ValueError(f"idempotent(lease=...) must be a positive number of seconds or None, got {lease}")
    if on_payload_mismatch not in ("error", "duplicate"):
        raise ValueError(f"on_payload_mismatch must be 'error' or 'duplicate', got {on_payload_mismatch!r}")
    if on_store_error not in ("fail", "run"):
        raise ValueError(f"on_store_error must be 'fail' or 'run', got {on_store_error!r}")
    if name is not None and (not name or "#" in name):
        raise ValueError(f"idempotent(name=...) must be non-empty and without '#', got {name!r}")


class Idempotency:
    """The layer object behind :func:`idempotent`: configuration, warm cache and batch hooks.

    ``worker`` calls :meth:`prepare` and :meth:`finish` around each batch; the wrapper
    that :func:`idempotent` returns calls the rest. Reach it from a decorated function
    with ``msgworker.layers.find_layers(function)``.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        key: KeySpec,
        name: str | None,
        table: str | None,
        ttl: float,
        lease: float | None,
        store: IdempotencyStore | None,
        store_result: bool,
        on_payload_mismatch: OnPayloadMismatch,
        on_store_error: OnStoreError,
        cache_size: int,
    ):
        check_options(
            name=name, ttl=ttl, lease=lease, on_payload_mismatch=on_payload_mismatch, on_store_error=on_store_error
        )
        self.function = function
        self.name = name if name is not None else default_name(function)
        self._named = name is not None
        self.keys = CallKeys(key, function)
        self.table = table
        self.ttl = ttl
        self.lease = lease
        self.store_result = store_result
        self.on_payload_mismatch = on_payload_mismatch
        self.on_store_error = on_store_error
        self.cache = CompletedCache(cache_size)
        self._store = store
        if store is None:
            prepare("dynamodb")  # in Lambda's init phase, not the first batch (docs/decisions/0013)
        self.clock: Callable[[], float] = time.time
        """Wall clock (epoch seconds); leases and expirations are compared across machines."""

    def __repr__(self) -> str:
        return f"<idempotent {self.name!r}>"

    @property
    def store(self) -> IdempotencyStore:
        """The store given, or the process's DynamoDB store for ``table`` (made on first use)."""
        if self._store is None:
            self._store = shared_store(self.table)
            if not self._named:
                # Not silent: a rename of the function or its module starts a new namespace,
                # and deliveries in flight across that deploy would run again.
                logger.warning(
                    f"idempotent keys of {self.name!r} are namespaced by the function's import path; renaming "
                    "the function or its module starts a new namespace. Pass idempotent(name=...) to fix it.",
                    extra={"idempotency_name": self.name},
                )
        return self._store

    # -- identifying and judging ---------------------------------------------------------

    def identify(self, payload: Any, message: Message | None) -> tuple[str, str]:
        """The stored id and the payload hash of a record."""
        key, validation = self.keys.of_record(payload, message)
        return namespaced(self.name, key), validation

    def identify_call(self, args: tuple[Any, ...], kwargs: dict[str, Any], item: Item | None) -> tuple[str, str]:
        """The stored id and validation hash of a call: a record's when ``worker`` is
        calling the record function (``item``), else the call's own arguments'."""
        if item is not None:
            return self.identify(item.payload, item.message)
        key, validation = self.keys.of_call(args, kwargs)
        return namespaced(self.name, key), validation

    def _lease_end(self, invocation: Invocation | None, now: float) -> float:
        end = now + (self.lease if self.lease is not None else LEASE_WITHOUT_LAMBDA)
        return end if invocation is None else min(end, invocation.wall_clock_end())

    def _claim(self, key: str, validation: str, owner: str, lease_end: float, now: float) -> Claim:
        # The in-progress record outlives its lease, so TTL never removes a live claim.
        return Claim(key, owner, validation, lease_end, max(now + self.ttl, lease_end))

    def _judge(self, key: str, stored: StoredRecord | CompletedEntry, validation: str) -> Entry:
        """What an existing record means for a delivery with payload hash ``validation``."""
        entry = Entry(-1, key, validation, stored=stored)
        if stored.validation is not None and stored.validation != validation and self.on_payload_mismatch == "error":
            entry.status = Status.BLOCKED
            entry.error = IdempotencyKeyReusedError(
                f"idempotency key {key!r} was already used for a different payload: the key must identify "
                "the payload (pick another key= field), or pass on_payload_mismatch='duplicate' to treat "
                "such records as duplicates"
            )
        elif isinstance(stored, CompletedEntry) or stored.status == COMPLETED:
            entry.status = Status.DUPLICATE
            entry.result = stored.result
        else:
            entry.status = Status.BLOCKED
            lease = getattr(stored, "lease_expiration", None)
            until = f" until {lease:.3f} (epoch seconds)" if lease is not None else ""
            entry.error = IdempotencyInProgressError(
                f"idempotency key {key!r} is being processed by another delivery{until}; "
                "this record fails and is retried after its visibility timeout"
            )
        return entry

    def _encode(self, result: Any) -> str | None:
        if not self.store_result:
            return None
        from pydantic_core import to_jsonable_python

        try:
            return json.dumps(to_jsonable_python(result), separators=(",", ":"))
        except (TypeError, ValueError) as error:
            logger.warning(
                "idempotent result not stored: not JSON-serialisable",
                extra={"idempotency_name": self.name, "error": str(error)},
            )
            return None

    @staticmethod
    def _decode(result: str | None) -> Any:
        return None if result is None else json.loads(result)

    def _remember(self, key: str, validation: str, result: str | None, now: float) -> None:
        self.cache.put(key, CompletedEntry(validation, result, now + self.ttl))

    # -- batch hooks ------------------------------------------------------------------------

    def prepare(self, batch: Batch) -> None:
        """Claim every record's key at once (one round trip for the whole batch)."""
        invocation = batch.invocation
        state = BatchState()
        invocation.state[self] = state
        now = self.clock()
        lease_end = self._lease_end(invocation, now)
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
                entry.key, entry.validation = self.identify(item.payload, item.message)
            except Exception as error:
                entry.status, entry.error = Status.KEY_ERROR, error
                continue
            first = firsts.get(entry.key)
            if first is not None:
                entry.first = first
                continue
            firsts[entry.key] = entry
            cached = self.cache.get(entry.key, now)
            if cached is not None:
                self._adopt(entry, self._judge(entry.key, cached, entry.validation))
                continue
            entry.owner = uuid.uuid4().hex
            entry.lease_expiration = lease_end
            to_claim.append(entry)
        if not to_claim:
            return
        store = self.store
        futures = [
            store.executor.submit(
                store.claim, self._claim(entry.key, entry.validation, entry.owner, lease_end, now), now
            )
            for entry in to_claim
        ]
        configuration_error: ConfigurationError | None = None
        for entry, future in zip(to_claim, futures, strict=True):
            try:
                stored = future.result()
            except ConfigurationError as error:
                configuration_error = error
                entry.status, entry.error = Status.STORE_ERROR, error
            except Exception as error:
                self._claim_failed(entry, error)
            else:
                if stored is None:
                    entry.status = Status.CLAIMED
                else:
                    self._adopt(entry, self._judge(entry.key, stored, entry.validation))
                    if entry.status is Status.DUPLICATE:
                        self.cache.put(entry.key, CompletedEntry(stored.validation, stored.result, stored.expiration))
        if configuration_error is not None:
            # A missing table is not a passing outage: fail the whole batch saying so
            # (finish still gives back the claims that went through).
            raise configuration_error

    @staticmethod
    def _adopt(entry: Entry, judged: Entry) -> None:
        entry.status, entry.result, entry.error, entry.stored = (
            judged.status,
            judged.result,
            judged.error,
            judged.stored,
        )

    def finish(self, batch: Batch) -> None:
        """Give back claims of records that never started, then wait for every completion
        and release written in the background, logging (and counting) any that failed."""
        invocation = batch.invocation
        state: BatchState | None = invocation.state.get(self)
        if state is None:
            return
        with state.lock:
            unstarted = [entry for entry in state.entries if entry.status is Status.CLAIMED]
            for entry in unstarted:
                entry.status = Status.RELEASED
        if unstarted:
            store = self.store
            for entry in unstarted:
                state.pending.append(("release", entry, store.executor.submit(store.release, entry.key, entry.owner)))
        for kind, entry, future in state.pending:
            try:
                written = future.result()
                error: BaseException | None = None
            except Exception as failure:
                written, error = False, failure
            if kind == "complete" and not written:
                self._completion_failed(invocation, entry.key, error)
            elif kind == "release" and error is not None:
                logger.warning(
                    "idempotency claim not released: a retry waits for the lease to end",
                    extra={"key": entry.key, "error": str(error)},
                )
        state.pending.clear()

    def _completion_failed(self, invocation: Invocation | None, key: str, error: BaseException | None) -> None:
        # The function ran, so the record is reported done: failing it would run the
        # effect again once the lease ends. A duplicate may still run it again later.
        if invocation is not None:
            invocation.count(COMPLETION_FAILED)
        reason = (
            str(error) if error is not None else "the claim's lease had ended and another delivery had taken it over"
        )
        logger.error(
            "idempotency completion not recorded: the record is reported done, but a redelivery may run it again",
            extra={"key": key, "reason": reason},
        )

    def _claim_failed(self, entry: Entry, error: Exception) -> None:
        if isinstance(error, IdempotencyInProgressError):  # the key kept changing hands: retry later
            entry.status, entry.error = Status.BLOCKED, error
        else:
            entry.status, entry.error = Status.STORE_ERROR, self._store_error(error)

    def _store_error(self, error: BaseException) -> IdempotencyStoreError:
        if isinstance(error, IdempotencyStoreError):
            return error
        store_error = IdempotencyStoreError(f"idempotency store failed for {self.name!r}: {error}")
        store_error.__cause__ = error
        return store_error

    # -- one record under worker ----------------------------------------------------------------

    def _begin(self, entry: Entry, state: BatchState, invocation: Invocation) -> Decision:
        """Decide a batch record's fate from its claim (no store call, except a rare renewal)."""
        with state.lock:
            if entry.first is not None:
                self._follow(entry, entry.first)
            if entry.status is Status.CLAIMED:
                entry.status = Status.RUNNING
                return Decision.RUN
        return self._verdict(entry, invocation)

    def _follow(self, entry: Entry, first: Entry) -> None:
        """A key repeated in one batch behaves like a duplicate delivery of the first record."""
        entry.first = None
        if first.stored is not None:  # the first met an existing record: so does this one
            self._adopt(entry, self._judge(entry.key, first.stored, entry.validation))
        elif first.status in (Status.STORE_ERROR, Status.KEY_ERROR):
            entry.status, entry.error = first.status, first.error
        elif entry.validation != first.validation and self.on_payload_mismatch == "error":
            self._adopt(entry, self._judge(entry.key, CompletedEntry(first.validation, None, 0), entry.validation))
        elif first.status is Status.COMPLETED:
            entry.status, entry.result = Status.DUPLICATE, first.result
        else:  # claimed, running, failed or released by a record of this very batch
            entry.status = Status.BLOCKED
            entry.error = IdempotencyInProgressError(
                f"idempotency key {entry.key!r} belongs to an earlier record of this batch that has not "
                "completed; this record fails and is retried after its visibility timeout"
            )

    def _verdict(self, entry: Entry, invocation: Invocation | None) -> Decision:
        """Turn a record that will not run normally into its outcome (return or raise)."""
        if entry.status is Status.DUPLICATE:
            if invocation is not None:
                invocation.count(DUPLICATES)
            return Decision.RETURN
        if entry.status is Status.STORE_ERROR and not isinstance(entry.error, ConfigurationError):
            if invocation is not None:
                invocation.count(STORE_ERRORS)
            if self.on_store_error == "run":
                if invocation is not None:
                    invocation.count(UNGUARDED)
                logger.warning(
                    "idempotency store unavailable: running without idempotency (on_store_error='run')",
                    extra={"key": entry.key, "error": str(entry.error)},
                )
                return Decision.RUN_UNGUARDED
        if isinstance(entry.error, IdempotencyInProgressError) and invocation is not None:
            invocation.count(IN_PROGRESS_METRIC)
        assert entry.error is not None
        raise entry.error

    def _needs_renewal(self, entry: Entry, now: float) -> bool:
        # A configured lease is the time one record may take; records late in a long batch
        # were claimed long before they start, so they renew when half of it is gone.
        return self.lease is not None and entry.lease_expiration - now < self.lease / 2

    def _renewed(self, entry: Entry, invocation: Invocation | None, now: float) -> bool:
        lease_end = self._lease_end(invocation, now)
        try:
            renewed = self.store.renew(entry.key, entry.owner, lease_end)
        except Exception as error:
            entry.status, entry.error = Status.STORE_ERROR, self._store_error(error)
            return False
        if renewed:
            entry.lease_expiration = lease_end
        else:
            entry.status = Status.BLOCKED
            entry.error = IdempotencyInProgressError(
                f"idempotency key {entry.key!r}: this batch's claim lapsed before the record started and another "
                "delivery took it over; this record fails and is retried"
            )
        return renewed

    def _succeeded(self, entry: Entry, state: BatchState, result: Any) -> None:
        encoded = self._encode(result)
        now = self.clock()
        with state.lock:
            entry.status, entry.result = Status.COMPLETED, encoded
        self._remember(entry.key, entry.validation, encoded, now)
        store = self.store
        future = store.executor.submit(
            store.complete, entry.key, entry.owner, expiration=now + self.ttl, result=encoded
        )
        state.pending.append(("complete", entry, future))

    def _failed(self, entry: Entry, state: BatchState) -> None:
        with state.lock:
            entry.status = Status.FAILED
        store = self.store
        state.pending.append(("release", entry, store.executor.submit(store.release, entry.key, entry.owner)))

    def run_batch_record(self, entry: Entry, state: BatchState, invocation: Invocation, call: Callable[[], Any]) -> Any:
        decision = self._begin(entry, state, invocation)
        if decision is Decision.RETURN:
            return self._decode(entry.result)
        if decision is Decision.RUN_UNGUARDED:
            return call()
        now = self.clock()
        if (
            self._needs_renewal(entry, now)
            and not self._renewed(entry, invocation, now)
            and self._verdict(entry, invocation) is Decision.RUN_UNGUARDED
        ):
            return call()
        try:
            result = call()
        except Exception:
            self._failed(entry, state)
            raise
        self._succeeded(entry, state, result)
        return result

    async def run_batch_record_async(
        self, entry: Entry, state: BatchState, invocation: Invocation, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        decision = self._begin(entry, state, invocation)
        if decision is Decision.RETURN:
            return self._decode(entry.result)
        if decision is Decision.RUN_UNGUARDED:
            return await call()
        now = self.clock()
        if self._needs_renewal(entry, now):
            import asyncio  # only async functions need it (importing it costs ~15 ms of cold start)

            store = self.store
            renewed = await asyncio.wrap_future(
                store.executor.submit(self._renewed, entry, invocation, now)  # a rare extra call, off the loop
            )
            if not renewed and self._verdict(entry, invocation) is Decision.RUN_UNGUARDED:
                return await call()
        try:
            result = await call()
        except Exception:
            self._failed(entry, state)
            raise
        self._succeeded(entry, state, result)
        return result

    # -- one record alone (a plain call, or a record no prepare saw) -------------------------------

    def _start_alone(self, key: str, validation: str, invocation: Invocation | None) -> Entry:
        """Look one call up in the warm cache; ``CLAIMED`` means "claim it now"."""
        now = self.clock()
        entry = Entry(-1, key, validation)
        cached = self.cache.get(key, now)
        if cached is not None:
            self._adopt(entry, self._judge(key, cached, validation))
            return entry
        entry.owner = uuid.uuid4().hex
        entry.lease_expiration = self._lease_end(invocation, now)
        entry.status = Status.CLAIMED
        return entry

    def _claim_alone(self, entry: Entry, now: float) -> None:
        try:
            stored = self.store.claim(
                self._claim(entry.key, entry.validation, entry.owner, entry.lease_expiration, now), now
            )
        except ConfigurationError:
            raise
        except Exception as error:
            self._claim_failed(entry, error)
            return
        if stored is not None:
            self._adopt(entry, self._judge(entry.key, stored, entry.validation))
            if entry.status is Status.DUPLICATE:
                self.cache.put(entry.key, CompletedEntry(stored.validation, stored.result, stored.expiration))

    def _end_alone(self, entry: Entry, invocation: Invocation | None, result: Any) -> None:
        encoded = self._encode(result)
        now = self.clock()
        self._remember(entry.key, entry.validation, encoded, now)
        try:
            written = self.store.complete(entry.key, entry.owner, expiration=now + self.ttl, result=encoded)
            error: BaseException | None = None
        except Exception as failure:
            written, error = False, failure
        if not written:
            self._completion_failed(invocation, entry.key, error)

    def _release_alone(self, entry: Entry) -> None:
        try:
            self.store.release(entry.key, entry.owner)
        except Exception as error:
            logger.warning(
                "idempotency claim not released: a retry waits for the lease to end",
                extra={"key": entry.key, "error": str(error)},
            )

    def run_alone(self, identity: tuple[str, str], invocation: Invocation | None, call: Callable[[], Any]) -> Any:
        entry = self._start_alone(*identity, invocation)
        if entry.status is Status.CLAIMED:
            self._claim_alone(entry, self.clock())
        if entry.status is not Status.CLAIMED:
            if self._verdict(entry, invocation) is Decision.RETURN:
                return self._decode(entry.result)
            return call()  # unguarded, by the user's choice
        try:
            result = call()
        except Exception:
            self._release_alone(entry)
            raise
        self._end_alone(entry, invocation, result)
        return result

    async def run_alone_async(
        self, identity: tuple[str, str], invocation: Invocation | None, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        import asyncio  # only async functions need it (importing it costs ~15 ms of cold start)

        entry = self._start_alone(*identity, invocation)
        executor = self.store.executor if entry.status is Status.CLAIMED else None
        if executor is not None:
            await asyncio.wrap_future(executor.submit(self._claim_alone, entry, self.clock()))
        if entry.status is not Status.CLAIMED:
            if self._verdict(entry, invocation) is Decision.RETURN:
                return self._decode(entry.result)
            return await call()
        try:
            result = await call()
        except Exception:
            await asyncio.wrap_future(self.store.executor.submit(self._release_alone, entry))
            raise
        await asyncio.wrap_future(self.store.executor.submit(self._end_alone, entry, invocation, result))
        return result


def idempotent(
    key: KeySpec = None,
    *,
    table: str | None = None,
    name: str | None = None,
    ttl: float = DEFAULT_TTL,
    lease: float | None = None,
    store_result: bool = False,
    on_payload_mismatch: OnPayloadMismatch = "error",
    on_store_error: OnStoreError = "fail",
    cache_size: int = DEFAULT_CACHE_SIZE,
    store: IdempotencyStore | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function at most once per key within ``ttl`` seconds.

    Works on a record function under ``@worker`` (claims for a whole batch in one round
    trip) and on any other function, sync or ``async def``, with any signature, which it
    keeps.

    Args:
        key: what identifies a call: a name or dotted path (``"order_id"``,
            ``"order.customer.id"``; models and dicts alike) that starts at the argument
            of that name, or else at the first argument (a record function's payload); a
            callable taking the function's own arguments (on a record function, one taking
            two gets ``(payload, message)``); or ``None`` for the SHA-256 of the payload
            (of the arguments that have a JSON form, on other functions).
        table: the DynamoDB table; ``None`` reads ``MSGWORKER_IDEMPOTENCY_TABLE`` at first use.
        name: the namespace of this function's keys (stored ids are ``"{name}#{key}"``).
            Defaults to ``module.qualname`` of the function, which changes if you rename
            or move it: give a ``name`` to keep the record of past runs across such changes.
        ttl: seconds a completed key is remembered (its DynamoDB ``expiration``).
        lease: seconds a claim holds the key while the function runs; past it another
            delivery may take over. Default: until the Lambda's own end (or 900 s
            outside a Lambda). Never beyond the Lambda's end.
        store_result: keep the function's result (as JSON) and return it for duplicates
            (in its JSON form); otherwise a duplicate returns ``None``.
        on_payload_mismatch: ``"error"`` (default) fails a known key arriving with a
            different payload with :class:`~msgworker.errors.IdempotencyKeyReusedError`
            (permanent); ``"duplicate"`` treats it as a duplicate.
        on_store_error: ``"fail"`` (default) fails the record without running it when the
            store cannot be reached; ``"run"`` runs it unguarded (logged and counted).
        cache_size: completed keys remembered in the warm container (0 turns it off).
        store: any :class:`~msgworker.idempotency.store.IdempotencyStore`
            (``InMemoryStore()`` for unit tests); overrides ``table``.

    Raises (as the record's failure):
        IdempotencyInProgressError: another delivery holds the key; retried later.
        IdempotencyKeyReusedError: the key came back with a different payload.
        IdempotencyStoreError: the store failed, so the function did not run.
        ConfigurationError: no table set, or the table does not exist.

    Example:
        >>> from msgworker.idempotency import InMemoryStore
        >>> @idempotent(key="order_id", name="charge", store=InMemoryStore(), store_result=True)
        ... def charge(order: dict) -> dict:
        ...     print("charging", order["order_id"])
        ...     return {"charged": order["total"]}
        >>> charge({"order_id": "o-1", "total": 5})
        charging o-1
        {'charged': 5}
        >>> charge({"order_id": "o-1", "total": 5})  # duplicate: not run again
        {'charged': 5}
    """

    check_options(
        name=name, ttl=ttl, lease=lease, on_payload_mismatch=on_payload_mismatch, on_store_error=on_store_error
    )
    check_key(key)  # a malformed key path fails here, at import

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        if not callable(function):
            raise TypeError(
                f"idempotent(...) decorates a function, got {type(function).__name__}: "
                "write @idempotent() or @idempotent(key=...), not a bare @idempotent"
            )
        layer = Idempotency(
            function,
            key=key,
            name=name,
            table=table,
            ttl=ttl,
            lease=lease,
            store=store,
            store_result=store_result,
            on_payload_mismatch=on_payload_mismatch,
            on_store_error=on_store_error,
            cache_size=cache_size,
        )

        def batch_entry(args: tuple[Any, ...]) -> tuple[Item | None, Invocation | None, BatchState | None]:
            # Under worker, a call of the record function itself finds its claim made in
            # prepare; anything else (a helper, a plain call) claims on its own.
            invocation = current_invocation()
            item = is_record_call(args) if invocation is not None else None
            state = invocation.state.get(layer) if invocation is not None and item is not None else None
            return item, invocation, state

        wrapper: Callable[..., Any]
        if is_async(function):
            call_async = cast(Callable[..., Awaitable[Any]], function)

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                item, invocation, state = batch_entry(args)
                entry = state.entry_for(item.message) if state is not None and item is not None else None
                if entry is None or state is None or invocation is None:
                    identity = layer.identify_call(args, kwargs, item)
                    return await layer.run_alone_async(identity, invocation, lambda: call_async(*args, **kwargs))
                return await layer.run_batch_record_async(entry, state, invocation, lambda: call_async(*args, **kwargs))

            wrapper = async_wrapper
        else:

            @functools.wraps(function)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                item, invocation, state = batch_entry(args)
                entry = state.entry_for(item.message) if state is not None and item is not None else None
                if entry is None or state is None or invocation is None:
                    identity = layer.identify_call(args, kwargs, item)
                    return layer.run_alone(identity, invocation, lambda: function(*args, **kwargs))
                return layer.run_batch_record(entry, state, invocation, lambda: function(*args, **kwargs))

            wrapper = sync_wrapper
        mark_layer(wrapper, layer)
        return cast(Callable[P, R], wrapper)

    return decorate


__all__ = [
    "COMPLETION_FAILED",
    "DEFAULT_TTL",
    "DUPLICATES",
    "IN_PROGRESS_METRIC",
    "LEASE_WITHOUT_LAMBDA",
    "STORE_ERRORS",
    "UNGUARDED",
    "Idempotency",
    "OnPayloadMismatch",
    "OnStoreError",
    "idempotent",
]
