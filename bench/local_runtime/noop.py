"""The function both consumers of bench/local_runtime.py run: a msgworker handler that
notes when each invocation started."""

from __future__ import annotations

import time
from typing import Any

from msgworker import worker

started: list[float] = []


@worker(None)
def _records(payload: Any) -> None:
    return None


def handler(event: dict[str, Any], context: Any) -> Any:
    started.append(time.perf_counter())
    return _records(event, context)
