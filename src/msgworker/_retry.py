"""``retry``: retry one record's function in-process on transient errors, with exponential
backoff and full jitter, without ever running past the Lambda deadline.

Built on tenacity: the backoff is any tenacity wait object, the attempt limit a tenacity
stop, and the deadline one more stop (:class:`stop_before_deadline`) that looks at the
wait tenacity is about to sleep. The first attempt calls the function directly; tenacity
only comes in after a failure, so a record that succeeds pays one ``try``.

What is never retried, whatever ``on`` says: msgworker's own decisions
(:class:`~msgworker.errors.MsgworkerError`: :class:`~msgworker.errors.PermanentError`,
:class:`~msgworker.errors.CircuitOpenError`, an idempotency claim held elsewhere...),
because running the function again cannot change them.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential, wait_random_exponential

from ._checks import exception_types, flag, seconds, whole
from ._layers import Invocation, current_invocation, current_record, is_async, mark_layer
from ._message import Message
from ._redaction import error_text
from .errors import ConfigurationError, MsgworkerError

P = ParamSpec("P")
R = TypeVar("R")

ExceptionTypes = type[Exception] | tuple[type[Exception], ...]
Sleep = Callable[[float], object]
"""``sleep(seconds)``; for ``async def`` functions it may return an awaitable."""


class RetryLogger(Protocol):
    """What ``retry`` needs of a logger: Powertools' Logger and logging.Logger both fit."""

    def warning(self, msg: object, *args: object, extra: Any = None) -> None: ...


class stop_before_deadline(stop_base):
    """A tenacity stop: give up when the wait before the next attempt would end at or
    after ``deadline`` (a ``time.monotonic()`` value), so no attempt starts past it.

    Relies on tenacity computing the upcoming wait before asking the stop (tenacity >= 8.3,
    the same order its ``stop_before_delay`` relies on).

    Example:
        >>> from tenacity import Retrying, stop_after_attempt, wait_fixed
        >>> from msgworker.testing import ManualClock
        >>> clock = ManualClock()
        >>> stop = stop_after_attempt(5) | stop_before_deadline(clock() + 0.05, clock)
        >>> attempts = []
        >>> def flaky():
        ...     attempts.append(1)
        ...     raise ConnectionError("down")
        >>> try:
        ...     Retrying(stop=stop, wait=wait_fixed(0.03), sleep=clock.sleep, reraise=True)(flaky)
        ... except ConnectionError:
        ...     print(len(attempts), clock.sleeps)
        2 [0.03]
    """

    def __init__(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + retry_state.upcoming_sleep >= self.deadline


class _Attempts:
    """One failing call's retries: tenacity's attempt 1 replays the failure already seen;
    later attempts call again unless the sleep before them overran the deadline."""

    __slots__ = ("clock", "deadline", "last", "policy", "replay")

    def __init__(self, first: Exception, clock: Callable[[], float], deadline: float, policy: dict[str, Any]):
        self.replay: BaseException | None = first
        self.last: BaseException = first
        self.clock = clock
        self.deadline = deadline
        self.policy = policy

    def _before(self) -> None:
        if self.replay is not None:
            replay, self.replay = self.replay, None
            raise replay
        if self.clock() >= self.deadline:
            raise self.last  # the sleep overran the deadline: start nothing, give up

    def wrap(self, call: Callable[[], Any]) -> Callable[[], Any]:
        def attempt() -> Any:
            self._before()
            try:
                return call()
            except BaseException as error:
                self.last = error
                raise

        return attempt

    def wrap_async(self, call: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def attempt() -> Any:
            self._before()
            try:
                return await call()
            except BaseException as error:
                self.last = error
                raise

        return attempt


class Retry:
    """``@retry(...)``: retry the decorated function on transient errors, within the Lambda's time.

    Works on any function, sync or ``async def``, with any signature (which it keeps): a
    record function under ``worker``, or a client call inside one. The tenacity policy
    objects (wait, attempt limit, what to retry) are built once here; each failing call
    gets a tenacity ``Retrying`` with its own deadline.

    Args:
        attempts: calls in all, the first included (``1`` = never retry).
        on: the exception types that are transient. msgworker's own errors
            (``PermanentError``, ``CircuitOpenError``, any ``MsgworkerError``) are never
            retried.
        backoff: a tenacity wait object (``wait_exponential_jitter(...)``,
            ``wait_fixed(1)``...); by default exponential from ``initial`` doubling up to
            ``maximum`` seconds, with full jitter unless ``jitter=False``.
        initial, maximum: seconds, for the default backoff.
        jitter: ``True``: each wait is uniform between 0 and the exponential step (full
            jitter); ``False``: exactly the step.
        deadline: outside ``worker``, seconds from the first attempt after which no
            attempt starts (none by default); under ``worker`` the Lambda deadline always
            applies, and this bounds it further.
        sleep: replaces ``time.sleep`` (``asyncio.sleep`` for ``async def``), for tests.
        logger: where retry warnings go (default: msgworker's Powertools logger).
        clock: outside ``worker``, what ``deadline=`` is measured on (``time.monotonic``
            by default; a test passes a manual clock and its ``sleep``).

    Under ``worker``, no wait ends and no attempt starts past the invocation's deadline
    (the Lambda's remaining time minus the worker's timeout margin): when the next wait
    would cross it, the last exception is raised at once. Each retry adds one to the
    batch's ``Retries`` metric and logs a warning with the attempt number, the error
    type and the message id.

    Example:
        >>> import logging
        >>> calls, quiet = [], logging.getLogger("example.quiet")
        >>> quiet.addHandler(logging.NullHandler()); quiet.propagate = False
        >>> @retry(attempts=3, on=(ConnectionError,), sleep=lambda seconds: None, logger=quiet)
        ... def charge(order):
        ...     calls.append(order)
        ...     if len(calls) < 3:
        ...         raise ConnectionError("payments API unreachable")
        ...     return "charged"
        >>> charge({"order_id": "o-1"}), len(calls)
        ('charged', 3)
    """

    def __init__(
        self,
        attempts: int = 3,
        *,
        on: ExceptionTypes = (Exception,),
        backoff: wait_base | None = None,
        initial: float = 0.1,
        maximum: float = 5.0,
        jitter: bool = True,
        deadline: float | None = None,
        sleep: Sleep | None = None,
        logger: RetryLogger | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        whole("retry", "attempts", attempts, minimum=1, meaning="calls in all; 1 = no retry")
        seconds("retry", "initial", initial)
        seconds("retry", "maximum", maximum)
        if maximum < initial:
            raise ConfigurationError(f"retry(maximum=...) must be >= initial ({initial}) seconds, got {maximum!r}")
        seconds("retry", "deadline", deadline, none="no deadline of its own")
        flag("retry", "jitter", jitter)
        self.attempts = attempts
        self.on = _exception_types(on)
        if backoff is None:
            # Full jitter: a uniform wait between 0 and the exponential step, so a fleet
            # of containers retrying one outage does not come back in lockstep.
            backoff = (
                wait_random_exponential(multiplier=initial, max=maximum)
                if jitter
                else wait_exponential(multiplier=initial, max=maximum)
            )
        self.backoff = backoff
        self.deadline = deadline
        self._sleep = sleep
        self._logger = logger
        # Outside ``worker`` the ``deadline=`` option is measured on this clock (monotonic
        # time unless a test injects one); under ``worker`` the invocation's clock rules.
        self._own_clock = clock if clock is not None else time.monotonic
        self._attempt_limit = stop_after_attempt(attempts)
        self._retryable = retry_if_exception(self.retries)

    def retries(self, error: BaseException) -> bool:
        """Would this layer retry ``error``? (in ``on``, and not one of msgworker's decisions)

        Example:
            >>> from msgworker.errors import PermanentError
            >>> layer = Retry(on=(ConnectionError,))
            >>> layer.retries(ConnectionError()), layer.retries(ValueError()), layer.retries(PermanentError())
            (True, False, False)
        """
        return isinstance(error, self.on) and not isinstance(error, MsgworkerError)

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        # A call that succeeds pays one try (and one clock read with ``deadline=``); the
        # invocation and tenacity come in only after a failure.
        on, retries, timed, started_at = self.on, self.retries, self.deadline is not None, self._started
        if self.attempts == 1:
            on = ()  # nothing to retry: every exception goes straight through
        wrapper: Callable[..., Any]

        if is_async(function):
            call_async = cast(Callable[..., Awaitable[Any]], function)

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = started_at() if timed else 0.0
                try:
                    return await call_async(*args, **kwargs)
                except on as error:
                    if not retries(error):
                        raise
                    first = error
                # Out of the except clause: the later attempts' errors would carry this one as
                # their context ("During handling of the above exception..." in every log).
                return await self._again_async(first, started, lambda: call_async(*args, **kwargs))

            wrapper = async_wrapper
        else:

            @functools.wraps(function)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = started_at() if timed else 0.0
                try:
                    return function(*args, **kwargs)
                except on as error:
                    if not retries(error):
                        raise
                    first = error
                return self._again(first, started, lambda: function(*args, **kwargs))  # (see async_wrapper)

            wrapper = sync_wrapper
        mark_layer(wrapper, self)
        return cast(Callable[P, R], wrapper)

    def _started(self) -> float:
        return self._clock(current_invocation())()

    def _again(self, first: Exception, started: float, call: Callable[[], Any]) -> Any:
        attempts = self._attempts(first, current_invocation(), started)
        sleep = cast(Callable[[float], None], self._sleep) if self._sleep is not None else time.sleep
        return Retrying(sleep=sleep, **attempts.policy)(attempts.wrap(call))

    async def _again_async(self, first: Exception, started: float, call: Callable[[], Awaitable[Any]]) -> Any:
        attempts = self._attempts(first, current_invocation(), started)
        return await AsyncRetrying(sleep=self._async_sleep, **attempts.policy)(attempts.wrap_async(call))

    # The failure path: tenacity drives attempts 2..n. Its attempt 1 replays the failure
    # already seen, so the backoff and attempt numbers are tenacity's own.

    def _attempts(self, first: Exception, invocation: Invocation | None, started: float) -> _Attempts:
        clock = self._clock(invocation)
        deadline = self._deadline(invocation, started)
        item = current_record()
        return _Attempts(
            first, clock, deadline, self._policy(invocation, item.message if item else None, deadline, clock)
        )

    def _clock(self, invocation: Invocation | None) -> Callable[[], float]:
        return invocation.clock if invocation is not None else self._own_clock

    async def _async_sleep(self, seconds: float) -> None:
        if self._sleep is None:
            import asyncio  # here: importing asyncio costs a cold start ~20 ms, sync users never need it

            await asyncio.sleep(seconds)
            return
        result = self._sleep(seconds)
        if inspect.isawaitable(result):
            await result

    def _deadline(self, invocation: Invocation | None, started: float) -> float:
        """The monotonic time no attempt may start at or after: the worker's deadline,
        and ``deadline`` seconds from the first attempt when that option is set."""
        deadline = invocation.deadline if invocation is not None else math.inf
        if self.deadline is not None:
            deadline = min(deadline, started + self.deadline)
        return deadline

    def _policy(
        self, invocation: Invocation | None, message: Message | None, deadline: float, clock: Callable[[], float]
    ) -> dict[str, Any]:
        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            if invocation is not None:
                invocation.count("Retries")
            self._log(
                "retrying after a transient error",
                state,
                error,
                message,
                wait_seconds=round(state.upcoming_sleep, 3),
            )

        def give_up(state: RetryCallState) -> Any:
            assert state.outcome is not None
            error = state.outcome.exception()
            assert error is not None
            if state.attempt_number < self.attempts:
                self._log("retry stopped: the next attempt would start past the deadline", state, error, message)
            raise error

        return {
            "stop": self._attempt_limit | stop_before_deadline(deadline, clock),
            "wait": self.backoff,
            "retry": self._retryable,
            "before_sleep": before_sleep,
            "retry_error_callback": give_up,
        }

    def _log(
        self,
        text: str,
        state: RetryCallState,
        error: BaseException | None,
        message: Message | None,
        **fields: object,
    ) -> None:
        logger = self._logger
        if logger is None:
            from ._observability import default_logger

            logger = default_logger()
        logger.warning(
            text,
            extra={
                "attempt": state.attempt_number,
                "attempts": self.attempts,
                "error_type": type(error).__name__,
                "error": error_text(error) if error is not None else None,
                "message_id": message.id if message is not None else None,
                **fields,
            },
        )


retry = Retry
"""``retry(attempts=3, *, on=(Exception,), ...)``: the decorator (see :class:`Retry`)."""


def _exception_types(on: object) -> tuple[type[Exception], ...]:
    types: tuple[type[Exception], ...] = exception_types("retry", "on", on, base=Exception)
    if not types:
        raise ConfigurationError("retry(on=...) needs at least one exception class; use attempts=1 to never retry")
    return types


__all__ = ["Retry", "RetryLogger", "retry", "stop_before_deadline"]
