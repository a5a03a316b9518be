"""A fake Lambda context whose remaining time runs on an injectable clock, and a clock tests move by hand."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeAlias

from ._common import DEFAULT_ACCOUNT, DEFAULT_REGION

Clock: TypeAlias = Callable[[], float]
"""A zero-argument callable returning seconds on a clock that never runs backwards (``time.monotonic``)."""


class ManualClock:
    """A monotonic clock that moves only when a test says so; safe to share between threads.

    Call it for the time; :meth:`advance` moves it; :meth:`sleep` is a drop-in for ``time.sleep`` that
    advances instead of waiting and remembers each duration in :attr:`sleeps`, so a test can inject it
    wherever code sleeps (``retry(sleep=clock.sleep)``) and assert on the waits, not on elapsed time.

    >>> clock = ManualClock()
    >>> context = LambdaContext(timeout=3, clock=clock)
    >>> clock.advance(1.25)
    >>> clock(), context.get_remaining_time_in_millis()
    (1.25, 1750)
    >>> clock.sleep(0.5)
    >>> clock(), clock.sleeps
    (1.75, [0.5])

    Raises:
        ValueError: from :meth:`advance` or :meth:`sleep` given a negative duration.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.sleeps: list[float] = []
        """Every duration passed to :meth:`sleep`, in call order."""
        # Worker threads read the clock while the test thread moves it; += on a float is not atomic.
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``.

        >>> clock = ManualClock(start=100.0)
        >>> clock.advance(2)
        >>> clock()
        102.0
        """
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back: advance() got {seconds}")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Stand in for ``time.sleep``: record ``seconds`` in :attr:`sleeps` and advance by it at once.

        >>> clock = ManualClock()
        >>> for wait in (0.05, 0.1):
        ...     clock.sleep(wait)
        >>> clock.sleeps, round(clock(), 2)
        ([0.05, 0.1], 0.15)
        """
        if seconds < 0:
            raise ValueError(f"sleep length must be non-negative, got {seconds}")
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    def __repr__(self) -> str:
        return f"ManualClock(now={self():g})"


class LambdaContext:
    """A stand-in for the context object the Python Lambda runtime passes to a handler.

    The remaining time counts down from ``remaining_ms`` (default ``timeout * 1000``) on ``clock``
    (default ``time.monotonic``, real time). Pass a :class:`ManualClock` to decide in a test exactly
    how much time is left; :meth:`advance` and :meth:`set_remaining` move this one context's countdown.

    >>> context = LambdaContext(function_name="orders", timeout=10, clock=ManualClock())
    >>> context.invoked_function_arn
    'arn:aws:lambda:us-east-1:123456789012:function:orders'
    >>> context.advance(9.5)
    >>> context.get_remaining_time_in_millis()
    500

    Raises:
        ValueError: ``timeout`` is not positive, or ``remaining_ms`` is negative.
    """

    def __init__(
        self,
        *,
        function_name: str = "msgworker-function",
        timeout: float = 30.0,
        memory_limit_in_mb: int = 128,
        remaining_ms: int | None = None,
        aws_request_id: str | None = None,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        clock: Clock = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if remaining_ms is not None and remaining_ms < 0:
            raise ValueError(f"remaining_ms must be >= 0, got {remaining_ms}")
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id if aws_request_id is not None else str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        # The real runtime exposes these for mobile SDK invocations; handlers may read them.
        self.identity: object | None = None
        self.client_context: object | None = None
        self._clock = clock
        self._budget_ms = remaining_ms if remaining_ms is not None else round(timeout * 1000)
        self._started = clock()
        self._advanced = 0.0

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) Lambda timeout, never below 0.

        >>> LambdaContext(remaining_ms=0).get_remaining_time_in_millis()
        0
        """
        elapsed = self._clock() - self._started + self._advanced
        return max(0, math.floor(self._budget_ms - elapsed * 1000))

    def advance(self, seconds: float) -> None:
        """Move this context's countdown forward by ``seconds``, as if the handler had spent that long.

        >>> context = LambdaContext(timeout=1)
        >>> context.advance(2)
        >>> context.get_remaining_time_in_millis()
        0

        Raises:
            ValueError: ``seconds`` is negative (time does not run backwards; use set_remaining).
        """
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative amount ({seconds}); use set_remaining()")
        self._advanced += seconds

    def set_remaining(self, ms: int) -> None:
        """Restart the countdown from ``ms`` milliseconds, as of the clock's current time.

        >>> context = LambdaContext(clock=ManualClock())
        >>> context.set_remaining(250)
        >>> context.get_remaining_time_in_millis()
        250

        Raises:
            ValueError: ``ms`` is negative.
        """
        if ms < 0:
            raise ValueError(f"remaining time must be >= 0, got {ms}")
        self._budget_ms = ms
        self._started = self._clock()
        self._advanced = 0.0

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r}, "
            f"remaining_ms={self.get_remaining_time_in_millis()})"
        )
