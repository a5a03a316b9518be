"""The circuit breaker's rules as pure functions over a :class:`Snapshot`: no I/O, no
clock of its own (every function takes ``now``, epoch seconds).

One shared snapshot per breaker name lives in a store (see :mod:`.store`). The layer
reads it (cached), asks :func:`admission` what to do with a call, and writes changes
through the store's atomic operations: counting failures, and compare-and-set on
``version`` for every state change, so that of several containers attempting the same
transition exactly one wins.

    closed ──(failure_threshold failures within failure_window)──▶ open
    open ──(recovery_timeout elapsed; first caller wins the compare-and-set)──▶ half_open
    half_open ──(a probe succeeds)──▶ closed
    half_open ──(a probe fails)──▶ open (new opened_at)
    half_open ──(no probe reported within recovery_timeout)──▶ half_open (a new round)

Half-open admits at most ``half_open_probes`` calls per round across every container:
the caller that moves the breaker to half-open holds the first slot, others claim the
rest with a conditional increment of ``probes``.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from .._checks import seconds, whole


class CircuitState(enum.Enum):
    """Where a breaker is."""

    CLOSED = "closed"
    """Calls run; failures are counted."""
    OPEN = "open"
    """Calls are rejected with ``CircuitOpenError`` until ``recovery_timeout`` has passed."""
    HALF_OPEN = "half_open"
    """A few probe calls run; the first outcome closes or re-opens the breaker."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The shared state of one breaker, as stored.

    Example:
        >>> Snapshot().state
        <CircuitState.CLOSED: 'closed'>
    """

    state: CircuitState = CircuitState.CLOSED
    version: int = 0
    """Bumped by every state change; state changes are compare-and-set on it."""
    failures: int = 0
    """Failures counted in the window that began at ``window_start``."""
    window_start: float | None = None
    """Epoch seconds of the first failure of the current window (None: no window)."""
    opened_at: float | None = None
    """When the breaker last opened (epoch seconds)."""
    half_opened_at: float | None = None
    """When the current half-open round began (epoch seconds)."""
    probes: int = 0
    """Probe slots claimed in the current half-open round."""


@dataclass(frozen=True, slots=True)
class Policy:
    """A breaker's thresholds (seconds for times).

    Example:
        >>> Policy(failure_threshold=3, recovery_timeout=10).failure_window
        10.0
    """

    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    half_open_probes: int = 1
    failure_window: float | None = None
    """Seconds a failure window lasts from its first failure; ``None``: ``recovery_timeout``."""

    def __post_init__(self) -> None:
        whole("circuit_breaker", "failure_threshold", self.failure_threshold, minimum=1)
        whole("circuit_breaker", "half_open_probes", self.half_open_probes, minimum=1)
        seconds("circuit_breaker", "recovery_timeout", self.recovery_timeout)
        seconds("circuit_breaker", "failure_window", self.failure_window, none="the recovery_timeout")
        window = self.recovery_timeout if self.failure_window is None else self.failure_window
        object.__setattr__(self, "recovery_timeout", float(self.recovery_timeout))
        object.__setattr__(self, "failure_window", float(window))

    @property
    def window(self) -> float:
        """``failure_window`` in seconds (always set after construction)."""
        assert self.failure_window is not None
        return self.failure_window


class Admission(enum.Enum):
    """What to do with a call, given the snapshot (see :func:`admission`)."""

    RUN = "run"
    """Closed: call the function."""
    REJECT = "reject"
    """Open, or half-open with every probe slot taken: raise ``CircuitOpenError``."""
    START_HALF_OPEN = "start_half_open"
    """Open long enough: try to move it to half-open; the winner probes."""
    NEW_ROUND = "new_round"
    """Half-open, but its probes never reported back: start a new round; the winner probes."""
    CLAIM_PROBE = "claim_probe"
    """Half-open with a free slot: try to claim it; if claimed, probe."""


def admission(snapshot: Snapshot, policy: Policy, now: float) -> Admission:
    """Decide what a call may do now.

    Example:
        >>> policy = Policy(recovery_timeout=30)
        >>> admission(Snapshot(), policy, now=100.0)
        <Admission.RUN: 'run'>
        >>> opened = Snapshot(CircuitState.OPEN, version=1, opened_at=100.0)
        >>> admission(opened, policy, now=110.0), admission(opened, policy, now=130.0)
        (<Admission.REJECT: 'reject'>, <Admission.START_HALF_OPEN: 'start_half_open'>)
    """
    if snapshot.state is CircuitState.CLOSED:
        return Admission.RUN
    if snapshot.state is CircuitState.OPEN:
        return Admission.START_HALF_OPEN if now >= reopens_at(snapshot, policy) else Admission.REJECT
    if now >= reopens_at(snapshot, policy):
        return Admission.NEW_ROUND
    return Admission.CLAIM_PROBE if snapshot.probes < policy.half_open_probes else Admission.REJECT


def reopens_at(snapshot: Snapshot, policy: Policy) -> float:
    """Epoch seconds when a rejected call may next get through: for an open breaker, when
    it may half-open; for a half-open one, when its probe round ends at the latest (a
    probe usually closes it sooner)."""
    if snapshot.state is CircuitState.OPEN:
        return (snapshot.opened_at or 0.0) + policy.recovery_timeout
    if snapshot.state is CircuitState.HALF_OPEN:
        return (snapshot.half_opened_at or 0.0) + policy.recovery_timeout
    return 0.0


def failures_in_window(snapshot: Snapshot, policy: Policy, now: float) -> int:
    """The failures that still count towards tripping at ``now``.

    Example:
        >>> counted = Snapshot(failures=4, window_start=100.0)
        >>> failures_in_window(counted, Policy(recovery_timeout=30), 120.0)
        4
        >>> failures_in_window(counted, Policy(recovery_timeout=30), 131.0)
        0
    """
    if snapshot.window_start is None or snapshot.window_start <= now - policy.window:
        return 0
    return snapshot.failures


def with_failures(snapshot: Snapshot, count: int, window: float, now: float) -> Snapshot:
    """``count`` more failures: added to the window still open at ``now``, or the first
    of a new one lasting ``window`` seconds.

    Example:
        >>> with_failures(Snapshot(failures=2, window_start=100.0), 1, 30.0, now=110.0).failures
        3
        >>> with_failures(Snapshot(failures=2, window_start=100.0), 1, 30.0, now=140.0).failures
        1
    """
    if snapshot.window_start is None:
        return dataclasses.replace(snapshot, failures=snapshot.failures + count, window_start=now)
    if snapshot.window_start <= now - window:
        return dataclasses.replace(snapshot, failures=count, window_start=now)
    return dataclasses.replace(snapshot, failures=snapshot.failures + count)


def trips(snapshot: Snapshot, policy: Policy, now: float, pending: int = 0) -> bool:
    """Does a closed breaker with ``pending`` more (not yet stored) failures open?"""
    return (
        snapshot.state is CircuitState.CLOSED
        and failures_in_window(snapshot, policy, now) + pending >= policy.failure_threshold
    )


def opened(snapshot: Snapshot, now: float) -> Snapshot:
    """The breaker opened at ``now`` (from closed, or from half-open after a failed probe)."""
    return Snapshot(CircuitState.OPEN, version=snapshot.version + 1, opened_at=now)


def half_opened(snapshot: Snapshot, now: float) -> Snapshot:
    """A half-open round began at ``now``; the caller making the change holds its first slot."""
    return Snapshot(
        CircuitState.HALF_OPEN, version=snapshot.version + 1, opened_at=snapshot.opened_at, half_opened_at=now, probes=1
    )


def closed(snapshot: Snapshot) -> Snapshot:
    """A probe succeeded: counting starts afresh."""
    return Snapshot(CircuitState.CLOSED, version=snapshot.version + 1)


__all__ = [
    "Admission",
    "CircuitState",
    "Policy",
    "Snapshot",
    "admission",
    "closed",
    "failures_in_window",
    "half_opened",
    "opened",
    "reopens_at",
    "trips",
    "with_failures",
]
