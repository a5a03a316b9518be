"""Idempotency round trips: msgworker's ``@idempotent`` vs Powertools' idempotency utility.

    .venv/bin/python bench/idempotency.py [--runs 7] [--latency-ms 10]

Both systems process the same 10-record SQS batch against one DynamoDB table on a moto
server on loopback (in its own process). Every DynamoDB request is delayed by ``--latency-ms`` (a botocore
``before-send`` hook that sleeps, so the delay is paid per HTTP attempt and overlaps when
requests run concurrently, as network latency does). Scenarios:

- **fresh**: 10 keys never seen;
- **duplicates**: the same 10 keys again, in a container that has not seen them (msgworker's
  warm cache cleared; Powertools keeps no local cache by default);
- **duplicates, warm**: msgworker again in the container that processed them.

Measured per scenario (median over ``--runs``, systems interleaved):

- **calls**: DynamoDB requests (botocore ``before-call`` events);
- **sequential round trips**: requests are timed from ``before-call`` to ``after-call``;
  overlapping intervals are merged, and each merged busy period is one round trip the
  batch had to wait for (concurrent requests share one; sequential ones each add one);
  **max in flight** is the most requests open at once;
- **DynamoDB wait**: total time at least one request was open (the merged length);
- **write units**: what DynamoDB would bill, ceil(item size / 1 KB) per write request,
  failed conditional writes included (AWS charges them), with item sizes measured from the
  stored items by DynamoDB's size rules; moto's own ``ConsumedCapacity`` is printed too
  (moto reports fixed figures per operation, so it cannot show item size);
- **wall**: the whole handler call.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
BATCH = 10


@dataclass
class Probe:
    """Counts, times and delays the DynamoDB requests of the clients it is attached to."""

    latency: float
    calls: list[str] = field(default_factory=list)
    intervals: list[tuple[float, float]] = field(default_factory=list)
    delays: list[tuple[float, float]] = field(default_factory=list)
    writes: list[tuple[str, str, bool]] = field(default_factory=list)  # (operation, key, succeeded)
    consumed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("provide-client-params.dynamodb", self._ask_for_capacity)
        events.register("before-call.dynamodb", self._before_call)
        events.register("before-send.dynamodb", self._delay)
        events.register("after-call.dynamodb", self._after_call)
        return client

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.intervals.clear()
            self.delays.clear()
            self.writes.clear()
            self.consumed = 0.0

    def _ask_for_capacity(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in WRITES or model.name == "GetItem":
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        # The written item's key, to size the item afterwards.
        context["probe_key"] = (params.get("Item") or params.get("Key") or {}).get("id", {}).get("S", "")

    def _before_call(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["probe_started"] = time.perf_counter()
        with self.lock:
            self.calls.append(model.name)

    def _delay(self, **_: Any) -> None:
        started = time.perf_counter()
        time.sleep(self.latency)
        with self.lock:
            self.delays.append((started, time.perf_counter()))

    def _after_call(
        self, model: Any, parsed: dict[str, Any], context: dict[str, Any], http_response: Any, **_: Any
    ) -> None:
        ended = time.perf_counter()
        with self.lock:
            self.intervals.append((context.get("probe_started", ended), ended))
            if model.name in WRITES:
                key = context.get("probe_key", "")
                self.writes.append((model.name, key, http_response.status_code < 300))
            self.consumed += float((parsed.get("ConsumedCapacity") or {}).get("CapacityUnits", 0))

    def round_trips(self) -> tuple[int, float, int, float]:
        """(merged busy periods, their total length in seconds, max requests in flight,
        seconds during which injected latency was elapsing)."""
        merged = merge(self.intervals)
        edges = sorted([(start, 1) for start, _ in self.intervals] + [(end, -1) for _, end in self.intervals])
        in_flight = peak = 0
        for _, step in edges:
            in_flight += step
            peak = max(peak, in_flight)
        return len(merged), sum(end - start for start, end in merged), peak, sum(e - s for s, e in merge(self.delays))


def merge(intervals: list[tuple[float, float]]) -> list[list[float]]:
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def item_size(item: dict[str, Any]) -> int:
    """An item's size by DynamoDB's rules (attribute name bytes + value bytes)."""

    def value_size(value: dict[str, Any]) -> int:
        (kind, content), *_ = value.items()
        if kind == "S":
            return len(content.encode())
        if kind == "N":
            digits = Decimal(content).as_tuple().digits
            return math.ceil(len(digits) / 2) + 1
        if kind == "B":
            return len(content)
        if kind == "BOOL" or kind == "NULL":
            return 1
        if kind == "M":
            return 3 + sum(len(name.encode()) + value_size(inner) for name, inner in content.items())
        if kind == "L":
            return 3 + sum(1 + value_size(inner) for inner in content)
        return len(json.dumps(content))

    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(probe: Probe, client: Any, table: str) -> tuple[int, int]:
    """(write units billed, largest item in bytes) for the probe's recorded writes."""
    sizes: dict[str, int] = {}
    units = 0
    for _, key, _ in probe.writes:
        if key not in sizes:
            item = client.get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=True).get("Item")
            sizes[key] = item_size(item) if item else 0
        units += max(1, math.ceil(sizes[key] / 1024))
    return units, max(sizes.values(), default=0)


@dataclass
class Scenario:
    system: str
    scenario: str
    samples: list[dict[str, float]] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(sample[name] for sample in self.samples)


@contextmanager
def moto_table() -> Iterator[tuple[str, str]]:
    """A moto server in its own process on loopback, with an idempotency-shaped table.

    Its own process, so that moto's request handling (which real DynamoDB does on other
    machines, in parallel) does not compete with the measured client for this
    interpreter's GIL: only the client's own work and the injected latency are timed."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = make_client(endpoint)
        give_up = time.monotonic() + 30
        while True:
            try:
                client.list_tables()
                break
            except Exception:
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.1)
        table = "bench-idempotency"
        client.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )
        yield endpoint, table
    finally:
        server.terminate()
        server.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    return client


def msgworker_system(probe: Probe, table: str) -> tuple[Callable[[dict[str, Any], Any], Any], Callable[[], None]]:
    from pydantic import BaseModel

    from msgworker import worker
    from msgworker._layers import find_layers
    from msgworker.idempotency import DynamoDBStore, idempotent

    class Order(BaseModel):
        order_id: str
        total: float

    store = DynamoDBStore(table)  # the client msgworker makes by default
    probe.attach(store.client)

    @worker(Order)
    @idempotent(key="order_id", name="bench-msgworker", store=store)
    def handler(order: Order) -> None:
        pass

    (layer,) = find_layers(handler)
    return handler, layer.cache.clear


def powertools_system(probe: Probe, table: str) -> tuple[Callable[[dict[str, Any], Any], Any], Callable[[], None]]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(table_name=table)  # the client Powertools makes by default
    probe.attach(persistence.client)
    config = IdempotencyConfig(event_key_jmespath="order_id")

    @idempotent_function(data_keyword_argument="order", persistence_store=persistence, config=config)
    def process(order: dict[str, Any]) -> None:
        pass

    def record_handler(record: SQSRecord) -> None:
        process(order=json.loads(record.body))

    processor = BatchProcessor(event_type=EventType.SQS)

    def handler(event: dict[str, Any], context: Any) -> Any:
        config.register_lambda_context(context)
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handler, lambda: None


def measure(
    handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any], probe: Probe, client: Any, table: str
) -> dict[str, float]:
    from msgworker.testing import LambdaContext

    probe.reset()
    started = time.perf_counter()
    response = handler(event, LambdaContext(timeout=30))
    wall = time.perf_counter() - started
    if response and response.get("batchItemFailures"):
        raise RuntimeError(f"the benchmark batch failed: {response}")
    rounds, busy, peak, latency = probe.round_trips()
    calls = len(probe.calls)
    consumed = probe.consumed
    units, largest = write_units(probe, client, table) if probe.writes else (0, 0)
    return {
        "calls": calls,
        "writes": len(probe.writes),
        "rounds": rounds,
        "busy_ms": busy * 1000,
        "latency_ms": latency * 1000,
        "peak": peak,
        "wcu": units,
        "moto_capacity": consumed,
        "item_bytes": largest,
        "wall_ms": wall * 1000,
    }


def batch(keys: list[str]) -> dict[str, Any]:
    from msgworker.testing import sqs_event

    return sqs_event([json.dumps({"order_id": key, "total": 10.0}) for key in keys])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    options = parser.parse_args()
    latency = options.latency_ms / 1000

    with moto_table() as (endpoint, table):
        service = service_time(endpoint, table)
        probes = {"msgworker": Probe(latency), "powertools": Probe(latency)}
        reader = make_client(endpoint)  # sizes items after a run, outside the measurement
        # Each system makes its own client, as it does in a Lambda, pointed here by the environment.
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_REGION="us-east-1",
        )
        systems = {
            "msgworker": msgworker_system(probes["msgworker"], table),
            "powertools": powertools_system(probes["powertools"], table),
        }
        results: dict[tuple[str, str], Scenario] = {}

        def record(system: str, scenario: str, sample: dict[str, float]) -> None:
            results.setdefault((system, scenario), Scenario(system, scenario)).samples.append(sample)

        for run in range(options.runs + 1):
            order = list(systems) if run % 2 == 0 else list(reversed(systems))
            for name in order:
                handler, forget = systems[name]
                probe = probes[name]
                keys = [f"{name}-{run}-{n}-{uuid.uuid4().hex[:6]}" for n in range(BATCH)]
                fresh = measure(handler, batch(keys), probe, reader, table)
                forget()  # a container that has not seen these keys
                duplicates = measure(handler, batch(keys), probe, reader, table)
                warm = measure(handler, batch(keys), probe, reader, table) if name == "msgworker" else None
                if run == 0:
                    continue  # the first run warms connections and code paths
                record(name, "fresh", fresh)
                record(name, "duplicates", duplicates)
                if warm is not None:
                    record(name, "duplicates, warm", warm)

    print_table(results, options, service)


def service_time(endpoint: str, table: str, samples: int = 30) -> float:
    """Median seconds moto takes for one PutItem from this client with no added latency."""
    client = make_client(endpoint)
    times = []
    for n in range(samples):
        started = time.perf_counter()
        client.put_item(TableName=table, Item={"id": {"S": f"calibration-{n}"}, "status": {"S": "COMPLETED"}})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def print_table(results: dict[tuple[str, str], Scenario], options: argparse.Namespace, service: float) -> None:
    print(
        f"\nIdempotency, one {BATCH}-record SQS batch, DynamoDB on a moto server + {options.latency_ms:g} ms per "
        f"request (medians of {options.runs} runs, systems interleaved)\n"
    )
    header = (
        f"{'system':<11} {'scenario':<17} {'calls':>5} {'seq. round trips':>16} {'max in flight':>13} "
        f"{'latency waited':>14} {'DynamoDB wait':>13} {'WCU':>4} {'WCU/record':>10} {'item B':>6} {'wall':>9}"
    )
    print(header)
    print("-" * len(header))
    for (system, scenario), row in results.items():
        print(
            f"{system:<11} {scenario:<17} {row.median('calls'):>5.0f} {row.median('rounds'):>16.0f} "
            f"{row.median('peak'):>13.0f} {row.median('latency_ms'):>11.1f} ms {row.median('busy_ms'):>10.1f} ms "
            f"{row.median('wcu'):>4.0f} {row.median('wcu') / BATCH:>10.1f} {row.median('item_bytes'):>6.0f} "
            f"{row.median('wall_ms'):>6.1f} ms"
        )
    print(
        f"""
latency waited: time during which at least one request's added {options.latency_ms:g} ms was elapsing (the
  DynamoDB latency on the batch's critical path). DynamoDB wait: time at least one request was open, which also
  holds moto's own handling: moto serves one request at a time ({service * 1000:.1f} ms each from this client
  with no added latency), so a wave of {BATCH} concurrent requests queues there; DynamoDB serves them in parallel.
moto's own ConsumedCapacity (fixed: 1.0 per PutItem, 0.5 per UpdateItem, none for a failed condition,
  whatever the item size): """
        + ", ".join(
            f"{system} {scenario}: {row.median('moto_capacity'):g}" for (system, scenario), row in results.items()
        )
    )

    fresh, duplicates = results[("msgworker", "fresh")], results[("msgworker", "duplicates")]
    warm = results[("msgworker", "duplicates, warm")]
    budget = 3 * options.latency_ms
    goals = [
        ("fresh batch in <= 2 sequential round trips", fresh.median("rounds") <= 2),
        (f"fresh batch waits <= {budget:g} ms of DynamoDB latency", fresh.median("latency_ms") <= budget),
        ("fresh batch <= 2 write units per record", fresh.median("wcu") <= 2 * BATCH),
        ("duplicates in <= 1 round trip", duplicates.median("rounds") <= 1),
        ("duplicates in a warm container: 0 calls", warm.median("calls") == 0),
    ]
    print("\nGoals (msgworker):")
    for text, met in goals:
        print(f"  [{'met' if met else 'MISSED'}] {text}")


if __name__ == "__main__":
    main()
