"""The local runtime against a hand-written receive-invoke-delete loop, on the same kind of
endpoint (moto's server on loopback, in this process).

    .venv/bin/python bench/local_runtime.py [--messages 300] [--latency-samples 30]

1. Throughput: ``--messages`` messages sent with SendMessageBatch while the consumer runs,
   until every one was processed and deleted (send -> function -> delete), messages/s.
2. Latency: one message at a time, the time from the send returning to the function's start
   (``MaximumBatchingWindowInSeconds: 0``), median and p90 over ``--latency-samples``.

The function is the same msgworker handler (bench/local_runtime/noop.py) in both. The hand
loop long-polls (WaitTimeSeconds=1, 10 at a time), calls the handler with a LambdaContext and
deletes the successes; the runtime is ``local_stack`` on bench/local_runtime/template.yaml. A
send through the runtime's own API (``stack.send``) wakes its poller; a send from another
client (boto3 here, or the AWS CLI) is found by the next short poll (see local/_sqs.py).
LocalStack and ``sam local`` need Docker, so they are not measured here.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))
sys.path.insert(0, str(ROOT / "local_runtime"))

from msgworker.testing import LambdaContext, local_aws, local_stack  # noqa: E402
from msgworker.testing._common import DEFAULT_REGION  # noqa: E402

TEMPLATE = ROOT / "local_runtime" / "template.yaml"


def send_all(sqs: Any, url: str, count: int) -> None:
    for start in range(0, count, 10):
        entries = [{"Id": str(n), "MessageBody": f'{{"n": {start + n}}}'} for n in range(min(10, count - start))]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def hand_loop(sqs: Any, url: str, handler: Any, stop: threading.Event, done: list[int]) -> None:
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    from msgworker.local._shapes import sqs_record

    while not stop.is_set():
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            continue
        event = {"Records": [sqs_record(m, arn, DEFAULT_REGION) for m in messages]}
        response = handler(event, LambdaContext(function_name="BenchFunction", timeout=30))
        failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
            for n, m in enumerate(messages)
            if m["MessageId"] not in failed
        ]
        if entries:
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        done[0] += len(entries)


def wait_for(predicate: Any, timeout: float = 120) -> None:
    give_up = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > give_up:
            raise TimeoutError("the consumer did not get there")
        time.sleep(0.002)


def measure_hand(messages: int, samples: int) -> tuple[float, list[float]]:
    import noop

    with local_aws() as aws:
        sqs = aws.client("sqs")
        url = sqs.create_queue(QueueName="hand-bench")["QueueUrl"]
        stop, done = threading.Event(), [0]
        consumer = threading.Thread(target=hand_loop, args=(sqs, url, noop.handler, stop, done), daemon=True)
        consumer.start()
        begun = time.perf_counter()
        send_all(sqs, url, messages)
        wait_for(lambda: done[0] >= messages)
        rate = messages / (time.perf_counter() - begun)
        latencies = []
        for _ in range(samples):
            count = len(noop.started)
            sqs.send_message(QueueUrl=url, MessageBody='{"n": 0}')
            sent = time.perf_counter()
            wait_for(lambda count=count: len(noop.started) > count)
            latencies.append(noop.started[count] - sent)
            wait_for(lambda count=done[0]: done[0] > count - 1 and not _in_flight(sqs, url))
        stop.set()
        consumer.join()
        sqs.delete_queue(QueueUrl=url)
    return rate, latencies


def _in_flight(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def measure_runtime(messages: int, samples: int) -> tuple[float, list[float], list[float]]:
    with local_stack(TEMPLATE) as stack:
        import noop  # the runtime imported it from bench/local_runtime/

        sqs, url = stack.client("sqs"), stack.url("BenchQueue")
        begun = time.perf_counter()
        send_all(sqs, url, messages)
        stack.runtime.clock.wake()
        stack.drain(timeout=120)
        rate = messages / (time.perf_counter() - begun)
        own, external = [], []
        for i in range(2 * samples):
            count = len(noop.started)
            if i % 2:
                sqs.send_message(QueueUrl=url, MessageBody='{"n": 0}')
            else:
                stack.send("BenchQueue", {"n": 0})
            sent = time.perf_counter()
            wait_for(lambda count=count: len(noop.started) > count)
            (external if i % 2 else own).append(noop.started[count] - sent)
            stack.drain(timeout=30)
    return rate, own, external


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(values) * 1000:7.1f} ms, p90 {p90 * 1000:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--latency-samples", type=int, default=30)
    arguments = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("msgworker.local").setLevel(logging.WARNING)
    hand_rate, hand_latency = measure_hand(arguments.messages, arguments.latency_samples)
    rate, own, external = measure_runtime(arguments.messages, arguments.latency_samples)
    print(
        f"local runtime vs a hand-written receive-invoke-delete loop ({arguments.messages} messages, moto on loopback)"
    )
    print(f"{'':<44} {'msgs/s':>8}  send -> function start")
    print(f"{'hand loop (long poll)':<44} {hand_rate:>8.0f}  {ms(hand_latency)}")
    print(f"{'msgworker local, stack.send':<44} {rate:>8.0f}  {ms(own)}")
    print(f"{'msgworker local, another client sends':<44} {'':>8}  {ms(external)}")
    print(f"throughput ratio local / hand loop: {rate / hand_rate:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
