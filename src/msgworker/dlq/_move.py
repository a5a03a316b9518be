"""The bookkeeping of a receive → send → delete move, without I/O.

The driver (``_redrive``) receives messages, asks :class:`MoveLedger` which to send and
in which batches, tells it what ``SendMessageBatch`` answered, and deletes exactly what
the ledger returns: the messages whose send SQS confirmed, nothing else. Every message
the move received ends in one of three places, once:

- ``moved``: sent to the target and deleted from the DLQ;
- ``left``: still in the DLQ (its send failed, or it was held back), with the reason;
- ``duplicated``: sent, but the delete failed, so it is in both queues.

FIFO order: a batch holds at most one message per message group, so a rejected send
cannot be overtaken by a later message of its group in the same request; after a
message of a group is left in the DLQ, the rest of that group is left too.

Example:
    >>> ledger = MoveLedger(target_fifo=False, limit=10, now=0.0)
    >>> messages = ledger.admit([{"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": "{}"}])
    >>> [batch] = ledger.batches(messages)
    >>> [entry["Id"] for entry, _ in batch]
    ['0']
    >>> [message["MessageId"] for message in ledger.settle(batch, successful=["0"], failed={})]
    ['m-1']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._model import DlqError, entry_size, resend_entry

DEDUPLICATION_INTERVAL = 300.0
"""Seconds a FIFO queue remembers a deduplication id (SQS: 5 minutes)."""
SEND_BATCH_LIMIT = 10
"""Entries per SendMessageBatch / DeleteMessageBatch call (SQS's limit)."""
MAX_BATCH_BYTES = 256 * 1024
"""Bytes per SendMessageBatch request kept to (the classic limit, which every queue accepts)."""

Message = Mapping[str, Any]
Batch = list[tuple[dict[str, Any], Message]]


@dataclass(frozen=True, slots=True)
class Left:
    """A message the move did not complete, and why (an AWS error code, or a hold).

    Example:
        >>> Left("m-1", "send failed: InvalidParameterValue")
        Left(message_id='m-1', reason='send failed: InvalidParameterValue')
    """

    message_id: str
    reason: str


class MoveLedger:
    """What a move has done, and what it may do next (see the module docstring).

    ``limit`` bounds the distinct messages received (the DLQ's depth when the move began:
    a message that fails again and comes back to the DLQ during the move is not moved
    round and round). ``now`` is the time, in epoch seconds, the hold rule below compares with.

    Held back, for a FIFO target: a message sent less than
    :data:`DEDUPLICATION_INTERVAL` ago. Its deduplication id is kept, and the target may
    have accepted that id (from the original send) within the interval; SQS would then
    answer "sent" and drop it, and deleting it from the DLQ would lose it.
    """

    def __init__(self, *, target_fifo: bool, limit: int, now: float) -> None:
        self.target_fifo = target_fifo
        self.limit = limit
        self.now = now
        self.moved: list[str] = []
        self.duplicated: list[Left] = []
        self.left: dict[str, Left] = {}
        self._receipts: dict[str, str] = {}
        self._seen: set[str] = set()
        self._blocked_groups: set[str] = set()

    @property
    def received(self) -> int:
        """Distinct messages received so far."""
        return len(self._seen)

    @property
    def finished(self) -> bool:
        """Has the move received as many distinct messages as it set out to?"""
        return len(self._seen) >= self.limit

    def admit(self, messages: Sequence[Message]) -> list[Message]:
        """Of one receive's messages, those to send now, in order: not seen before, within
        ``limit``, not held back. The others are left (and made visible at the end)."""
        admitted: list[Message] = []
        for message in messages:
            message_id = str(message["MessageId"])
            if message_id in self._seen:
                if message_id in self.left:  # back after its hold expired: keep the newest receipt
                    self._receipts[message_id] = str(message["ReceiptHandle"])
                continue
            if self.finished:
                self._leave(message, "arrived after the move began (run the redrive again)")
                self._seen.add(message_id)
                continue
            self._seen.add(message_id)
            hold = self._hold(message)
            if hold is not None:
                self._leave(message, hold)
            else:
                admitted.append(message)
        return admitted

    def batches(self, messages: Sequence[Message]) -> Iterator[Batch]:
        """``messages`` as SendMessageBatch requests (at most 10 entries and
        :data:`MAX_BATCH_BYTES`; for a FIFO target at most one entry per group). Lazily:
        each batch is formed after the previous one was settled, so a group blocked by
        a failed send sends nothing more."""
        pending = list(messages)
        while pending:
            batch: Batch = []
            groups: set[str] = set()
            size = 0
            rest: list[Message] = []
            for message in pending:
                group = _group(message)
                if group is not None and group in self._blocked_groups:
                    self._leave(message, "an earlier message of its group stayed in the dead-letter queue")
                    continue
                if len(batch) >= SEND_BATCH_LIMIT or (group is not None and group in groups):
                    rest.append(message)
                    continue
                try:
                    entry = resend_entry(message, str(len(batch)), fifo_target=self.target_fifo)
                except DlqError as error:
                    self._leave(message, str(error))
                    continue
                if batch and size + entry_size(entry) > MAX_BATCH_BYTES:
                    rest.append(message)
                    continue
                batch.append((entry, message))
                size += entry_size(entry)
                if group is not None:
                    groups.add(group)
            if batch:
                yield batch
            pending = [message for message in rest if message["MessageId"] not in self.left]

    def settle(self, batch: Batch, successful: Iterable[str], failed: Mapping[str, str]) -> list[Message]:
        """What SendMessageBatch answered (entry ids it stored, entry id → error code of
        those it rejected); returns the messages to delete: exactly those it stored. An
        entry in neither list counts as rejected."""
        stored = set(successful)
        to_delete: list[Message] = []
        for entry, message in batch:
            if entry["Id"] in stored:
                to_delete.append(message)
            else:
                self._leave(message, f"send failed: {failed.get(entry['Id'], 'no answer for this entry')}")
        return to_delete

    def deleted(self, messages: Sequence[Message], failed: Mapping[str, str]) -> None:
        """What DeleteMessageBatch answered for ``messages`` (message id → error code of
        those it could not delete)."""
        for message in messages:
            message_id = str(message["MessageId"])
            if message_id in failed:
                self.duplicated.append(Left(message_id, f"delete failed: {failed[message_id]}"))
            else:
                self.moved.append(message_id)

    def to_release(self) -> list[tuple[str, str]]:
        """``(message id, receipt handle)`` of the messages left in the DLQ: the driver makes
        them visible again when the move ends."""
        return [(message_id, receipt) for message_id, receipt in self._receipts.items() if message_id in self.left]

    def _hold(self, message: Message) -> str | None:
        if not self.target_fifo:
            return None
        sent = (message.get("Attributes") or {}).get("SentTimestamp")
        if not sent:
            return None
        ready = int(sent) / 1000 + DEDUPLICATION_INTERVAL
        if self.now >= ready:
            return None
        return (
            f"sent less than {DEDUPLICATION_INTERVAL:.0f} s ago: the target could drop it as a duplicate of the "
            f"original within the FIFO deduplication interval; redrive it again in {ready - self.now:.0f} s"
        )

    def _leave(self, message: Message, reason: str) -> None:
        message_id = str(message["MessageId"])
        self.left[message_id] = Left(message_id, reason)
        self._receipts[message_id] = str(message["ReceiptHandle"])
        group = _group(message)
        if group is not None:
            self._blocked_groups.add(group)


def _group(message: Message) -> str | None:
    group = (message.get("Attributes") or {}).get("MessageGroupId")
    return str(group) if group else None


__all__ = ["DEDUPLICATION_INTERVAL", "MAX_BATCH_BYTES", "SEND_BATCH_LIMIT", "Left", "MoveLedger"]
