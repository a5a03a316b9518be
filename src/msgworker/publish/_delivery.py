"""Deliver entries in batched requests, retrying only the ones that failed.

The decisions are pure (:func:`select`, :func:`requests`); :class:`Delivery` runs one
attempt over what is pending, and tenacity drives the attempts (backoff with full jitter
between them). The rules:

- **Batches** hold at most ``max_entries`` entries and ``max_bytes`` bytes, in input order.
- **Only failures are retried**, and only retryable ones (throttled, a service error); an
  entry's own fault (invalid, not allowed) is reported at once.
- **FIFO order holds across retries.** A request carries at most one entry per message
  group, and only its group's oldest unsent entry: a service may accept a later entry of a
  request while failing an earlier one, so two entries of a group in one request could
  overtake each other. After an entry failed, its group waits for it; when it cannot be
  sent, the rest of its group is reported unsent rather than sent out of order.
- **Nothing is lost**: every entry ends up sent or in the failures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._entries import FailedEntry

Outcome = str | FailedEntry
"""The service's id for a sent entry, or why it failed."""


@dataclass(slots=True, eq=False)
class Pending:
    """An entry on its way: ``request`` is the service's entry without its batch ``Id``."""

    index: int
    id: str
    group: str | None
    size: int
    request: dict[str, Any]
    last: FailedEntry | None = None
    tries: int = 0


Send = Callable[[Sequence[Pending]], list[Outcome]]
"""One request: an outcome per entry, in order (request-level errors become per-entry failures)."""


def select(pending: Sequence[Pending], fifo: bool, blocked: set[str | None]) -> list[Pending]:
    """The entries that may go in this round: all of them, or for FIFO each unblocked
    group's oldest entry.

    Example:
        >>> entries = [Pending(i, str(i), g, 1, {}) for i, g in enumerate("aab")]
        >>> [entry.id for entry in select(entries, True, set())]
        ['0', '2']
    """
    if not fifo:
        return list(pending)
    heads: dict[str | None, Pending] = {}
    for entry in pending:
        if entry.group not in blocked and entry.group not in heads:
            heads[entry.group] = entry
    return sorted(heads.values(), key=lambda entry: entry.index)


def requests(entries: Sequence[Pending], max_entries: int, max_bytes: int) -> list[list[Pending]]:
    """Split ``entries`` (in order) into requests of at most ``max_entries`` and ``max_bytes``.

    Example:
        >>> sizes = [Pending(i, str(i), None, size, {}) for i, size in enumerate([6, 5, 4, 1])]
        >>> [[entry.size for entry in request] for request in requests(sizes, 10, 10)]
        [[6], [5, 4, 1]]
    """
    batches: list[list[Pending]] = []
    current: list[Pending] = []
    used = 0
    for entry in entries:
        if current and (len(current) == max_entries or used + entry.size > max_bytes):
            batches.append(current)
            current, used = [], 0
        current.append(entry)
        used += entry.size
    if current:
        batches.append(current)
    return batches


class Delivery:
    """The state of one ``send`` call: what is pending, sent and failed."""

    def __init__(
        self, entries: Sequence[Pending], send: Send, *, fifo: bool, max_entries: int, max_bytes: int, tries: int
    ):
        self.pending = list(entries)
        self._tries = tries
        self.sent: dict[str, str] = {}
        self.failed: list[FailedEntry] = []
        self._send = send
        self._fifo = fifo
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def attempt(self) -> list[Pending]:
        """Try every pending entry once (for FIFO, group by group in order); returns what
        failed and may be retried, with the FIFO entries waiting behind them. An entry that
        has had its tries is reported (each entry gets ``tries``, whenever its turn came)."""
        blocked: set[str | None] = set()
        retry: list[Pending] = []
        while True:
            chosen = select(self.pending, self._fifo, blocked)
            if not chosen:
                break
            chosen_ids = {id(entry) for entry in chosen}
            self.pending = [entry for entry in self.pending if id(entry) not in chosen_ids]
            for request in requests(chosen, self._max_entries, self._max_bytes):
                for entry, outcome in zip(request, self._send(request), strict=True):
                    entry.tries += 1
                    if isinstance(outcome, str):
                        self.sent[entry.id] = outcome
                        continue
                    entry.last = outcome
                    if outcome.retryable and entry.tries < self._tries:
                        retry.append(entry)
                    else:
                        self.failed.append(outcome)
                        self._abandon_group(entry)
                    if self._fifo:
                        blocked.add(entry.group)
            if not self._fifo:
                break
        self.pending = sorted([*retry, *self.pending], key=lambda entry: entry.index)
        return self.pending

    def give_up(self) -> None:
        """Retries are spent: what is still pending is reported with its last failure."""
        for entry in self.pending:
            if entry.last is not None:
                self.failed.append(entry.last)
            else:
                self.failed.append(_behind(entry))
        self.pending = []

    def _abandon_group(self, failed: Pending) -> None:
        if not self._fifo:
            return
        behind = [entry for entry in self.pending if entry.group == failed.group]
        self.pending = [entry for entry in self.pending if entry.group != failed.group]
        self.failed.extend(_behind(entry) for entry in behind)


def _behind(entry: Pending) -> FailedEntry:
    return FailedEntry(
        entry.id,
        "NotSent",
        f"an earlier entry of message group {entry.group!r} could not be sent; sending this one would break the "
        "group's order",
        retryable=True,
    )


def deliver(
    delivery: Delivery, *, attempts: int, backoff: float, max_backoff: float, sleep: Callable[[float], None]
) -> Delivery:
    """Run attempts until nothing is pending, sleeping between them with exponential
    backoff and full jitter (AWS's recommendation for retries). Each attempt spends a try of
    at least one entry, so there are at most ``attempts`` per entry in all."""
    from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_random_exponential

    retrying = Retrying(
        stop=stop_after_attempt(attempts * max(1, len(delivery.pending))),
        wait=wait_random_exponential(multiplier=backoff, max=max_backoff),
        retry=retry_if_result(bool),
        retry_error_callback=lambda state: None,
        sleep=sleep,
        reraise=True,
    )
    retrying(delivery.attempt)
    delivery.give_up()
    return delivery


__all__ = ["Delivery", "Outcome", "Pending", "Send", "deliver", "requests", "select"]
