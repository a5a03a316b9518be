"""What happened to each record of a batch, and the response Lambda gets from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._redaction import describe, public
from .errors import BatchReportError, NotStartedError
from .sources import Record, Source


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """One record that did not complete: it is reported failed, so it comes back."""

    index: int
    id: str | None
    error: BaseException

    @property
    def started(self) -> bool:
        """False when msgworker chose not to run the record (deadline, FIFO group, stream)."""
        return not isinstance(self.error, NotStartedError)


@dataclass(slots=True)
class BatchResult:
    """The outcome of one invocation: every record either succeeded or is in ``failures``.

    Example:
        >>> result = handler.run(event, context)          # doctest: +SKIP
        >>> [failure.id for failure in result.failures]   # doctest: +SKIP
        ['0b4f...']
    """

    source: Source | None
    records: Sequence[Record]
    failures: list[RecordFailure] = field(default_factory=list)
    log_payload: bool = False
    """The worker's ``log_payload``: may a raised failure carry the record's own exception?"""

    @property
    def failed_ids(self) -> list[str | None]:
        return [failure.id for failure in self.failures]

    @property
    def succeeded_ids(self) -> list[str | None]:
        if self.source is None:
            return []
        failed = {failure.index for failure in self.failures}
        return [self.source.record_id(record) for index, record in enumerate(self.records) if index not in failed]

    def response(self) -> dict[str, Any] | None:
        """The Lambda response: ``batchItemFailures`` where the source supports partial
        batch responses; otherwise ``None``, or the failure raised so Lambda retries."""
        source = self.source
        if source is None:
            return {"batchItemFailures": []}
        if not source.partial_batch_response:
            self._raise_if_failed()
            return None
        items = []
        report_item = source.report_item
        groups_seen: set[str] | None = set() if source.report_first_of_group else None
        for failure in self.failures:
            record = self.records[failure.index]
            if groups_seen is not None:
                # Lambda resumes a group (a Kafka partition) at its reported record: the
                # first failure says it all, and the records after it failed unstarted.
                group = source.group_key(record)
                if group is not None:
                    if group in groups_seen:
                        continue
                    groups_seen.add(group)
            identifier = failure.id if report_item is None else report_item(record)
            if identifier is None:
                # Not chained to the record's error: a traceback would print its text.
                raise BatchReportError(
                    f"record #{failure.index} of this {source.name} batch failed "
                    f"({describe(failure.error, self.log_payload)}) and has no id to report; failing the whole "
                    "invocation so that Lambda retries the batch instead of losing it"
                ) from None
            items.append({"itemIdentifier": identifier})
        return {"batchItemFailures": items}

    def _raise_if_failed(self) -> None:
        if self.failures:
            raise public(
                [failure.error for failure in self.failures],
                [failure.id for failure in self.failures],
                self.source.name if self.source else "",
                len(self.records),
                self.log_payload,
            )
