"""Claim check and producers: msgworker against hand-written loops, on a moto server.

    .venv/bin/python bench/claim_check.py [--runs 7] [--latency-ms 10] [--messages 100]

moto runs in its own process on loopback (so its request handling does not compete with
the measured client for this interpreter's GIL); every S3 and SQS request is delayed by
``--latency-ms`` (a botocore ``before-send`` hook that sleeps: paid per HTTP attempt, and
overlapping when requests run at once, as network latency does). Systems are interleaved.

1. **Offloaded batch**: a 10-record SQS batch whose bodies are all extended-client pointers
   (200 KB payloads in S3), consumed by ``@worker`` (the batch's fetches at once, before any
   record runs) and by a hand-written loop that fetches each record's payload in turn (what
   the AWS Python extended client's ``receive_message`` does too). Measured: wall time per
   batch, S3 round trips waited for (overlapping requests merged into one), most requests
   in flight.
2. **Producer throughput**: ``--messages`` 1 KB messages to a standard queue with
   ``msgworker.publish.send_messages`` (SendMessageBatch, per-entry failures retried), a
   hand-written loop of ``send_message`` calls, and a hand-written loop of
   ``send_message_batch`` calls that checks nothing (what silently loses failed entries).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from idempotency import free_port, merge  # noqa: E402  (bench/ is on sys.path: this script's folder)

BATCH = 10


@dataclass
class Probe:
    """Delays and times the requests of the clients it is attached to."""

    latency: float
    intervals: list[tuple[float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, client: Any, service: str) -> None:
        events = client.meta.events
        events.register(f"before-call.{service}", self._before_call)
        events.register(f"before-send.{service}", self._delay)
        events.register(f"after-call.{service}", self._after_call)

    def _before_call(self, context: dict[str, Any], **_: Any) -> None:
        context["probe_started"] = time.perf_counter()

    def _delay(self, **_: Any) -> None:
        time.sleep(self.latency)

    def _after_call(self, context: dict[str, Any], **_: Any) -> None:
        ended = time.perf_counter()
        with self.lock:
            self.intervals.append((context.get("probe_started", ended), ended))

    def take(self) -> tuple[int, int, int]:
        """(requests, round trips waited for, most in flight) since the last take."""
        with self.lock:
            intervals, self.intervals = self.intervals, []
        edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
        in_flight = peak = 0
        for _, step in edges:
            in_flight += step
            peak = max(peak, in_flight)
        return len(intervals), len(merge(intervals)), peak


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        import urllib.request

        give_up = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except Exception:
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


def offloaded_batch(s3: Any, bucket: str) -> dict[str, Any]:
    from msgworker._claim_check import pointer_body
    from msgworker.testing import sqs_event, sqs_record

    records = []
    for n in range(BATCH):
        payload = json.dumps({"order_id": f"o-{n}", "blob": "x" * 200_000})
        key = f"payloads/{uuid.uuid4()}"
        s3.put_object(Bucket=bucket, Key=key, Body=payload.encode())
        body = pointer_body(bucket, key)
        records.append(sqs_record(body, message_attributes={"ExtendedPayloadSize": len(payload)}))
    return sqs_event(records)


def consumers(s3: Any) -> dict[str, Callable[[dict[str, Any]], Any]]:
    from msgworker import worker

    done: list[str] = []

    @worker(metrics=False)
    def msgworker_handler(order: dict[str, Any]) -> None:
        done.append(order["order_id"])

    def hand_written(event: dict[str, Any]) -> Any:
        failures = []
        for record in event["Records"]:
            try:
                _, where = json.loads(record["body"])
                data = s3.get_object(Bucket=where["s3BucketName"], Key=where["s3Key"])["Body"].read()
                done.append(json.loads(data)["order_id"])
            except Exception:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    return {"msgworker @worker (concurrent fetches)": msgworker_handler, "hand-written loop (sequential)": hand_written}


def producers(sqs: Any, bodies: list[str]) -> dict[str, Callable[[], int]]:
    from msgworker.publish import send_messages

    def new_queue() -> str:
        # A queue per run: moto slows down as a queue fills up.
        return str(sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"])

    def msgworker_send() -> int:
        return len(send_messages(new_queue(), bodies, client=sqs))

    def single_sends() -> int:
        url = new_queue()
        for body in bodies:
            sqs.send_message(QueueUrl=url, MessageBody=body)
        return len(bodies)

    def unchecked_batches() -> int:
        url = new_queue()
        for start in range(0, len(bodies), BATCH):
            chunk = bodies[start : start + BATCH]
            entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(chunk)]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        return len(bodies)

    return {
        "msgworker send_messages": msgworker_send,
        "hand-written send_message loop": single_sends,
        "hand-written batches, unchecked": unchecked_batches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--messages", type=int, default=100)
    options = parser.parse_args()

    with moto_server() as endpoint:
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
        )
        import msgworker._aws_clients as aws_clients
        from msgworker._aws_clients import aws_client

        # moto on a loaded 2-core machine can take longer than the 2 s a Lambda's client
        # waits for AWS; a timeout here would measure the machine, not the systems.
        aws_clients.READ_TIMEOUT = 60.0

        probe = Probe(options.latency_ms / 1000)
        s3, sqs = aws_client("s3"), aws_client("sqs")
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        event = offloaded_batch(s3, bucket)
        probe.attach(s3, "s3")
        probe.attach(sqs, "sqs")

        batch_rows = measure_consumers(consumers(s3), event, probe, options.runs)
        bodies = [json.dumps({"n": n, "pad": "x" * 1000}) for n in range(options.messages)]
        produce_rows = measure_producers(producers(sqs, bodies), probe, options.runs, len(bodies))

    print_tables(batch_rows, produce_rows, options)


def measure_consumers(
    systems: dict[str, Callable[[dict[str, Any]], Any]], event: dict[str, Any], probe: Probe, runs: int
) -> dict[str, dict[str, list[float]]]:
    rows: dict[str, dict[str, list[float]]] = {name: {"wall": [], "trips": [], "peak": []} for name in systems}
    for handler in systems.values():  # warm: clients, pools, imports
        assert handler(event) == {"batchItemFailures": []}
        probe.take()
    names = list(systems)
    for run in range(runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            started = time.perf_counter()
            response = systems[name](event)
            wall = time.perf_counter() - started
            assert response == {"batchItemFailures": []}
            _, trips, peak = probe.take()
            rows[name]["wall"].append(wall * 1000)
            rows[name]["trips"].append(trips)
            rows[name]["peak"].append(peak)
    return rows


def measure_producers(
    systems: dict[str, Callable[[], int]], probe: Probe, runs: int, count: int
) -> dict[str, dict[str, list[float]]]:
    rows: dict[str, dict[str, list[float]]] = {name: {"rate": [], "requests": []} for name in systems}
    names = list(systems)
    for run in range(runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            started = time.perf_counter()
            assert systems[name]() == count
            wall = time.perf_counter() - started
            requests, _, _ = probe.take()
            rows[name]["rate"].append(count / wall)
            rows[name]["requests"].append(requests - 1)  # less the CreateQueue
    return rows


def print_tables(
    batch_rows: dict[str, dict[str, list[float]]],
    produce_rows: dict[str, dict[str, list[float]]],
    options: argparse.Namespace,
) -> None:
    load = os.getloadavg()[0]
    print(
        f"\nOffloaded payloads, one {BATCH}-record SQS batch of pointers (200 KB each), S3 on a moto server "
        f"+ {options.latency_ms:g} ms per request; median (min) of {options.runs}, load {load:.1f}"
    )
    header = f"{'system':40} {'wall ms':>16} {'S3 round trips':>15} {'in flight':>10} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    baseline = statistics.median(next(iter(batch_rows.values()))["wall"])
    for name, row in batch_rows.items():
        wall = statistics.median(row["wall"])
        print(
            f"{name:40} {wall:9.1f} ({min(row['wall']):5.1f}) {statistics.median(row['trips']):15g} "
            f"{statistics.median(row['peak']):10g} {wall / baseline:6.2f}"
        )
    print(
        f"\nProducer throughput, {options.messages} x 1 KB messages to a standard queue, SQS on a moto server "
        f"+ {options.latency_ms:g} ms per request; median (min) of {options.runs}"
    )
    header = f"{'system':40} {'messages/s':>18} {'requests':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    rows = list(produce_rows.items())
    single = statistics.median(dict(rows)["hand-written send_message loop"]["rate"])
    for name, row in rows:
        rate = statistics.median(row["rate"])
        print(
            f"{name:40} {rate:10.0f} ({max(row['rate']):5.0f}) {statistics.median(row['requests']):9g} "
            f"{rate / single:6.2f}"
        )
    print("(ratio: to the first row above, throughput to the send_message loop below; min column is max rate)")


if __name__ == "__main__":
    main()
