"""The layer object behind ``@idempotent``: its store, its warm cache, and a call's way
through them, whether under a batch (:mod:`._batch`) or alone.

A call goes through the layer as an *attempt*: ``begin`` (no store call), ``settle``
when a store call must decide first (the claim, or a lease renewal), then the function,
then ``succeeded`` or ``failed``. A call alone (outside ``worker``, or a helper the record
function calls) claims, runs and completes in order (:class:`AloneAttempt`); the record
function under ``worker`` runs against the claim its batch made (``BatchAttempt``). The
wrappers in :mod:`._decorator` drive either one, sync or async, the same way. What the
store's answers mean is decided in :mod:`._decisions`; this module does the I/O around
those decisions: store calls, the clock, metrics and logs.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .. import _warm
from .._aws_clients import prepare as prepare_client
from .._layers import Batch, Invocation, Item, current_invocation, is_record_call
from .._message import Message
from .._redaction import describe, key_digest
from ..errors import ConfigurationError
from . import _batch
from ._cache import CompletedCache, CompletedEntry
from ._decisions import (
    COMPLETION_FAILED,
    Entry,
    Outcome,
    Status,
    Step,
    claim_failed,
    claim_of,
    claimed,
    judge,
    lease_end,
    verdict,
)
from ._dynamodb import shared_store
from ._keys import CallKeys, KeySpec, default_name, namespaced
from ._options import Options
from ._store import IdempotencyStore, StoredRecord

logger = logging.getLogger("msgworker.idempotency")

Write = Callable[[], None]
"""A store write a call waits for before it returns (a completion or a release, handling its own failure)."""


class Attempt(Protocol):
    """One call going through the layer; see the module docstring for the order of the steps."""

    entry: Entry

    def begin(self) -> Step: ...

    def settle(self) -> Step: ...

    def succeeded(self, result: Any) -> Write | None: ...

    def failed(self) -> Write | None: ...


class Idempotency:
    """The layer object behind :func:`~msgworker.idempotency.idempotent`: configuration,
    store, warm cache and batch hooks.

    ``worker`` calls :meth:`prepare` and :meth:`finish` around each batch; the wrapper
    that ``idempotent`` returns calls the rest. Reach it from a decorated function with
    ``msgworker._layers.find_layers(function)``.

    Example:
        >>> from msgworker._layers import find_layers
        >>> from msgworker.idempotency import InMemoryStore, idempotent
        >>> @idempotent(key="order_id", name="charge", store=InMemoryStore())
        ... def charge(order): ...
        >>> (layer,) = find_layers(charge)
        >>> layer, layer.options.ttl
        (<idempotent 'charge'>, 3600)
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        key: KeySpec = None,
        table: str | None = None,
        store: IdempotencyStore | None = None,
        options: Options | None = None,
    ):
        self.function = function
        self.options = options = options if options is not None else Options()
        self.name = options.name if options.name is not None else default_name(function)
        self.keys = CallKeys(key, function)
        self.table = table
        self.cache = CompletedCache(options.cache_size)
        self._given = self._store = store
        if store is None:
            prepare_client("dynamodb")  # in Lambda's init phase, not the first batch (docs/decisions/0013)
        self.clock: Callable[[], float] = time.time
        """Wall clock (epoch seconds); leases and expirations are compared across machines."""
        _warm.remember(self)

    def reset_warm_state(self) -> None:
        """Forget the warm cache and the store made on first use (``msgworker.testing.reset()``)."""
        self.cache.clear()
        self._store = self._given

    def __repr__(self) -> str:
        return f"<idempotent {self.name!r}>"

    def check_model(self, model: Any) -> None:
        """Called by ``worker`` with its model: refuse a key path its payloads cannot have."""
        self.keys.check_model(model)

    @property
    def store(self) -> IdempotencyStore:
        """The store given, or the process's DynamoDB store for ``table`` (made on first use)."""
        if self._store is None:
            memory = _warm.memory_stores()
            if memory is not None:
                self._store = memory[0]
                return self._store
            self._store = shared_store(self.table)
            if self.options.name is None:
                # Not silent: a rename of the function or its module starts a new namespace,
                # and deliveries in flight across that deploy would run again.
                logger.warning(
                    f"idempotent keys of {self.name!r} are namespaced by the function's import path; renaming "
                    "the function or its module starts a new namespace. Pass idempotent(name=...) to fix it.",
                    extra={"idempotency_name": self.name},
                )
        return self._store

    # -- batch hooks (see ._batch) ----------------------------------------------------------

    def prepare(self, batch: Batch) -> None:
        """Claim every record's key at once (one round trip for the whole batch)."""
        _batch.prepare(self, batch)

    def finish(self, batch: Batch) -> None:
        """Give back the claims of records that never started; wait for every write."""
        _batch.finish(self, batch)

    # -- one call ---------------------------------------------------------------------------

    def attempt(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Attempt:
        """How this call goes: against its batch's claim when ``worker`` is calling the
        record function with a record ``prepare`` saw, else on its own."""
        invocation = current_invocation()
        item = is_record_call(args) if invocation is not None else None
        if item is not None and invocation is not None:
            state: _batch.BatchState | None = invocation.state.get(self)
            entry = state.entry_for(item.message) if state is not None else None
            if state is not None and entry is not None:
                if entry.status is not Status.FAILED:
                    return _batch.BatchAttempt(self, entry, state, invocation)
                # Called again after its call failed and gave its claim back: an outer
                # @retry. This attempt claims on its own, once the release has landed.
                state.released(entry)
        key, validation = self.identify_call(args, kwargs, item)
        return AloneAttempt(self, Entry(key=key, validation=validation), invocation)

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

    def lease_end(self, invocation: Invocation | None, now: float) -> float:
        return lease_end(now, self.options.lease, math.inf if invocation is None else invocation.wall_clock_end())

    def recalled(self, entry: Entry, now: float) -> bool:
        """Judge ``entry`` by the warm cache; ``False`` when the key is not there (claim it)."""
        cached = self.cache.get(entry.key, now)
        if cached is None:
            return False
        entry.adopt(judge(entry.key, cached, entry.validation, self.options.on_payload_mismatch))
        return True

    def settle_claim(self, entry: Entry, answer: Callable[[], StoredRecord | None]) -> None:
        """Take in a claim's answer (``answer()`` returns it or raises). A
        :class:`~msgworker.errors.ConfigurationError` is raised on, after marking the entry."""
        try:
            stored = answer()
        except ConfigurationError as error:
            entry.adopt(Outcome(Status.STORE_ERROR, error=error))
            raise
        except Exception as error:
            entry.adopt(claim_failed(self.name, error))
            return
        entry.adopt(claimed(entry.key, entry.validation, stored, self.options.on_payload_mismatch, owner=entry.owner))
        if stored is not None and entry.status is Status.DUPLICATE:
            # What DynamoDB said is true until the item expires: the next duplicate here costs no call.
            self.cache.put(entry.key, CompletedEntry(stored.validation, stored.result, stored.expiration))

    def conclude(self, entry: Entry, invocation: Invocation | None) -> Step:
        """Carry out the verdict on a call that will not run normally: count it, warn if it
        runs unguarded, raise its error, or say to return the stored result."""
        decided = verdict(entry.status, entry.error, self.options.on_store_error)
        if invocation is not None:
            for metric in decided.metrics:
                invocation.count(metric)
        if decided.step is Step.RAISE:
            assert entry.error is not None
            raise entry.error
        if decided.step is Step.RUN_UNGUARDED:
            logger.warning(
                "idempotency store unavailable: running without idempotency (on_store_error='run')",
                extra={"key": key_digest(entry.key), "error": describe(entry.error) if entry.error else None},
            )
        return decided.step

    def duplicate_result(self, entry: Entry) -> Any:
        """What a duplicate returns: the stored result's JSON form, or ``None``."""
        return None if entry.result is None else json.loads(entry.result)

    # -- writes -----------------------------------------------------------------------------

    def completed(self, entry: Entry, invocation: Invocation | None, result: Any) -> Write:
        """Keep ``result`` on the entry and in the warm cache; return the write that records it."""
        encoded = self._encode(result)
        now = self.clock()
        expiration = now + self.options.ttl
        entry.result = encoded
        self.cache.put(entry.key, CompletedEntry(entry.validation, encoded, expiration))
        return functools.partial(self._complete, entry.key, entry.owner, expiration, encoded, invocation)

    def release(self, entry: Entry) -> Write:
        """The write that gives ``entry``'s claim back, so a retry can run."""
        return functools.partial(self._release, entry.key, entry.owner)

    def _complete(
        self, key: str, owner: str, expiration: float, result: str | None, invocation: Invocation | None
    ) -> None:
        try:
            written = self.store.complete(key, owner, expiration=expiration, result=result)
            error: BaseException | None = None
        except Exception as failure:
            written, error = False, failure
        if written:
            return
        # The function ran, so the record is reported done: failing it would run the
        # effect again once the lease ends. A duplicate may still run it again later.
        if invocation is not None:
            invocation.count(COMPLETION_FAILED)
        reason = (
            describe(error)
            if error is not None
            else "the claim's lease had ended and another delivery had taken it over"
        )
        logger.error(
            "idempotency completion not recorded: the record is reported done, but a redelivery may run it again",
            extra={"key": key_digest(key), "reason": reason},
        )

    def _release(self, key: str, owner: str) -> None:
        try:
            self.store.release(key, owner)
        except Exception as error:
            logger.warning(
                "idempotency claim not released: a retry waits for the lease to end",
                extra={"key": key_digest(key), "error": describe(error)},
            )

    def _encode(self, result: Any) -> str | None:
        if not self.options.store_result:
            return None
        from pydantic_core import to_jsonable_python

        try:
            return json.dumps(to_jsonable_python(result), separators=(",", ":"))
        except (TypeError, ValueError) as error:
            logger.warning(
                "idempotent result not stored: not JSON-serialisable",
                extra={"idempotency_name": self.name, "error": describe(error)},
            )
            return None


@dataclass(slots=True, eq=False)
class AloneAttempt:
    """A call with no batch claim to use: a plain call, a helper the record function
    calls, or a record ``prepare`` did not see. It claims, runs and completes in order.

    Example:
        >>> from msgworker.idempotency import InMemoryStore, idempotent
        >>> from msgworker._layers import find_layers
        >>> @idempotent(key="order_id", name="charge", store=InMemoryStore())
        ... def charge(order): ...
        >>> (layer,) = find_layers(charge)
        >>> attempt = layer.attempt(({"order_id": "o-1"},), {})
        >>> attempt.begin(), attempt.settle()
        (<Step.SETTLE: 'settle'>, <Step.RUN: 'run'>)
    """

    layer: Idempotency
    entry: Entry
    invocation: Invocation | None

    def begin(self) -> Step:
        layer, entry = self.layer, self.entry
        now = layer.clock()
        if layer.recalled(entry, now):
            return layer.conclude(entry, self.invocation)
        entry.owner, entry.lease_expiration = uuid.uuid4().hex, layer.lease_end(self.invocation, now)
        return Step.SETTLE

    def settle(self) -> Step:
        """Claim the key (blocking); a missing table raises here."""
        layer, entry = self.layer, self.entry
        now = layer.clock()
        claim = claim_of(entry, now, layer.options.ttl)
        layer.settle_claim(entry, lambda: layer.store.claim(claim, now))  # making the store may fail too
        if entry.status is Status.CLAIMED:
            return Step.RUN
        return layer.conclude(entry, self.invocation)

    def succeeded(self, result: Any) -> Write:
        return self.layer.completed(self.entry, self.invocation, result)

    def failed(self) -> Write:
        return self.layer.release(self.entry)


__all__ = ["AloneAttempt", "Attempt", "Idempotency", "Write"]
