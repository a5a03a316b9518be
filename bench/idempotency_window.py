"""The at-most-once window, and claims under lost store answers.

    .venv/bin/python bench/idempotency_window.py [--batches 30] [--latency-ms 10] [--records 200]

One DynamoDB table on a moto server on loopback (its own process); every request is
delayed by ``--latency-ms`` (bench/idempotency.py's probe), so figures scale with a real
round trip. Two measurements, systems side by side in one run:

1. **The window.** ``@idempotent`` repeats an effect only when the process dies after the
   effect and before its completion write lands. Per record: from the record function's
   return to the answer of the write that marks it completed. 10-record SQS batches:
   msgworker (sequential, and ``concurrency=4``), Powertools' idempotency utility in its
   batch processor, and a hand-written equivalent (claim, effect, complete, per record).
   msgworker writes a batch's completions together at its end, so a record's window also
   spans the records run after it.
2. **Lost answers.** Each write's answer is lost with probability ``--fault-rate`` (the
   request has landed, botocore retries it: a ``needs-retry`` hook returning 0). Every
   record is valid; counted: records reported failed, and effects run twice. msgworker
   recognises its own claim by its owner token; Powertools reads the retry's conflict as
   another delivery's claim.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from idempotency import Probe, make_client, moto_table  # noqa: E402  (bench/ is not a package)

BATCH = 10
Handler = Callable[[dict[str, Any], Any], Any]


class Window:
    """Effect ends (the record function returns) and completion answers, by order id."""

    def __init__(self) -> None:
        self.effects: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self.lock = threading.Lock()

    def effect(self, order_id: str) -> None:
        with self.lock:
            self.effects[order_id] = time.perf_counter()

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.dynamodb", self._before_call)
        client.meta.events.register("after-call.dynamodb", self._after_call)

    def _before_call(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["window_params"] = params

    def _after_call(self, context: dict[str, Any], http_response: Any, **_: Any) -> None:
        params = context.get("window_params") or {}
        if http_response.status_code >= 300:
            return
        values = json.dumps(params.get("ExpressionAttributeValues") or params.get("Item") or {})
        if "COMPLETED" not in values:
            return
        key = ((params.get("Key") or params.get("Item") or {}).get("id") or {}).get("S", "")
        ended = time.perf_counter()
        with self.lock:
            self.completed[key] = ended

    def seconds(self, key_of: Callable[[str], str]) -> list[float]:
        return [self.completed[key_of(order)] - ended for order, ended in self.effects.items()]

    def clear(self) -> None:
        self.effects.clear()
        self.completed.clear()


def msgworker_system(
    table: str, window: Window, probe: Probe, concurrency: int
) -> tuple[Handler, Callable[[str], str]]:
    from pydantic import BaseModel

    from msgworker import worker
    from msgworker.idempotency import DynamoDBStore, idempotent

    class Order(BaseModel):
        order_id: str

    store = DynamoDBStore(table)
    probe.attach(store.client)
    window.attach(store.client)
    name = f"window-{concurrency}"

    @worker(Order, concurrency=concurrency)
    @idempotent(key="order_id", name=name, store=store)
    def handler(order: Order) -> None:
        window.effect(order.order_id)

    return handler, lambda order_id: f"{name}#{order_id}"


def powertools_handler(table: str, effect: Callable[[str], None]) -> tuple[Handler, Any]:
    """Powertools' idempotency utility in its batch processor, as its user writes it;
    ``effect(order_id)`` is the record's effect. Returns the handler and the persistence layer."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(table_name=table)
    config = IdempotencyConfig(event_key_jmespath="order_id", use_local_cache=False)

    @idempotent_function(data_keyword_argument="order", persistence_store=persistence, config=config)
    def process(order: dict[str, Any]) -> None:
        effect(order["order_id"])

    processor = BatchProcessor(event_type=EventType.SQS)

    def handler(event: dict[str, Any], context: Any) -> Any:
        config.register_lambda_context(context)
        return process_partial_response(
            event=event,
            record_handler=lambda record: process(order=json.loads(record.body)),
            processor=processor,
            context=context,
        )

    return handler, persistence


def powertools_system(table: str, window: Window, probe: Probe) -> tuple[Handler, Callable[[str], str]]:
    handler, persistence = powertools_handler(table, window.effect)
    probe.attach(persistence.client)
    window.attach(persistence.client)
    keys: dict[str, str] = {}

    def key_of(order_id: str) -> str:
        # Powertools stores a hash of the key: find the completed item written after the effect.
        if order_id not in keys:
            keys[order_id] = persistence._get_hashed_idempotency_key({"order_id": order_id})
        return keys[order_id]

    return handler, key_of


def hand_written_system(table: str, window: Window, probe: Probe) -> tuple[Handler, Callable[[str], str]]:
    """The shortest correct code: per record, a conditional claim, the effect, the completion."""
    client = make_client(os.environ["AWS_ENDPOINT_URL"])
    probe.attach(client)
    window.attach(client)

    def handler(event: dict[str, Any], context: Any) -> Any:
        for record in event["Records"]:
            order_id = json.loads(record["body"])["order_id"]
            key = f"hand#{order_id}"
            client.put_item(
                TableName=table,
                Item={"id": {"S": key}, "status": {"S": "INPROGRESS"}},
                ConditionExpression="attribute_not_exists(id)",
            )
            window.effect(order_id)
            client.update_item(
                TableName=table,
                Key={"id": {"S": key}},
                UpdateExpression="SET #s = :c",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":c": {"S": "COMPLETED"}},
            )
        return {"batchItemFailures": []}

    return handler, lambda order_id: f"hand#{order_id}"


def batch(keys: list[str]) -> dict[str, Any]:
    from msgworker.testing import sqs_event

    return sqs_event([json.dumps({"order_id": key}) for key in keys])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure_window(table: str, options: argparse.Namespace) -> None:
    from msgworker.testing import LambdaContext

    latency = options.latency_ms / 1000
    systems: dict[str, tuple[Handler, Callable[[str], str], Window]] = {}
    for name, make in (
        ("msgworker", lambda w, p: msgworker_system(table, w, p, 1)),
        ("msgworker, concurrency=4", lambda w, p: msgworker_system(table, w, p, 4)),
        ("powertools", lambda w, p: powertools_system(table, w, p)),
        ("hand-written", lambda w, p: hand_written_system(table, w, p)),
    ):
        window = Window()
        handler, key_of = make(window, Probe(latency))
        systems[name] = (handler, key_of, window)
    samples: dict[str, list[float]] = {name: [] for name in systems}
    for run in range(options.batches + 1):
        order = list(systems) if run % 2 == 0 else list(reversed(systems))
        for name in order:
            handler, key_of, window = systems[name]
            window.clear()
            keys = [f"{run}-{n}-{uuid.uuid4().hex[:8]}" for n in range(BATCH)]
            response = handler(batch(keys), LambdaContext(timeout=30))
            if response and response.get("batchItemFailures"):
                raise RuntimeError(f"{name}: the benchmark batch failed: {response}")
            if run:  # the first run warms connections and code paths
                samples[name].extend(window.seconds(key_of))
    base = statistics.median(samples["hand-written"])
    print(
        f"\nAt-most-once window: record function's return -> completion write answered, {BATCH}-record SQS batches,"
        f"\nDynamoDB on a moto server + {options.latency_ms:g} ms per request ({options.batches} batches, "
        f"{options.batches * BATCH} records per system, interleaved)\n"
    )
    header = f"{'system':<26} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p50 vs hand-written':>20}"
    print(header)
    print("-" * len(header))
    for name, values in samples.items():
        p50 = statistics.median(values)
        print(
            f"{name:<26} {p50 * 1000:>8.1f} {percentile(values, 0.99) * 1000:>8.1f} {max(values) * 1000:>8.1f} "
            f"{p50 / base:>19.2f}x"
        )


def lose_answers(client: Any, rate: float, seed: int) -> Counter[str]:
    """Lose each successful write's answer with probability ``rate`` (botocore retries it)."""
    chance = random.Random(seed)
    lock = threading.Lock()
    lost: Counter[str] = Counter()

    def retry(response: Any = None, operation: Any = None, **_: Any) -> int | None:
        if response is None or response[0] is None or response[0].status_code != 200:
            return None
        name = getattr(operation, "name", "")
        if name not in ("PutItem", "UpdateItem", "DeleteItem"):
            return None
        with lock:
            if chance.random() >= rate:
                return None
            lost[name] += 1
        return 0

    client.meta.events.register_first("needs-retry.dynamodb", retry)
    return lost


def measure_lost_answers(table: str, options: argparse.Namespace) -> None:
    from pydantic import BaseModel

    from msgworker import worker
    from msgworker.idempotency import DynamoDBStore, idempotent
    from msgworker.testing import LambdaContext

    class Order(BaseModel):
        order_id: str

    effects: dict[str, Counter[str]] = {"msgworker": Counter(), "powertools": Counter()}
    store = DynamoDBStore(table)
    lost = {"msgworker": lose_answers(store.client, options.fault_rate, seed=1)}

    @worker(Order)
    @idempotent(key="order_id", name=f"faults-{uuid.uuid4().hex[:6]}", store=store)
    def msgworker_handler(order: Order) -> None:
        effects["msgworker"][order.order_id] += 1

    def powertools_effect(order_id: str) -> None:
        effects["powertools"][order_id] += 1

    powertools, persistence = powertools_handler(table, powertools_effect)
    lost["powertools"] = lose_answers(persistence.client, options.fault_rate, seed=1)

    handlers = {"msgworker": msgworker_handler, "powertools": powertools}
    failed: Counter[str] = Counter()
    prefix = uuid.uuid4().hex[:6]
    for start in range(0, options.records, BATCH):
        keys = [f"{prefix}-{n}" for n in range(start, min(start + BATCH, options.records))]
        for name, handler in handlers.items():
            response = handler(batch(keys), LambdaContext(timeout=30))
            failed[name] += len((response or {}).get("batchItemFailures", []))
    print(
        f"\nLost answers: {options.records} valid records, each write's answer lost with p={options.fault_rate:g} "
        "(the write landed; botocore retries)\n"
    )
    header = f"{'system':<11} {'answers lost':>12} {'valid records failed':>21} {'effects run twice':>18}"
    print(header)
    print("-" * len(header))
    for name in handlers:
        twice = sum(1 for count in effects[name].values() if count > 1)
        print(f"{name:<11} {sum(lost[name].values()):>12} {failed[name]:>21} {twice:>18}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.15)
    options = parser.parse_args()
    with moto_table() as (endpoint, table):
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_REGION="us-east-1",
        )
        measure_window(table, options)
        measure_lost_answers(table, options)


if __name__ == "__main__":
    main()
