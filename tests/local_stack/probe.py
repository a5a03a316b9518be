"""Functions the local-runtime tests run (tests/local_stack/template.yaml): each answers from
its event alone, so a test reads what happened from ``invocations()`` and the queues."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

from msgworker import worker

_lock = threading.Lock()
running = 0
most_running = 0


def _body(record: dict[str, Any]) -> Any:
    if "kinesis" in record:
        return json.loads(base64.b64decode(record["kinesis"]["data"]))
    if "dynamodb" in record:
        return {key: next(iter(value.values())) for key, value in record["dynamodb"].get("NewImage", {}).items()}
    return json.loads(record["body"])


def partial(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports the records whose payload has ``"fail": true`` (message id or sequence number)."""
    failures = []
    for record in event["Records"]:
        if _body(record).get("fail"):
            identifier = record.get("messageId") or record.get("kinesis", {}).get("sequenceNumber")
            failures.append({"itemIdentifier": identifier or record["dynamodb"]["SequenceNumber"]})
    return {"batchItemFailures": failures}


def raising(event: dict[str, Any], context: Any) -> None:
    """Raises when any record (or the event itself) has ``"fail": true``."""
    records = event.get("Records") if isinstance(event, dict) else None
    if records is None:
        payload = event.get("detail", event) if isinstance(event, dict) else {}
        if payload.get("fail"):
            raise ValueError("the event asked to fail")
        return
    for record in records:
        payload = json.loads(record["Sns"]["Message"]) if "Sns" in record else _body(record)
        if payload.get("fail"):
            raise ValueError("a record asked to fail")


def slow(event: dict[str, Any], context: Any) -> None:
    """Takes a moment, counting how many invocations run at once."""
    global running, most_running
    with _lock:
        running += 1
        most_running = max(most_running, running)
    time.sleep(0.05)
    with _lock:
        running -= 1


@worker(None)
def ordered(payload: dict[str, Any]) -> None:
    """msgworker's FIFO handling: a failure stops the rest of its group."""
    if payload.get("fail"):
        raise ValueError("asked to fail")


def environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answers with what the function sees of its environment and context."""
    import os

    return {
        "own": os.environ.get("OWN_SETTING"),
        "shared": os.environ.get("SHARED_SETTING"),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


gate = threading.Event()
"""``held`` waits for it (the throttle test sets it once it saw a throttle)."""


def held(event: dict[str, Any], context: Any) -> None:
    gate.wait(timeout=30)
