"""The main job, locally: every function of template.yaml on each of its sample events.

    make demo        # or: .venv/bin/python scripts/demo.py

An embedded moto server on 127.0.0.1 (``msgworker.testing.local_aws``) stands in for
AWS and holds the template's DynamoDB tables; each function runs through ``msgworker invoke`` (no Docker) exactly
as a user would run it, and a summary says what was processed and what was reported
failed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
MSGWORKER = str(Path(sys.executable).parent / "msgworker")

sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))
from msgworker.cli.template import function_ids, load_template, resolve_function, table_variables  # noqa: E402
from msgworker.testing import LocalAws, local_aws  # noqa: E402


@dataclass
class Outcome:
    function: str
    event: str
    records: int
    failed: int
    status: int
    handler_lines: list[str]
    error: str = ""


def invoke(function: str, event_file: str, environment: dict[str, str]) -> Outcome:
    completed = subprocess.run(
        [MSGWORKER, "invoke", function, "-e", event_file, "-t", str(TEMPLATE)],
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    event = json.loads((ROOT / event_file).read_text())
    records = len(event["Records"]) if isinstance(event.get("Records"), list) else 1
    if isinstance(event.get("records"), dict):  # Kafka: lists of records by topic-partition
        records = sum(len(partition) for partition in event["records"].values())
    outcome = Outcome(function, event_file, records, 0, completed.returncode, _log_summary(completed.stderr))
    if completed.returncode == 0:
        response = json.loads(completed.stdout or "null")
        outcome.failed = len(response["batchItemFailures"]) if isinstance(response, dict) else 0
    elif completed.returncode == 1:
        outcome.failed = records
        outcome.error = json.loads(completed.stdout).get("errorMessage", "")
    else:
        outcome.failed = records
        outcome.error = completed.stderr.strip()
    return outcome


def _log_summary(stderr: str) -> list[str]:
    """What the function logged: the handlers' own lines, and msgworker's structured
    failure records (JSON) condensed to one line each."""
    lines = []
    for line in stderr.splitlines():
        if line.startswith("INFO "):
            _, logger, text = line.split(" ", 2)
            if not logger.startswith(("botocore", "boto3", "urllib3")):  # the SDK's own chatter
                lines.append(text)
        elif line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "message_id" in record:
                lines.append(f"FAILED {record['message_id']}: {record.get('error_type')}: {record.get('error')}")
    return lines


REDELIVERED = ("HighValueOrdersFunction", "HighValueOrdersQueueEvent")


def redeliver(template: dict[str, object], environment: dict[str, str]) -> Outcome:
    """SQS delivers at least once: the same batch again finds every order's key completed,
    so the handler's review does not run twice (``@idempotent`` in handlers/high_value_orders.py)."""
    function, event_name = REDELIVERED
    event_file = resolve_function(template, TEMPLATE, function).sample_events[event_name]
    print(f"\n$ msgworker invoke {function} -e {event_file}    # the same messages delivered again")
    outcome = invoke(function, event_file, environment)
    for line in outcome.handler_lines:
        print(f"    {line}")
    print(f"    the review ran for {len(outcome.handler_lines)} of {outcome.records} records: the rest were duplicates")
    return outcome


def show_idempotency_records(aws: LocalAws, table: str) -> None:
    items = aws.client("dynamodb").scan(TableName=table)["Items"]
    print(f"\nidempotency records in {table}:")
    for item in sorted(items, key=lambda item: item["id"]["S"]):
        print(f"    {item['id']['S']:<40} {item.get('status', {}).get('S', '?')}")


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the local endpoint's request log
    template = load_template(TEMPLATE)
    outcomes: list[Outcome] = []
    with local_aws(TEMPLATE) as aws:
        print(f"local AWS at {aws.endpoint_url} with tables: {', '.join(aws.tables)}")
        # What `msgworker local-aws -t template.yaml` prints: the endpoint and the tables' variables.
        environment = {**aws.environment, **table_variables(template)}
        for function in function_ids(template):
            spec = resolve_function(template, TEMPLATE, function)
            for event_file in spec.sample_events.values():
                print(f"\n$ msgworker invoke {function} -e {event_file}")
                outcome = invoke(function, event_file, environment)
                for line in outcome.handler_lines:
                    print(f"    {line}")
                if outcome.error:
                    print(f"    error: {outcome.error}")
                outcomes.append(outcome)
        outcomes.append(redeliver(template, environment))
        show_idempotency_records(aws, environment["MSGWORKER_IDEMPOTENCY_TABLE"])

    print(f"\n{'function':<25} {'sample event':<50} records  processed  failed")
    for outcome in outcomes:
        print(
            f"{outcome.function:<25} {outcome.event:<50} {outcome.records:>7}  "
            f"{outcome.records - outcome.failed:>9}  {outcome.failed:>6}"
        )
    unexpected = [outcome for outcome in outcomes if outcome.status == 2]
    print(
        f"\n{sum(o.records for o in outcomes)} records: {sum(o.records - o.failed for o in outcomes)} processed, "
        f"{sum(o.failed for o in outcomes)} reported failed (so they come back), none dropped."
    )
    # -- the whole topology: msgworker local / local_stack (issue 16) --
    from _demo_local import main as local_flow

    return 1 if unexpected or not outcomes or local_flow(TEMPLATE) else 0


if __name__ == "__main__":
    raise SystemExit(main())
