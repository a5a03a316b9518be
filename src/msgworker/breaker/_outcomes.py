"""What a call's outcome does to the shared state.

Apart from admission because it has its own cost rule and its own races:

- **Which errors count** (:func:`verdict`): an error in ``on`` and not in
  ``ignore`` is a failure of the dependency; any other error means it answered (a
  success); msgworker's own decisions and cancellation mean the function did not really
  run, so they count for nothing and give a probe slot back.
- **Failures are batched.** Under ``worker`` a failure is counted in the batch and added
  to the shared count in one request at the end (:meth:`Outcomes.flush_batch`), or at once
  when the count known to this container plus the batch's own reaches the threshold, so a
  trip is not delayed to the end of the batch. A success writes nothing.
- **A probe's outcome decides its round**: the first to finish closes (success) or
  re-opens (failure) the breaker with a compare-and-set; later ones lose it and are dropped.

Nothing here raises into the caller: recording an outcome must never replace the call's own
result or error, so store problems are reported and the container's own view carries on.
"""

from __future__ import annotations

from typing import Literal

from .._layers import Invocation, current_invocation
from .._redaction import error_text
from ..errors import MsgworkerError, PermanentError
from ._admission import Probe
from ._machine import CircuitState, Snapshot, closed, failures_in_window, opened, trips
from ._view import SharedView

Verdict = Literal["failure", "success", "neutral"]


def verdict(
    error: BaseException, on: tuple[type[BaseException], ...], ignore: tuple[type[BaseException], ...]
) -> Verdict:
    """``failure`` counts towards tripping; ``success``: the dependency answered (an error
    outside ``on``, or in ``ignore``); ``neutral``: the function did not really run
    (msgworker's own decisions, cancellation).

    Example:
        >>> from msgworker.errors import CircuitOpenError
        >>> on, ignore = (ConnectionError,), (PermanentError,)
        >>> [verdict(error, on, ignore) for error in (ConnectionError(), KeyError(), PermanentError())]
        ['failure', 'success', 'success']
        >>> verdict(CircuitOpenError("open", name="payments", reopens_at=0.0), on, ignore)
        'neutral'
    """
    if not isinstance(error, Exception):
        return "neutral"  # cancellation, interpreter exit
    if isinstance(error, MsgworkerError) and not isinstance(error, PermanentError):
        return "neutral"  # msgworker's own decision (an open circuit, a held claim...)
    if isinstance(error, on) and not isinstance(error, ignore):
        return "failure"
    return "success"


class Outcomes:
    """Records the outcomes of one breaker's calls in this container: the part of its
    wrapper after the call, and the flush after a batch."""

    def __init__(
        self,
        view: SharedView,
        *,
        on: tuple[type[BaseException], ...],
        ignore: tuple[type[BaseException], ...],
    ) -> None:
        self.view = view
        self.on = on
        self.ignore = ignore
        self._report = view.report

    def succeeded(self, probe: Probe) -> None:
        """After a probe returned (a call admitted normally records nothing on success)."""
        try:
            self._probe_succeeded(probe)
        except Exception as error:  # the record's own outcome stands
            self._report.store_failed("close", error, current_invocation())

    def failed(self, probe: Probe | None, error: BaseException) -> None:
        """After the call raised ``error``; never raises itself, so the caller re-raises
        the record's own error."""
        try:
            kind = verdict(error, self.on, self.ignore)
            if kind == "neutral":
                if probe is not None:
                    self.view.release_probe(probe.version)
            elif kind == "success":
                if probe is not None:
                    self._probe_succeeded(probe)
            elif probe is not None:
                self._probe_failed(probe, error)
            else:
                self._count_failure()
        except Exception as problem:
            self._report.store_failed("record an outcome", problem, current_invocation())

    def flush_batch(self, invocation: Invocation) -> None:
        """After a batch: add its failures not yet counted to the shared count (one request)."""
        count = self.view.take_pending(invocation)
        if count:
            self._flush(count, invocation)

    def _probe_succeeded(self, probe: Probe) -> None:
        now = self.view.clock()
        invocation = current_invocation()
        expected = self._expected(probe)
        new = closed(expected)
        self.view.move(expected, new, now, invocation, ("info", "circuit closed: a probe succeeded", "CircuitClosed"))

    def _probe_failed(self, probe: Probe, error: BaseException) -> None:
        now = self.view.clock()
        invocation = current_invocation()
        expected = self._expected(probe)
        new = opened(expected, now)
        self.view.move(
            expected,
            new,
            now,
            invocation,
            ("warning", "circuit re-opened: a probe failed", "CircuitOpened"),
            error_type=type(error).__name__,
            error=error_text(error),
        )

    def _expected(self, probe: Probe) -> Snapshot:
        """The state the probe's outcome replaces: the cached one while it is still the
        probe's round, else that round as the store last knew it."""
        current = self.view.cached
        if current is not None and current.version == probe.version:
            return current
        return Snapshot(CircuitState.HALF_OPEN, version=probe.version)

    def _count_failure(self) -> None:
        """A failure of a closed-state call: counted in the batch, and added to the shared
        count now if that may trip the breaker (else at the end of the batch)."""
        invocation = current_invocation()
        count = self.view.count_failure(self.view.clock(), invocation)
        if count:
            self._flush(count, invocation)
        elif invocation is not None:
            # Whether or not worker found this breaker around the record function (it may
            # guard a client call inside it), the batch's pending failures get added at its end.
            invocation.defer(self, lambda batch: self.flush_batch(batch.invocation))

    def _flush(self, count: int, invocation: Invocation | None) -> None:
        """Add ``count`` failures to the shared count; trip the breaker if that reaches
        the threshold."""
        view = self.view
        now = view.clock()
        after = view.add_failures(count, now, invocation)
        if trips(after, view.policy, now):
            new = opened(after, now)
            view.move(
                after,
                new,
                now,
                invocation,
                ("warning", "circuit opened: too many failures", "CircuitOpened"),
                failures=failures_in_window(after, view.policy, now),
                window_seconds=view.policy.window,
            )


__all__ = ["Outcomes", "Verdict", "verdict"]
