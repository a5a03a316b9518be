"""The local runtime's clock: wall time plus an offset that can jump forward.

Every wait of the runtime (a batching window, a message's visibility timeout, an
asynchronous retry's delay) is a deadline on this clock. Under ``msgworker local`` time
runs as the wall clock does. Under ``local_stack(...).drain()`` the clock jumps to the
next deadline whenever nothing else can happen before it (no invocation running, nothing
visible to receive), like trio's autojump clock: a test of five redeliveries with a 180 s
visibility timeout takes milliseconds, and each step still happens in the order AWS would
take them.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Seconds since the epoch, as the runtime sees them.

    >>> clock = Clock()
    >>> before = clock.now()
    >>> clock.advance_to(before + 3600)
    >>> clock.now() - before >= 3600
    True
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._changed = threading.Condition()
        self._sleepers: dict[int, float] = {}
        self.generation = 0
        """Counts :meth:`wake` and :meth:`advance_to` calls: a sleeper that read it before
        looking for work sleeps only if nothing happened since (no lost wake-ups)."""

    def now(self) -> float:
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        """How far the clock is ahead of the wall clock."""
        return self._offset

    def advance_to(self, moment: float) -> None:
        """Jump forward to ``moment`` (never back), waking every sleeper whose deadline came."""
        with self._changed:
            self._offset += max(0.0, moment - self.now())
            self.generation += 1
            self._changed.notify_all()

    def wake(self) -> None:
        """Wake every sleeper now (something they wait for may have happened)."""
        with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def sleep_until(self, deadline: float, *, real_cap: float = 1.0, since: int | None = None) -> None:
        """Sleep until ``deadline`` on this clock, or at most ``real_cap`` wall seconds, or
        until :meth:`wake` (or already, if ``since`` is not the current :attr:`generation`).
        Callers loop and recheck what they wait for."""
        key = threading.get_ident()
        with self._changed:
            remaining = deadline - self.now()
            if remaining <= 0 or (since is not None and since != self.generation):
                return
            if deadline != float("inf"):
                self._sleepers[key] = deadline
            try:
                self._changed.wait(min(remaining, real_cap))
            finally:
                self._sleepers.pop(key, None)

    def next_deadline(self) -> float | None:
        """The earliest deadline a sleeper waits for, if any."""
        with self._changed:
            return min(self._sleepers.values(), default=None)


class Loop:
    """A daemon thread running ``_run`` until :meth:`stop`: what every poller, router and
    the invoker share. Subclasses call :meth:`_start_loop` from ``__post_init__``."""

    clock: Clock
    _stop: threading.Event
    _thread: threading.Thread

    def _start_loop(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    @property
    def enabled(self) -> bool:
        return True

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.clock.wake()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._stopped()

    def _stopped(self) -> None:
        """What to close once the thread is gone."""
