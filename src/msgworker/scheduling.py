"""Run a batch's records in the order and with the parallelism the source allows.

Every strategy is the same small loop, ``run_chain``, applied to one or several chains
of records: a chain runs in order and, once a record of an ordering key fails, the rest
of that key is not started. Sequential running is one chain; threads and asyncio run
several chains at once. So FIFO and stream order hold under any concurrency.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import NotStartedError
from .sources import Ordering, Record, Source

Failures = dict[int, BaseException]
Step = Callable[[Record], Any]
AsyncStep = Callable[[Record], Awaitable[Any]]
KeyOf = Callable[[Record], object] | None

NO_DEADLINE = math.inf
"""A ``deadline`` (time.monotonic seconds) that never passes: no Lambda context."""

_STREAM = object()  # the one ordering key every record of a stream shares


def key_function(source: Source) -> KeyOf:
    """What orders records: None (independent), the FIFO group, or the whole stream."""
    if source.ordering is Ordering.BY_GROUP:
        return source.group_key
    if source.ordering is Ordering.STREAM:
        return lambda record: _STREAM
    return None


def _blocked(key: object) -> NotStartedError:
    what = "the stream" if key is _STREAM else f"message group {key!r}"
    return NotStartedError(
        f"not started: an earlier record of {what} failed in this batch, and running this one would break order",
        reason="order",
    )


def _out_of_time() -> NotStartedError:
    return NotStartedError(
        "not started: the Lambda's remaining time was below the worker's timeout margin", reason="deadline"
    )


# run_chain and run_chain_async are the same loop, one calling and one awaiting the
# step; the sync one is the hot path of every batch, so it stays free of helper calls.
def run_chain(items: Iterable[tuple[int, Record]], step: Step, key_of: KeyOf, deadline: float) -> Failures:
    """Run records in order; once a key fails, the rest of that key is not started;
    once the deadline has passed, nothing more is started."""
    if key_of is None:
        return _run_independent(items, step, deadline)
    failures: Failures = {}
    stopped: set[object] = set()
    clock = time.monotonic
    pending = iter(items)
    for index, record in pending:
        if clock() >= deadline:
            failures[index] = _out_of_time()
            for rest, _ in pending:
                failures[rest] = _out_of_time()
            break
        key = key_of(record) if key_of is not None else None
        if key is not None and key in stopped:
            failures[index] = _blocked(key)
            continue
        try:
            step(record)
        except Exception as error:
            failures[index] = error
            if key is not None:
                stopped.add(key)
    return failures


def _run_independent(items: Iterable[tuple[int, Record]], step: Step, deadline: float) -> Failures:
    """:func:`run_chain` without ordering keys: the common SQS standard-queue case."""
    failures: Failures = {}
    clock = time.monotonic
    pending = iter(items)
    for index, record in pending:
        if clock() >= deadline:
            failures[index] = _out_of_time()
            for rest, _ in pending:
                failures[rest] = _out_of_time()
            break
        try:
            step(record)
        except Exception as error:
            failures[index] = error
    return failures


async def run_chain_async(
    items: Iterable[tuple[int, Record]], step: AsyncStep, key_of: KeyOf, deadline: float
) -> Failures:
    """:func:`run_chain` for ``async def`` record functions."""
    failures: Failures = {}
    stopped: set[object] = set()
    clock = time.monotonic
    pending = iter(items)
    for index, record in pending:
        if clock() >= deadline:
            failures[index] = _out_of_time()
            for rest, _ in pending:
                failures[rest] = _out_of_time()
            break
        key = key_of(record) if key_of is not None else None
        if key is not None and key in stopped:
            failures[index] = _blocked(key)
            continue
        try:
            await step(record)
        except Exception as error:
            failures[index] = error
            if key is not None:
                stopped.add(key)
    return failures


def chains(records: Sequence[Record], key_of: KeyOf) -> list[list[tuple[int, Record]]]:
    """Split a batch into chains that may run concurrently, each keeping batch order."""
    if key_of is None:
        return [[(index, record)] for index, record in enumerate(records)]
    grouped: dict[object, list[tuple[int, Record]]] = {}
    alone: list[list[tuple[int, Record]]] = []
    for index, record in enumerate(records):
        key = key_of(record)
        if key is None:
            alone.append([(index, record)])
        else:
            grouped.setdefault(key, []).append((index, record))
    return [*grouped.values(), *alone]


class ThreadRunner:
    """Runs chains on a thread pool that lives as long as the warm container."""

    def __init__(self, concurrency: int):
        self.concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="msgworker")
            return self._pool

    def run(self, records: Sequence[Record], step: Step, key_of: KeyOf, deadline: float) -> Failures:
        work = chains(records, key_of)
        if len(work) <= 1:
            return run_chain(enumerate(records), step, key_of, deadline)
        failures: Failures = {}
        pool = self._executor()
        for chain_failures in pool.map(lambda chain: run_chain(chain, step, key_of, deadline), work):
            failures.update(chain_failures)
        return failures


class AsyncRunner:
    """Runs ``async def`` record functions on one event loop kept for the container's
    life, so async clients created in one invocation stay usable in the next."""

    def __init__(self, concurrency: int):
        self.concurrency = concurrency
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, records: Sequence[Record], step: AsyncStep, key_of: KeyOf, deadline: float) -> Failures:
        work = self._gather(records, step, key_of, deadline)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(work)
        # Called from inside a running loop (e.g. an async test): run ours on a thread.
        with ThreadPoolExecutor(max_workers=1) as helper:
            return helper.submit(asyncio.run, work).result()

    async def _gather(self, records: Sequence[Record], step: AsyncStep, key_of: KeyOf, deadline: float) -> Failures:
        if self.concurrency <= 1 or (key_of is not None and len(records) > 0 and key_of(records[0]) is _STREAM):
            return await run_chain_async(enumerate(records), step, key_of, deadline)
        limit = asyncio.Semaphore(self.concurrency)

        async def bounded(chain: list[tuple[int, Record]]) -> Failures:
            async with limit:
                return await run_chain_async(chain, step, key_of, deadline)

        failures: Failures = {}
        for chain_failures in await asyncio.gather(*(bounded(chain) for chain in chains(records, key_of))):
            failures.update(chain_failures)
        return failures
