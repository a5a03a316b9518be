"""Whether a call may run: normally, as a probe of a half-open round, or not at all.

:func:`~msgworker.breaker._machine.admission` decides from a snapshot; this module acts on
that decision through the :class:`~msgworker.breaker._view.SharedView`, and is apart from
the decorator because acting is where the races are:

- **Half-open transitions.** Moving open → half-open (or starting a new probe round) is a
  compare-and-set; the container that wins holds the first probe slot and reports the
  transition, the others re-read and claim a slot or are rejected.
- **Probe slots** are claimed with a conditional increment, so at most
  ``half_open_probes`` calls run per round across every container.
- **Rejections** carry the time the breaker may let a probe through
  (:class:`~msgworker.errors.CircuitOpenError` ``reopens_at``), which the worker's failure
  actions turn into SQS visibility or a paused event source.

Only the slow path lives here: while the cache says closed, the wrapper runs the call
without calling :meth:`Gate.admit` at all.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Literal

from .._layers import Invocation, current_invocation
from ..errors import CircuitOpenError
from ._machine import Admission, CircuitState, Snapshot, admission, half_opened, reopens_at
from ._report import Reporter
from ._view import SharedView

LOST_RACES = 3
"""Lost compare-and-sets in a row after which a call is rejected: each one re-reads, and
three mean heavy contention, where one more round trip would only add to it."""


@dataclasses.dataclass(frozen=True, slots=True)
class Probe:
    """This call holds a probe slot of the half-open round ``version``."""

    version: int


class Gate:
    """Admits or rejects the calls of one breaker in this container: the slow path of
    its wrapper, and the check before a batch."""

    def __init__(self, view: SharedView, *, pause_source: bool) -> None:
        self.view = view
        self.pause_source = pause_source
        self._report: Reporter = view.report

    def admit(self) -> Probe | None:
        """Before a call, unless the cache says closed: ``None`` to run it normally, a probe
        slot to run it as a probe; raises :class:`CircuitOpenError` when it must not run."""
        view = self.view
        now = view.clock()
        invocation = current_invocation()
        snapshot = view.current(now)
        for _ in range(LOST_RACES):
            decision = admission(snapshot, view.policy, now)
            if decision is Admission.RUN:
                return None
            if decision is Admission.REJECT:
                break
            if decision is Admission.CLAIM_PROBE:
                if view.claim_probe(snapshot, invocation):
                    return Probe(snapshot.version)
                snapshot = view.cached or snapshot
                continue
            # START_HALF_OPEN or NEW_ROUND: whoever moves the state holds the first slot.
            new = half_opened(snapshot, now)
            why: tuple[Literal["info"], str, str] = (
                "info",
                "circuit half-open: letting probes through",
                "CircuitHalfOpened",
            )
            if view.move(snapshot, new, now, invocation, why, probes=view.policy.half_open_probes):
                return Probe(new.version)
            snapshot = view.cached or snapshot
        raise self.rejection(snapshot, invocation, 1)

    def check_batch(self, invocation: Invocation) -> None:
        """Before a batch: raise :class:`CircuitOpenError` for all its records if the
        breaker rejects calls now (one cached read; nothing when the cache says closed)."""
        view = self.view
        now = view.clock()
        if now < view.closed_until:
            return
        snapshot = view.current(now)
        if admission(snapshot, view.policy, now) is Admission.REJECT:
            raise self.rejection(snapshot, invocation, len(invocation.records))

    def rejection(self, snapshot: Snapshot, invocation: Invocation | None, records: int) -> CircuitOpenError:
        """The error for ``records`` calls rejected while the state is ``snapshot``."""
        view = self.view
        if invocation is not None:
            invocation.count("CircuitRejected", records)
        # Never in the past: a rejection after lost races on a breaker that has just
        # closed again says "come back now", not "long ago".
        when = max(reopens_at(snapshot, view.policy), view.clock())
        at = datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
        if snapshot.state is CircuitState.HALF_OPEN:
            why = f"half-open with every probe slot taken (a new probe round starts at {at} at the latest)"
        else:
            why = f"open (it lets a probe through from {at})"
        return CircuitOpenError(
            f"circuit {view.name!r} is {why}, so the function was not called",
            name=view.name,
            reopens_at=when,
            pause_source=self.pause_source,
        )


__all__ = ["LOST_RACES", "Gate", "Probe"]
