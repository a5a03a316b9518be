"""What AWS clients cost a cold start, and when to pay it (docs/decisions/0013-aws-clients.md).

Part 1, **making the clients**: a fresh interpreter imports the SDK and makes a DynamoDB and
an SQS client, three ways: ``boto3.client(...)``, a botocore session's ``create_client``
(boto3 not imported), and msgworker's own factory (``msgworker._aws_clients.aws_client``,
botocore plus msgworker's config and retry hook). Wall time around ``subprocess.run``
(interpreter start included: ``python -c pass`` is shown as the floor), and the child's
peak RSS. No request is sent.

Part 2, **init phase or first use**: a handler module with ``@worker`` + ``@idempotent``
against a DynamoDB table on a moto server (its own process). Each fresh process imports
the module (Lambda's init phase), then runs one 10-record batch (the first invocation);
the two are timed apart. ``first use``: the client is made inside the first batch;
``init``: the process has ``AWS_LAMBDA_FUNCTION_NAME`` set, as in Lambda, so msgworker
makes it while the module is imported.

Commands run interleaved (A B C, B C A, ...), ``--runs`` times each (default 9), one
untimed warm-up run each (bytecode caches, as a built layer ships them). Medians and mins.

Usage: ``.venv/bin/python bench/cold_clients.py [--runs N] [--part 1|2]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

REGION = "us-east-1"
BASE_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_EC2_METADATA_DISABLED": "true",
}

REPORT_RSS = "import resource, sys; sys.stderr.write('rss=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"

# name: (the imports, making the two clients); the child times both parts itself.
CREATION = {
    "python -c pass (floor)": ("pass", "pass"),
    "boto3.client": ("import boto3", "boto3.client('dynamodb')\nboto3.client('sqs')"),
    "botocore create_client": (
        "import botocore.session",
        "session = botocore.session.get_session()\nsession.create_client('dynamodb')\nsession.create_client('sqs')",
    ),
    "import msgworker (its floor)": ("import msgworker", "pass"),
    "msgworker aws_client": (
        "import msgworker\nfrom msgworker._aws_clients import aws_client",
        "aws_client('dynamodb')\naws_client('sqs')",
    ),
}


def timed(imports: str, create: str) -> str:
    return (
        "import time as _t\n_a = _t.perf_counter()\n"
        f"{imports}\n_b = _t.perf_counter()\n{create}\n_c = _t.perf_counter()\n"
        "import sys as _s\n_s.stderr.write('parts=%f,%f\\n' % ((_b - _a) * 1e3, (_c - _b) * 1e3))"
    )


HANDLER = textwrap.dedent(
    """
    from msgworker import idempotent, worker

    @worker(concurrency=1)
    @idempotent(key="order_id")
    def handler(order):
        pass
    """
)

FIRST_BATCH = textwrap.dedent(
    """
    import json, sys, time
    started = time.perf_counter()
    import handler_module
    imported = time.perf_counter()
    from msgworker.testing import LambdaContext, sqs_event
    event = sqs_event([json.dumps({"order_id": f"{sys.argv[1]}-{n}"}) for n in range(10)])
    prepared = time.perf_counter()
    response = handler_module.handler(event, LambdaContext())
    done = time.perf_counter()
    assert response == {"batchItemFailures": []}, response
    print(json.dumps({"init": (imported - started) * 1e3, "first_batch": (done - prepared) * 1e3}))
    """
)


def run_once(code: str, env: Mapping[str, str], cwd: str | None = None, args: Sequence[str] = ()) -> tuple[float, str]:
    """Wall ms of one child; its output gains ``cpu=`` (user + system ms: less disturbed than
    wall time by the other processes of a shared machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\n{REPORT_RSS}", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = (time.perf_counter() - started) * 1e3
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{result.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1e3
    return elapsed, f"{result.stdout}{result.stderr}cpu={cpu}\n"


def rss_kib(output: str) -> int:
    return int(next(line for line in output.splitlines() if line.startswith("rss="))[4:])


def cpu_ms(output: str) -> float:
    return float(next(line for line in output.splitlines() if line.startswith("cpu="))[4:])


def parts(output: str) -> tuple[float, float]:
    first, second = next(line for line in output.splitlines() if line.startswith("parts="))[6:].split(",")
    return float(first), float(second)


def interleaved(names: Sequence[str], runs: int) -> list[list[str]]:
    """Run orders A B C, B C A, C A B, ...: drift on a shared machine hits every command alike."""
    return [[names[(start + offset) % len(names)] for offset in range(len(names))] for start in range(runs)]


def part_one(runs: int) -> None:
    env = {**os.environ, **BASE_ENV, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # never contacted
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    codes = {name: timed(*pair) for name, pair in CREATION.items()}
    for code in codes.values():
        run_once(code, env)  # warm the bytecode caches
    times: dict[str, list[float]] = {name: [] for name in CREATION}
    imports: dict[str, list[float]] = {name: [] for name in CREATION}
    making: dict[str, list[float]] = {name: [] for name in CREATION}
    memory: dict[str, list[int]] = {name: [] for name in CREATION}
    cpu: dict[str, list[float]] = {name: [] for name in CREATION}
    for order in interleaved(list(CREATION), runs):
        for name in order:
            elapsed, output = run_once(codes[name], env)
            times[name].append(elapsed)
            imported, made = parts(output)
            imports[name].append(imported)
            making[name].append(made)
            memory[name].append(rss_kib(output))
            cpu[name].append(cpu_ms(output))
    print(f"\nPart 1: a fresh process making a DynamoDB and an SQS client ({runs} runs each, interleaved)\n")
    print(
        f"{'':28} {'process ms':>10} {'(min)':>7} {'cpu ms':>7} {'imports ms':>10} {'clients ms':>10} "
        f"{'peak RSS MiB':>13}"
    )
    for name in CREATION:
        print(
            f"{name:28} {statistics.median(times[name]):10.1f} {min(times[name]):7.1f} "
            f"{statistics.median(cpu[name]):7.1f} "
            f"{statistics.median(imports[name]):10.1f} {statistics.median(making[name]):10.1f} "
            f"{statistics.median(memory[name]) / 1024:13.1f}"
        )


def part_two(runs: int) -> None:
    import logging

    from msgworker.testing import local_aws

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request

    with local_aws() as aws, tempfile.TemporaryDirectory() as folder:
        table = "bench-idempotency"
        aws.client("dynamodb").create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        Path(folder, "handler_module.py").write_text(HANDLER)
        env = {**os.environ, **BASE_ENV, **aws.environment, "MSGWORKER_IDEMPOTENCY_TABLE": table}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPATH"] = os.pathsep.join([folder, *filter(None, [env.get("PYTHONPATH")])])
        variants = {
            "first use": {k: v for k, v in env.items() if k != "AWS_LAMBDA_FUNCTION_NAME"},
            "init (AWS_LAMBDA_FUNCTION_NAME set)": {**env, "AWS_LAMBDA_FUNCTION_NAME": "bench"},
        }
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for name, variant in variants.items():
            run_once(FIRST_BATCH, variant, folder, ["warm-" + name[:4]])
        for number, order in enumerate(interleaved(list(variants), runs)):
            for name in order:
                elapsed, output = run_once(FIRST_BATCH, variants[name], folder, [f"{number}-{name[:4]}"])
                figures = json.loads(output.splitlines()[0])
                samples[name].append({**figures, "process": elapsed})
    print(f"\nPart 2: @worker + @idempotent, import (init) then one 10-record batch ({runs} runs each)\n")
    print(f"{'':36} {'init ms':>8} {'first batch ms':>15} {'process ms':>11}")
    for name, rows in samples.items():
        medians = [statistics.median(row[key] for row in rows) for key in ("init", "first_batch", "process")]
        print(f"{name:36} {medians[0]:8.1f} {medians[1]:15.1f} {medians[2]:11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--part", choices=("1", "2"), default=None)
    options = parser.parse_args()
    print(f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f}")
    if options.part in (None, "1"):
        part_one(options.runs)
    if options.part in (None, "2"):
        part_two(options.runs)


if __name__ == "__main__":
    main()
