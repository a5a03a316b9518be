"""Lambda's Kinesis and DynamoDB Streams event source mappings, one poller per shard.

Records of a shard go to the function in order, one batch at a time (``BatchSize``,
``MaximumBatchingWindowInSeconds``); records no ``FilterCriteria`` pattern matches are
skipped. What happens after a failure is :func:`._decisions.stream_step`: the checkpoint
moves to the first failed record (``ReportBatchItemFailures``), a failing batch is split
in two (``BisectBatchOnFunctionError``), and a batch is given up after
``MaximumRetryAttempts`` or ``MaximumRecordAgeInSeconds``, its description (shard,
sequence numbers, never the records) sent to the on-failure destination.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..testing._common import iso_ms
from ._clock import Clock, Loop
from ._decisions import first_failed, matches_filters, stream_step
from ._functions import LocalFunction
from ._model import StreamMapping

log = logging.getLogger("msgworker.local")
IDLE = 0.1
"""Wall seconds between reads of a shard that had nothing new."""
RETRY_CAP = 0.05
"""Wall seconds a retry waits at most: locally a retry comes quickly, on the clock it is later."""


def retry_delay(attempts: int) -> float:
    """Seconds (on the runtime's clock) before retry ``attempts`` of a failing batch: 1 s,
    doubling, at most 60 s. Lambda documents that it retries, not how far apart.

    >>> [retry_delay(n) for n in (1, 2, 3, 10)]
    [1.0, 2.0, 4.0, 60.0]
    """
    return float(min(60, 2 ** (attempts - 1)))


@dataclass
class StreamPoller(Loop):
    mapping: StreamMapping
    function: LocalFunction
    client: Any
    stream_arn: str
    shard_id: str
    clock: Clock
    send: Callable[[str, str, Mapping[str, Any]], None]
    region: str = "us-east-1"
    empty_reads: int = 0
    given_up: int = 0
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _arrived: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # moto's Kinesis reads the stream's name from the iterator, which it takes from StreamName.
        where = (
            {"StreamArn": self.stream_arn}
            if self.mapping.kind == "dynamodb"
            else {"StreamName": self.stream_arn.rpartition("/")[2]}
        )
        answer = self.client.get_shard_iterator(
            ShardId=self.shard_id, ShardIteratorType=self.mapping.starting_position, **where
        )
        self._iterator = answer["ShardIterator"]
        self._start_loop(f"local-{self.mapping.name}-{self.shard_id}")
        self._busy = False

    @property
    def name(self) -> str:
        return f"{self.mapping.name} ({self.shard_id})"

    @property
    def enabled(self) -> bool:
        return self.mapping.enabled

    def idle_since(self, mark: int) -> bool:
        """Nothing pending, and a read that found nothing finished after ``mark`` empty reads."""
        with self._lock:
            return not self._pending and not self._busy and self.empty_reads > mark

    def _run(self) -> None:
        limit: int | None = None
        attempts = 0
        opened = 0.0
        while not self._stop.is_set():
            size = limit or self.mapping.batch_size
            if len(self._pending) < self.mapping.batch_size:
                got = self._read(self.mapping.batch_size - len(self._pending))
                if got and not self._pending:
                    opened = self.clock.now()
                with self._lock:
                    self._pending.extend(got)
                if not self._pending:
                    with self._lock:
                        self.empty_reads += 1
                    self.clock.sleep_until(float("inf"), real_cap=IDLE)
                    continue
                window_end = opened + self.mapping.window
                if len(self._pending) < size and self.clock.now() < window_end:
                    self.clock.sleep_until(window_end, real_cap=IDLE)
                    continue
            with self._lock:
                self._busy = True
            try:
                limit, attempts = self._invoke(size, attempts)
            finally:
                with self._lock:
                    self._busy = False
            if attempts:
                # A retry of the same records: wait first, on the runtime's clock, so that
                # MaximumRecordAgeInSeconds can pass (drain() passes it at once).
                self.clock.sleep_until(self.clock.now() + retry_delay(attempts), real_cap=RETRY_CAP)

    def _read(self, want: int) -> list[dict[str, Any]]:
        answer = self.client.get_records(ShardIterator=self._iterator, Limit=max(1, min(want, 1000)))
        self._iterator = answer.get("NextShardIterator") or self._iterator
        records = [self._record(raw) for raw in answer.get("Records", [])]
        for record in records:
            # Arrival times are the wall clock's; ages are measured on the runtime's clock.
            self._arrived[_sequence(record)] = _arrival(record) + self.clock.offset
        return records

    def _invoke(self, size: int, attempts: int) -> tuple[int | None, int]:
        batch = self._pending[:size]
        passing = [record for record in batch if self._passes(record)]
        if len(passing) < len(batch):
            with self._lock:
                self._pending = [record for record in self._pending if record not in batch or record in passing]
            batch = passing
            if not batch:
                return None, 0
        numbers = [_sequence(record) for record in batch]
        invocation = self.function.invoke(
            {"Records": batch}, self.mapping.name, records=len(batch), attempt=attempts + 1
        )
        if invocation is None:  # throttled: the same batch again
            return size, attempts
        failed_at = first_failed(invocation.response, invocation.error, numbers, self.mapping.report_failures)
        oldest = self._arrived.get(numbers[0], _arrival(batch[0]))
        expired = 0 <= self.mapping.max_record_age < self.clock.now() - oldest
        step = stream_step(
            len(batch),
            failed_at,
            attempts=attempts,
            max_retries=self.mapping.max_retries,
            bisect=self.mapping.bisect,
            expired=expired,
            partial=invocation.error is None,
        )
        given_up = batch[step.done : step.done + step.give_up]
        with self._lock:
            self._pending = self._pending[step.done + step.give_up :]
        for number in numbers[: step.done + step.give_up]:
            self._arrived.pop(number, None)
        if given_up:
            self.given_up += len(given_up)
            log.info(
                "%s gave up %d record(s) of %s: %s", self.mapping.function, len(given_up), self.name, step.condition
            )
            if self.mapping.on_failure:
                self.send(
                    self.mapping.on_failure, json.dumps(self._failure(given_up, step.condition, attempts + 1)), {}
                )
        return step.next_limit, step.attempts

    def _passes(self, record: dict[str, Any]) -> bool:
        if not self.mapping.filters:
            return True
        if self.mapping.kind == "kinesis":
            view = {**record["kinesis"], "data": base64.b64decode(record["kinesis"]["data"]).decode("utf-8", "replace")}
            return matches_filters(self.mapping.filters, view, "data")
        return matches_filters(self.mapping.filters, record, "dynamodb")

    def _record(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        if self.mapping.kind == "kinesis":
            arrival = raw["ApproximateArrivalTimestamp"]
            return {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": raw["PartitionKey"],
                    "sequenceNumber": raw["SequenceNumber"],
                    "data": base64.b64encode(raw["Data"]).decode("ascii"),
                    "approximateArrivalTimestamp": arrival.timestamp() if isinstance(arrival, datetime) else arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{self.shard_id}:{raw['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::123456789012:role/{self.mapping.function}",
                "awsRegion": self.region,
                "eventSourceARN": self.stream_arn,
            }
        record: dict[str, Any] = json.loads(json.dumps(dict(raw), default=_jsonable))
        record["eventSourceARN"] = self.stream_arn
        return record

    def _failure(self, records: list[dict[str, Any]], condition: str, attempts: int) -> dict[str, Any]:
        key = "KinesisBatchInfo" if self.mapping.kind == "kinesis" else "DDBStreamBatchInfo"
        return {
            "requestContext": {
                "requestId": records[0].get("eventID", ""),
                "functionArn": self.function.arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": iso_ms(datetime.now(UTC)),
            key: {
                "shardId": self.shard_id,
                "startSequenceNumber": _sequence(records[0]),
                "endSequenceNumber": _sequence(records[-1]),
                "approximateArrivalOfFirstRecord": iso_ms(datetime.fromtimestamp(_arrival(records[0]), UTC)),
                "approximateArrivalOfLastRecord": iso_ms(datetime.fromtimestamp(_arrival(records[-1]), UTC)),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }


def _sequence(record: Mapping[str, Any]) -> str:
    if "kinesis" in record:
        return str(record["kinesis"]["sequenceNumber"])
    return str(record["dynamodb"]["SequenceNumber"])


def _arrival(record: Mapping[str, Any]) -> float:
    if "kinesis" in record:
        return float(record["kinesis"]["approximateArrivalTimestamp"])
    return float(record["dynamodb"].get("ApproximateCreationDateTime", 0))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)
