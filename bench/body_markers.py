"""What the registered body envelopes cost a plain SQS body: the pre-check before any JSON
parse, side by side with the two inline scans it replaced (sns and eventbridge only).

    .venv/bin/python bench/body_markers.py
"""

from __future__ import annotations

import json
import timeit
from typing import Any

from msgworker.sources.base import MARKERS
from msgworker.sources.sqs import _decode_auto

BODY = json.dumps({"order_id": "ord-1001", "customer_id": "cust-17", "total": 42.5, "currency": "EUR", "type": "web"})
RECORD = {"body": BODY}
NUMBER = 500_000


def two_inline_scans(record: dict[str, Any]) -> Any:
    """The hand-tuned check for SNS and EventBridge only, before sources registered their markers."""
    body = record["body"]
    if 'ype"' not in body or ('"TopicArn"' not in body and '"detail-type"' not in body):
        return body, True, ()
    return None


def main() -> None:
    print(f"markers: {', '.join(MARKERS.all)}; body of {len(BODY)} characters")
    results: dict[str, float] = {}
    checks = (("two inline scans (sns, eventbridge)", two_inline_scans), ("registered markers", _decode_auto))
    for name, check in checks:
        results[name] = min(timeit.repeat(lambda check=check: check(RECORD), number=NUMBER, repeat=7)) / NUMBER * 1e9
        print(f"{name:38s} {results[name]:6.0f} ns per plain body")
    first, second = results.values()
    print(f"ratio {second / first:.2f}x, {second - first:+.0f} ns per record")


if __name__ == "__main__":
    main()
