"""``idempotent``: the decorator, with its one sync and one async wrapper.

Both wrappers drive an attempt (:mod:`._layer`) through the same steps and differ only
in how they wait: the sync one calls, the async one awaits, running blocking store calls
on the store's executor so the event loop never waits on DynamoDB. Everything they decide
is decided elsewhere, so the two stay a few lines each.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

from .._layers import is_async, mark_layer
from ._cache import DEFAULT_CACHE_SIZE
from ._decisions import Step
from ._keys import KeySpec, check_key
from ._layer import Idempotency
from ._options import DEFAULT_TTL, OnPayloadMismatch, OnStoreError, Options
from ._store import IdempotencyStore

P = ParamSpec("P")
R = TypeVar("R")


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
        store: any :class:`~msgworker.idempotency._store.IdempotencyStore`
            (``InMemoryStore()`` for unit tests); overrides ``table``.

    Raises (as the record's failure):
        IdempotencyInProgressError: another delivery holds the key; retried later.
        IdempotencyKeyReusedError: the key came back with a different payload.
        IdempotencyStoreError: the store failed, so the function did not run.
        ConfigurationError: no table set, or the table does not exist.

    A bad option raises ``ValueError`` here, when the handler module is imported.

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
    options = Options(
        name=name,
        ttl=ttl,
        lease=lease,
        store_result=store_result,
        on_payload_mismatch=on_payload_mismatch,
        on_store_error=on_store_error,
        cache_size=cache_size,
    )
    check_key(key)  # a malformed key path fails here, at import

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        if not callable(function):
            raise TypeError(
                f"idempotent(...) decorates a function, got {type(function).__name__}: "
                "write @idempotent() or @idempotent(key=...), not a bare @idempotent"
            )
        layer = Idempotency(function, key=key, table=table, store=store, options=options)
        wrapper = _async_wrapper(layer, function) if is_async(function) else _sync_wrapper(layer, function)
        mark_layer(wrapper, layer)
        return cast(Callable[P, R], wrapper)

    return decorate


def _sync_wrapper(layer: Idempotency, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        attempt = layer.attempt(args, kwargs)
        step = attempt.begin()
        if step is Step.SETTLE:
            step = attempt.settle()
        if step is Step.RETURN:
            return layer.duplicate_result(attempt.entry)
        if step is Step.RUN_UNGUARDED:
            return function(*args, **kwargs)
        try:
            result = function(*args, **kwargs)
        except Exception:  # not BaseException: a dying process leaves its claim to the lease
            write = attempt.failed()
            if write is not None:
                write()
            raise
        write = attempt.succeeded(result)
        if write is not None:
            write()
        return result

    return wrapper


def _async_wrapper(layer: Idempotency, function: Callable[..., Any]) -> Callable[..., Any]:
    import asyncio  # only async functions need it (importing it costs ~15 ms of cold start)

    call = cast(Callable[..., Awaitable[Any]], function)

    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        attempt = layer.attempt(args, kwargs)
        step = attempt.begin()
        if step is Step.SETTLE:  # a store call: off the event loop
            step = await asyncio.wrap_future(layer.store.executor.submit(attempt.settle))
        if step is Step.RETURN:
            return layer.duplicate_result(attempt.entry)
        if step is Step.RUN_UNGUARDED:
            return await call(*args, **kwargs)
        try:
            result = await call(*args, **kwargs)
        except Exception:
            write = attempt.failed()
            if write is not None:
                await asyncio.wrap_future(layer.store.executor.submit(write))
            raise
        write = attempt.succeeded(result)
        if write is not None:
            await asyncio.wrap_future(layer.store.executor.submit(write))
        return result

    return wrapper


__all__ = ["idempotent"]
