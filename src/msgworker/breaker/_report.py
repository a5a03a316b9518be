"""What a breaker tells the operator: transition logs and metrics, store-error warnings.

Every other part of the breaker reports something (the view when its store fails,
admission and outcomes when they win a transition), so reporting is one small object they
share rather than a base class. It decides two things: a transition is logged and counted
by the container that won its compare-and-set (callers report only after
:meth:`~msgworker.breaker._view.SharedView.transition` returned ``True``), and an
unreachable store is warned about at most once per :data:`STORE_ERROR_LOG_INTERVAL`
while every failed request is still counted.

Messages name the circuit, the operation and the error type; they never quote a payload.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal, Protocol, cast

from .._layers import Invocation
from .._redaction import error_text
from ._machine import Policy, Snapshot, reopens_at

STORE_ERROR_LOG_INTERVAL = 60.0
"""Seconds between two warnings about an unreachable store, per breaker."""


class BreakerLogger(Protocol):
    """What the breaker needs of a logger: Powertools' Logger and logging.Logger both fit.

    Example:
        >>> import logging
        >>> logger: BreakerLogger = logging.getLogger("payments")
    """

    def warning(self, msg: object, *args: object, extra: Any = None) -> None: ...

    def info(self, msg: object, *args: object, extra: Any = None) -> None: ...


class Reporter:
    """The logs and metrics of one breaker (``name``) in this container.

    Example:
        >>> import logging
        >>> from msgworker.breaker import CircuitState, Policy, Snapshot
        >>> quiet = logging.getLogger("example.report"); quiet.propagate = False
        >>> report = Reporter("payments", Policy(), quiet)
        >>> report.transition("info", "circuit closed", Snapshot(CircuitState.CLOSED), "CircuitClosed", None)
    """

    def __init__(self, name: str, policy: Policy, logger: BreakerLogger | None) -> None:
        self.name = name
        self.policy = policy
        self._logger = logger
        self._store_error_logged_at = -math.inf

    @property
    def logger(self) -> BreakerLogger:
        """Where transitions and store problems are logged (msgworker's logger by default)."""
        if self._logger is None:
            from .._observability import default_logger

            # Powertools' Logger (the default) has info() as well as warning(). Not kept:
            # the default logger is made again after msgworker.testing.reset().
            return cast(BreakerLogger, default_logger())
        return self._logger

    def transition(
        self,
        level: Literal["info", "warning"],
        text: str,
        snapshot: Snapshot,
        metric: str,
        invocation: Invocation | None,
        **fields: object,
    ) -> None:
        """Log the transition to ``snapshot`` this container won, and count ``metric``."""
        if invocation is not None:
            invocation.count(metric)
        log = self.logger.warning if level == "warning" else self.logger.info
        log(
            text,
            extra={
                "circuit": self.name,
                "state": snapshot.state.value,
                "version": snapshot.version,
                "reopens_at": reopens_at(snapshot, self.policy) or None,
                **fields,
            },
        )

    def store_failed(self, operation: str, error: BaseException, invocation: Invocation | None) -> None:
        """Count a failed store request; warn about it unless a warning went out lately."""
        if invocation is not None:
            invocation.count("CircuitStoreErrors")
        # The interval is measured on the process's own monotonic clock, not the breaker's
        # (injectable, epoch) clock: it limits log volume, it decides nothing.
        now = time.monotonic()
        if now - self._store_error_logged_at < STORE_ERROR_LOG_INTERVAL:
            return
        self._store_error_logged_at = now
        self.logger.warning(
            "circuit breaker store unavailable: this container uses its own view of the breaker until it answers",
            extra={
                "circuit": self.name,
                "operation": operation,
                "error_type": type(error).__name__,
                "error": error_text(error),
            },
        )


__all__ = ["STORE_ERROR_LOG_INTERVAL", "BreakerLogger", "Reporter"]
