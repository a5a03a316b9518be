"""Matching one event against 1, 100 and 1,000 event patterns: msgworker's indexed
``PatternSet`` beside a naive loop over ``EventPattern.matches`` and, on the operators it
supports, beside the PyPI ``event-ruler`` package.

    .venv/bin/python bench/patterns.py        # about a minute

Workloads (the event always matches exactly one pattern, the middle one):

- **routing**: pattern *i* is ``{"source": ["com.example.orders"], "detail-type": ["Type<i>"],
  "detail": {"total": [{"numeric": [">", i % 50]}]}}``: what a router or a bus with many rules holds.
- **exact only**: the same with ``"detail": {"currency": ["EUR"]}`` instead of the numeric
  condition, because ``event-ruler`` 0.3 has no numeric matching.

``event-ruler`` 0.3.0 (a Go engine behind a one-call API: ``test_event_pattern(event_json,
pattern_json)``) has no multi-pattern object, so it is called once per pattern, with JSON
text as its API requires; msgworker gets the event as a dict, already decoded, as a Lambda
handler has it. It is a bench-only extra (``pip install -e '.[bench]'``, which ``make bench``
does); without it its rows are left out and the script says so.

A third table measures what routing adds to a 10-record EventBridge → SQS batch:
``worker(Order)`` beside ``worker(router)`` with 1 and with 100 routes.

Each sample is one ``timeit`` loop of about 50 ms (calibrated per system), 9 samples per
system, systems interleaved, garbage collector on; the table gives µs per event.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Goal, Row, Table, time_calls

from msgworker.patterns import EventPattern, PatternSet

COUNTS = (1, 100, 1000)
REPEATS = 9
SECONDS = 0.05

try:
    import event_ruler  # type: ignore[import-not-found]
except ImportError:  # a bench-only extra
    event_ruler = None


def routing_pattern(index: int) -> dict[str, Any]:
    return {
        "source": ["com.example.orders"],
        "detail-type": [f"Type{index}"],
        "detail": {"total": [{"numeric": [">", index % 50]}]},
    }


def exact_pattern(index: int) -> dict[str, Any]:
    return {"source": ["com.example.orders"], "detail-type": [f"Type{index}"], "detail": {"currency": ["EUR"]}}


def event_for(count: int) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "3c0889bb-974e-4c74-ad02-e072727b17ff",
        "detail-type": f"Type{count // 2}",
        "source": "com.example.orders",
        "account": "123456789012",
        "time": "2026-11-25T10:00:07Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"order_id": "ord-3003", "customer_id": "cust-08", "total": 5120.0, "currency": "EUR"},
    }


def label(count: int) -> str:
    return f"{count} pattern{'' if count == 1 else 's'}"


def systems(build: Callable[[int], dict[str, Any]], *, with_ruler: bool) -> dict[str, Callable[[], object]]:
    cases: dict[str, Callable[[], object]] = {}
    for count in COUNTS:
        patterns = [build(index) for index in range(count)]
        event = event_for(count)
        compiled = [EventPattern(pattern) for pattern in patterns]
        indexed = PatternSet(dict(enumerate(compiled)))
        expected = [count // 2]
        naive = [index for index, pattern in enumerate(compiled) if pattern.matches(event)]
        assert indexed.matching(event) == naive == expected, (count, naive)
        cases[f"PatternSet, {label(count)}"] = lambda indexed=indexed, event=event: indexed.matching(event)
        cases[f"naive loop, {label(count)}"] = lambda compiled=compiled, event=event: [
            index for index, pattern in enumerate(compiled) if pattern.matches(event)
        ]
        if with_ruler and event_ruler is not None:
            texts = [json.dumps(pattern) for pattern in patterns]
            event_text = json.dumps(event)
            found = [index for index, text in enumerate(texts) if event_ruler.test_event_pattern(event_text, text)]
            assert found == expected, (count, found)
            cases[f"event-ruler loop, {label(count)}"] = lambda texts=texts, event_text=event_text: [
                index for index, text in enumerate(texts) if event_ruler.test_event_pattern(event_text, text)
            ]
    return cases


def table(title: str, build: Callable[[int], dict[str, Any]], *, with_ruler: bool) -> Table:
    cases = systems(build, with_ruler=with_ruler)
    samples = time_calls(cases, repeats=REPEATS, seconds=SECONDS)
    baseline = f"PatternSet, {label(COUNTS[0])}"
    grows_slowly = Goal(f"<= 3x of {label(COUNTS[0])}", max_ratio=3.0)
    result = Table(
        title=title,
        unit="µs",
        baseline=baseline,
        method=f"one event; {REPEATS} samples of ~{SECONDS * 1000:.0f} ms each, interleaved, GC on",
    )
    for name, values in samples.items():
        goal = grows_slowly if name.startswith("PatternSet") and name != baseline else None
        result.rows.append(Row(name, values, goal))
    return result


def router_table() -> Table:
    """What routing adds to a batch: a 10-record EventBridge → SQS batch through
    ``worker(Order)`` and through ``worker(router)`` with 1 and 100 routes."""
    from pydantic import BaseModel

    from msgworker import worker
    from msgworker.routing import Router
    from msgworker.testing import eventbridge_to_sqs_event

    class Order(BaseModel):
        order_id: str
        total: float

    def noop(order: Order) -> None:
        return None

    event = eventbridge_to_sqs_event([{"order_id": f"o-{i}", "total": 250} for i in range(10)], detail_type="Type0")
    plain = worker(Order)(noop)
    cases: dict[str, Callable[[], object]] = {"worker(Order)": lambda: plain(event)}
    for count in (1, 100):
        router = Router()
        for index in range(count):
            router.route(routing_pattern(index), model=Order, name=f"r{index}")(noop)
        handler = worker(router)
        assert handler(event) == {"batchItemFailures": []}
        cases[f"worker(router), {count} route{'' if count == 1 else 's'}"] = lambda handler=handler: handler(event)
    samples = time_calls(cases, repeats=REPEATS, seconds=SECONDS)
    result = Table(
        title="Routing a 10-record EventBridge → SQS batch (no-op functions)",
        unit="µs",
        baseline="worker(Order)",
        method=f"{REPEATS} samples of ~{SECONDS * 1000:.0f} ms each, interleaved, GC on",
    )
    result.rows.extend(Row(name, values) for name, values in samples.items())
    return result


def main() -> None:
    print(table("Matching one event: routing patterns (exact + numeric)", routing_pattern, with_ruler=False).render())
    print()
    exact = table("Matching one event: exact-only patterns", exact_pattern, with_ruler=True)
    if event_ruler is None:
        exact.notes.append("event-ruler is not installed (pip install -e '.[bench]'): its rows are left out")
    print(exact.render())
    print()
    print(router_table().render())


if __name__ == "__main__":
    main()
