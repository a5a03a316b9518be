"""Spread a batch over threads or asyncio tasks without breaking its order.

A batch is split into chains (:func:`chains`): one per FIFO group, one for a whole
stream, one per record otherwise. Each chain runs in order through the pipeline
(:mod:`msgworker.pipeline`); different chains run at once, at most ``concurrency``.
So FIFO and stream order hold under any concurrency.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._pipeline import AsyncRunItems, Failures, KeyOf, RunItems
from .sources import Record

if TYPE_CHECKING:  # asyncio and concurrent.futures cost ~20 ms of cold start: imported on first use
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

Chain = list[tuple[int, Record]]


def chains(records: Sequence[Record], key_of: KeyOf) -> list[Chain]:
    """Split a batch into chains that may run concurrently, each keeping batch order."""
    if key_of is None:
        return [[(index, record)] for index, record in enumerate(records)]
    grouped: dict[object, Chain] = {}
    alone: list[Chain] = []
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
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=max(1, self.concurrency - 1), thread_name_prefix="msgworker"
                )
            return self._pool

    def run(self, records: Sequence[Record], run_items: RunItems, key_of: KeyOf, deadline: float) -> Failures:
        work = chains(records, key_of)
        if len(work) <= 1:
            return run_items(enumerate(records), deadline)
        # At most ``concurrency`` workers pull chains from one queue, the calling thread
        # among them. The caller then waits only for chains actually in flight, not for
        # helpers that never got one: on a batch of quick records the caller has drained
        # the queue before a helper thread even wakes, and waking costs more than the work.
        queue = iter(work)
        lock = threading.Condition()
        failures: Failures = {}
        escaped: list[BaseException] = []
        in_flight = 0

        def drain() -> None:
            nonlocal in_flight
            while True:
                with lock:
                    chain = next(queue, None)
                    if chain is None:
                        return
                    in_flight += 1
                try:
                    chain_failures = run_items(chain, deadline)
                except BaseException as error:  # run_items contains Exception; anything else fails the batch
                    chain_failures = {}
                    escaped.append(error)
                with lock:
                    failures.update(chain_failures)
                    in_flight -= 1
                    lock.notify_all()

        pool = self._executor()
        for _ in range(min(self.concurrency, len(work)) - 1):
            # Each helper runs in a copy of the caller's context, so per-record layers
            # see the batch's Invocation (msgworker._layers) from pool threads too.
            pool.submit(contextvars.copy_context().run, drain)
        drain()
        with lock:
            lock.wait_for(lambda: in_flight == 0)
        if escaped:
            raise escaped[0]
        return failures


class AsyncRunner:
    """Runs ``async def`` record functions on one event loop kept for the container's
    life, so async clients created in one invocation stay usable in the next (a new
    loop per invocation, as ``asyncio.run`` makes, would strand them)."""

    def __init__(self, concurrency: int):
        self.concurrency = concurrency
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, records: Sequence[Record], run_items: AsyncRunItems, key_of: KeyOf, deadline: float) -> Failures:
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        work = self._gather(records, run_items, key_of, deadline)
        try:
            asyncio.get_running_loop()
            inside_a_loop = True
        except RuntimeError:
            inside_a_loop = False
        # Not inside the except clause: errors the records raise would carry "no running
        # event loop" as their context, in every traceback logged.
        if not inside_a_loop:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(work)
        # Called from inside a running loop (e.g. an async test): run ours on a thread.
        with ThreadPoolExecutor(max_workers=1) as helper:
            return helper.submit(contextvars.copy_context().run, asyncio.run, work).result()

    async def _gather(
        self, records: Sequence[Record], run_items: AsyncRunItems, key_of: KeyOf, deadline: float
    ) -> Failures:
        import asyncio

        work = chains(records, key_of)
        if self.concurrency <= 1 or len(work) <= 1:
            return await run_items(enumerate(records), deadline)
        limit = asyncio.Semaphore(self.concurrency)

        async def bounded(chain: Chain) -> Failures:
            async with limit:
                return await run_items(chain, deadline)

        failures: Failures = {}
        for chain_failures in await asyncio.gather(*(bounded(chain) for chain in work)):
            failures.update(chain_failures)
        return failures
