"""Run every example handler on its sample events and show what happened to each record.

make demo        # or: .venv/bin/python scripts/demo.py
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handlers import high_value_orders, notifications, orders  # noqa: E402
from msgworker import Worker  # noqa: E402
from msgworker.testing import LambdaContext  # noqa: E402

DEMO: list[tuple[str, Worker, list[str]]] = [
    (
        "handlers/orders.py",
        orders.handler,
        ["sqs/orders.json", "sqs/orders-fifo.json", "kinesis/orders.json", "dynamodb/orders-stream.json"],
    ),
    (
        "handlers/notifications.py",
        notifications.handler,
        ["sns/notifications-to-sqs.json", "sns/notifications-to-sqs-raw.json", "sns/notification.json"],
    ),
    (
        "handlers/high_value_orders.py",
        high_value_orders.handler,
        ["eventbridge/high-value-orders-to-sqs.json", "eventbridge/high-value-order.json"],
    ),
]


def main() -> int:
    # The example handlers log what they did; show it inline, indented under each event.
    logging.basicConfig(level=logging.INFO, format="      %(message)s", stream=sys.stdout)
    problems = 0
    for name, handler, event_files in DEMO:
        print(f"\n== {name}")
        for event_file in event_files:
            event = json.loads((ROOT / "events" / event_file).read_text())
            print(f"  events/{event_file}")
            result = handler.run(event, LambdaContext(timeout=30))
            source = result.source.name if result.source else "empty"
            print(f"    {len(result.records)} {source} record(s)")
            for record_id in result.succeeded_ids:
                print(f"    processed  {record_id}")
            for failure in result.failures:
                print(f"    FAILED     {failure.id}: {type(failure.error).__name__}: {failure.error}")
            if result.source is not None and result.source.partial_batch_response:
                print(f"    response   {json.dumps(result.response())}")
            problems += 0 if len(result.succeeded_ids) + len(result.failures) == len(result.records) else 1
    print("\nEvery record above is either processed or reported failed: nothing is dropped.")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
