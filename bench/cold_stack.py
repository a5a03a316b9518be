"""Full-stack cold start: a fresh process imports DESIGN.md's handler (worker + idempotent +
circuit_breaker + retry) and runs its first 10-record batch against DynamoDB on loopback,
side by side with the same handler written with aws-lambda-powertools.

    .venv/bin/python bench/cold_stack.py [--repeats 11]

DynamoDB is a moto server in this process, on 127.0.0.1; each system has its own two tables,
and every batch carries fresh order ids, so each run claims and completes ten keys (and reads
the breaker's state) as a cold Lambda container's first invocation does. The two commands run
interleaved (A B, B A, ...) after one untimed run each (bytecode caches, as a built layer ships
them). Reported: wall time of the whole process and its peak RSS, median and min over the runs,
and the ratio of medians msgworker / Powertools. Goals (issue 15): wall ≤ 0.75x, peak ≤ 1.0x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
COLD = BENCH / "cold"
SYSTEMS = {"msgworker": "msgworker_stack", "powertools": "powertools_stack"}
TABLES = {
    "MSGWORKER_IDEMPOTENCY_TABLE": "msgworker-idempotency",
    "MSGWORKER_BREAKER_TABLE": "msgworker-breaker",
    "POWERTOOLS_IDEMPOTENCY_TABLE": "powertools-idempotency",
    "POWERTOOLS_BREAKER_TABLE": "powertools-breaker",
}


def start_dynamodb() -> tuple[object, str]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for table in TABLES.values():
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return server, endpoint


def environment(endpoint: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(TABLES)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",  # as inside Lambda
            "POWERTOOLS_SERVICE_NAME": "bench",
            "PYTHONPATH": str(COLD),
        }
    )
    return env


def run(module: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one cold invocation."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(COLD / "stack_batch.py"), module], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{module} failed:\n{done.stdout}\n{done.stderr}")
    return wall, int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    arguments = parser.parse_args()
    server, endpoint = start_dynamodb()
    env = environment(endpoint)
    walls: dict[str, list[float]] = {name: [] for name in SYSTEMS}
    peaks: dict[str, list[float]] = {name: [] for name in SYSTEMS}
    try:
        for module in SYSTEMS.values():
            run(module, env)  # untimed: fills the bytecode caches
        order = list(SYSTEMS)
        for repeat in range(arguments.repeats):
            for name in order if repeat % 2 == 0 else reversed(order):
                wall, peak = run(SYSTEMS[name], env)
                walls[name].append(wall)
                peaks[name].append(peak)
    finally:
        server.stop()  # type: ignore[attr-defined]

    def median(values: list[float]) -> float:
        return statistics.median(values)

    print(f"Full-stack cold start: import + first 10-record batch, DynamoDB on loopback ({arguments.repeats} runs)")
    print()
    print("| system | wall median (ms) | wall min (ms) | peak RSS median (MiB) |")
    print("|---|---|---|---|")
    for name in SYSTEMS:
        wall, fastest, peak = median(walls[name]) * 1000, min(walls[name]) * 1000, median(peaks[name])
        print(f"| {name} | {wall:.0f} | {fastest:.0f} | {peak:.1f} |")
    wall_ratio = median(walls["msgworker"]) / median(walls["powertools"])
    peak_ratio = median(peaks["msgworker"]) / median(peaks["powertools"])
    print()
    print(f"msgworker / Powertools: wall {wall_ratio:.2f}x (goal <= 0.75x), peak RSS {peak_ratio:.2f}x (goal <= 1.00x)")
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
