"""Shared pieces of the circuit breaker tests: a fake clock, a logger that keeps what it
is given, DynamoDB tables on moto (in-process and server) and a request counter."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from msgworker.testing import LocalAws, ManualClock, local_aws

TABLE = "msgworker-breaker"
REGION = "us-east-1"
START = 1_800_000_000.0


class FakeClock(ManualClock):
    """Epoch seconds (from ``START``) that only move when told to; shared safely by many threads."""

    def __init__(self, now: float = START) -> None:
        super().__init__(start=now)


class Logs:
    """A logger keeping (level, message, extra) for each record, safe across threads."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def warning(self, msg: object, *args: object, extra: Any = None) -> None:
        with self._lock:
            self.records.append(("warning", str(msg), dict(extra or {})))

    def info(self, msg: object, *args: object, extra: Any = None) -> None:
        with self._lock:
            self.records.append(("info", str(msg), dict(extra or {})))

    def messages(self, start: str) -> list[str]:
        with self._lock:
            return [message for _, message, _ in self.records if message.startswith(start)]


class Metrics:
    """A MetricsLike that sums what the worker emits."""

    def __init__(self) -> None:
        self.added: Counter[str] = Counter()

    def add_metric(self, name: str, unit: Any, value: float, *args: Any, **kwargs: Any) -> None:
        self.added[name] += int(value)


def create_table(client: Any, name: str = TABLE) -> None:
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


@contextmanager
def moto_server_table() -> Iterator[LocalAws]:
    """A moto server on loopback with the breaker table."""
    with local_aws() as aws:
        create_table(aws.client("dynamodb"))
        yield aws


class RequestCounter:
    """Counts the DynamoDB requests a boto3 client makes (botocore ``before-call`` hook)."""

    def __init__(self, client: Any) -> None:
        self.operations: Counter[str] = Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **kwargs: Any) -> None:
        with self._lock:
            self.operations[model.name] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.operations.values())
