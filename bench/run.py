"""msgworker benchmarks: every system measured side by side in one run (``make bench``).

Prints one table per section and writes the same numbers to ``bench/results.json``.
See ``bench/README.md`` for what each section measures and why.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import systems
from harness import Goal, Process, Row, Table, time_calls, time_processes
from systems import Event, Handler

from msgworker.testing import LambdaContext

BENCH = Path(__file__).resolve().parent
COLD = BENCH / "cold"
RESULTS = BENCH / "results.json"

BATCH_REPEATS = 15
BATCH_SECONDS = 0.08  # per sample: a few thousand calls of the cheapest system
COLD_REPEATS = 15
IO_REPEATS = 5

HAND = "hand-written loop"
LOGGING_HAND = "hand-written loop + logger.warning"
WITHIN_1_5 = Goal("<= 1.50x hand loop", max_ratio=1.5)


def progress(text: str) -> None:
    # Progress goes to stderr so that stdout carries the tables only.
    print(text, file=sys.stderr, flush=True)


def context() -> LambdaContext:
    # LambdaContext counts down in real time; the 15-minute Lambda maximum outlasts the
    # whole run, so no record is ever held back by the deadline guard.
    return LambdaContext(timeout=900)


def checked(name: str, handler: Handler, event: Event, expected: Any) -> Callable[[], object]:
    """The zero-argument call to time, after checking the handler answers correctly.

    The check is also the warm-up: msgworker builds its per-source plan and thread
    pool on the first batch, as a warm Lambda container already has.
    """
    lambda_context = context()
    response = handler(event, lambda_context)
    if response != expected:
        raise SystemExit(f"{name}: expected {expected!r}, got {response!r}")
    return lambda: handler(event, lambda_context)


def recheck(cases: Mapping[str, Callable[[], object]], expected: Any) -> None:
    """After timing, confirm every system still answered correctly (nothing timed out)."""
    for name, call in cases.items():
        if (response := call()) != expected:
            raise SystemExit(f"{name}: after timing, expected {expected!r}, got {response!r}")


# --------------------------------------------------------------------------------------
# 1. per-batch overhead


def batch_systems(*, invalid: bool) -> dict[str, tuple[Handler, Goal | None]]:
    # In the failure scenario msgworker and Powertools get the same silent stdlib logger:
    # both decide to log and build the record, neither formats or writes (see systems.py).
    # The plain hand loop does not log at all, so the failure scenario adds one that does,
    # and a "default" row for each library as shipped.
    quiet = systems.silent_logger()
    rows: dict[str, tuple[Handler, Goal | None]] = {HAND: (systems.hand_loop(systems.noop), None)}
    if invalid:
        rows[LOGGING_HAND] = (systems.hand_loop_logging(systems.noop, quiet), None)
    # The goal is stated for the all-valid batch with a payload-only function;
    # the other rows are there to show what a Message or a failure costs.
    rows["msgworker @worker(Order)"] = (
        systems.msgworker(systems.noop, logger=quiet),
        Goal("info: failure path") if invalid else WITHIN_1_5,
    )
    rows["msgworker, function takes Message"] = (
        systems.msgworker(systems.noop_with_message, logger=quiet),
        Goal("info: Message built per record"),
    )
    rows["msgworker, concurrency=4 (threads)"] = (
        systems.msgworker(systems.noop, concurrency=4, logger=quiet),
        Goal("info: thread-pool cost"),
    )
    rows["Powertools BatchProcessor"] = (
        systems.powertools(systems.noop, logger=quiet),
        Goal("~3.5x measured by issue author"),
    )
    if invalid:
        json_logs = systems.json_logger_to_devnull("msgworker")
        rows["msgworker, default JSON Logger -> devnull"] = (
            systems.msgworker(systems.noop, logger=json_logs),
            Goal("info: as shipped"),
        )
        rows["Powertools, default (no failure log)"] = (systems.powertools(systems.noop), Goal("info: as shipped"))
    return rows


def batch_overhead(*, invalid: bool) -> Table:
    event = systems.orders_event(invalid=invalid)
    expected = systems.expected_response(event, invalid=invalid)
    defined = batch_systems(invalid=invalid)
    cases = {name: checked(name, handler, event, expected) for name, (handler, _) in defined.items()}
    samples = time_calls(cases, repeats=BATCH_REPEATS, seconds=BATCH_SECONDS)
    recheck(cases, expected)
    scenario = f"record {systems.INVALID_INDEX} invalid" if invalid else "all valid"
    table = Table(
        title=f"1{'b' if invalid else 'a'}. Per-batch overhead: {systems.BATCH_SIZE}-record SQS batch, {scenario}, "
        "no-op function",
        unit="µs",
        baseline=HAND,
        method=f"{BATCH_REPEATS} interleaved repeats of ~{BATCH_SECONDS * 1000:.0f} ms timeit loops, GC on",
        rows=[Row(name, samples[name], goal) for name, (_, goal) in defined.items()],
    )
    if invalid:
        table.notes.append(relative_to(table, LOGGING_HAND, ["msgworker @worker(Order)", "Powertools BatchProcessor"]))
    return table


def relative_to(table: Table, base: str, names: list[str]) -> str:
    """Ratios against a second baseline, printed under the table."""
    reference = table.row(base).median
    ratios = ", ".join(f"{name} {table.row(name).median / reference:.2f}x" for name in names)
    return f"vs '{base}': {ratios}"


# --------------------------------------------------------------------------------------
# 2. cold import


def cold_environment() -> dict[str, str]:
    env = dict(os.environ)
    # Bytecode caches allowed, as in a pip-built Lambda layer (the shell may forbid them).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def cold_start() -> list[Table]:
    python = sys.executable
    # Every process gets the same all-valid event on stdin for the first-batch rows.
    event = json.dumps(systems.orders_event()).encode()
    processes = {
        "python -c pass": Process([python, "-c", "pass"]),
        "import pydantic": Process([python, "-c", "import pydantic"]),
        "pydantic model only (order_model)": Process([python, "-c", "import order_model"]),
        "msgworker handler module": Process([python, "-c", "import msgworker_handler"]),
        "Powertools handler module": Process([python, "-c", "import powertools_handler"]),
        "msgworker: import + first batch": Process([python, "first_batch.py", "msgworker_handler"], event),
        "Powertools: import + first batch": Process([python, "first_batch.py", "powertools_handler"], event),
    }
    samples = time_processes(processes, repeats=COLD_REPEATS, cwd=str(COLD), env=cold_environment())
    method = f"{COLD_REPEATS} interleaved fresh processes each, wall time, .pyc cached"
    imports = Table(
        title="2a. Cold import of a handler module (fresh interpreter)",
        unit="ms",
        baseline="Powertools handler module",
        method=method,
        rows=[
            Row("python -c pass", samples["python -c pass"], Goal("interpreter start")),
            Row("import pydantic", samples["import pydantic"]),
            Row("pydantic model only (order_model)", samples["pydantic model only (order_model)"]),
            Row("msgworker handler module", samples["msgworker handler module"], Goal("<= 1.00x Powertools", 1.0)),
            Row("Powertools handler module", samples["Powertools handler module"]),
        ],
    )
    first = Table(
        title="2b. Cold start: import + first batch (10 valid records)",
        unit="ms",
        baseline="Powertools: import + first batch",
        method=method,
        rows=[
            Row("msgworker: import + first batch", samples["msgworker: import + first batch"], Goal("<= 1.00x", 1.0)),
            Row("Powertools: import + first batch", samples["Powertools: import + first batch"]),
        ],
    )
    imports.notes.append(net_of(imports, "python -c pass", "msgworker handler module", "Powertools handler module"))
    imports.notes.append(
        net_of(imports, "pydantic model only (order_model)", "msgworker handler module", "Powertools handler module")
    )
    return [imports, first]


def net_of(table: Table, floor: str, mine: str, theirs: str) -> str:
    """The import cost above a floor, where the libraries actually differ."""
    base = table.row(floor).median
    own, other = table.row(mine).median - base, table.row(theirs).median - base
    return (
        f"above '{floor}': msgworker +{own * 1e3:.1f} ms, Powertools +{other * 1e3:.1f} ms (ratio {own / other:.2f}x)"
    )


# --------------------------------------------------------------------------------------
# 3. I/O-bound batch


def io_bound() -> Table:
    event = systems.orders_event()
    expected = systems.expected_response(event, invalid=False)
    within_150 = Goal("<= 150 ms", max_value=150)
    defined: dict[str, tuple[Handler, Goal | None]] = {
        HAND: (systems.hand_loop(systems.sleeps), Goal("sequential: ~1000 ms")),
        "msgworker concurrency=10, def (threads)": (systems.msgworker(systems.sleeps, concurrency=10), within_150),
        "msgworker concurrency=10, async def": (systems.msgworker(systems.sleeps_async, concurrency=10), within_150),
        "Powertools BatchProcessor (sequential)": (systems.powertools(systems.sleeps), Goal("~1000 ms expected")),
        "Powertools AsyncBatchProcessor, async def": (systems.powertools_async(systems.sleeps_async), None),
    }
    cases = {name: checked(name, handler, event, expected) for name, (handler, _) in defined.items()}
    samples = time_calls(cases, repeats=IO_REPEATS)
    return Table(
        title=f"3. I/O-bound batch: {systems.BATCH_SIZE} records, each sleeping {systems.SLEEP_SECONDS * 1000:.0f} ms",
        unit="ms",
        baseline=HAND,
        method=f"{IO_REPEATS} interleaved batches each",
        rows=[Row(name, samples[name], goal) for name, (_, goal) in defined.items()],
    )


# --------------------------------------------------------------------------------------


def git_revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=BENCH, capture_output=True, text=True).stdout.strip()

    dirty = " (+ uncommitted changes in src)" if git("status", "--porcelain", "--", "../src") else ""
    return (git("rev-parse", "--short", "HEAD") or "unknown") + dirty


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "msgworker": f"{version('msgworker')} @ {git_revision()}",
        "pydantic": version("pydantic"),
        "aws-lambda-powertools": version("aws-lambda-powertools"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    started = time.perf_counter()
    # Configuration from the shell (e.g. POWERTOOLS_METRICS_NAMESPACE turns msgworker's
    # metrics on, POWERTOOLS_LOG_LEVEL changes logging) would change what is measured.
    for name in [name for name in os.environ if name.startswith("POWERTOOLS_")]:
        del os.environ[name]
    meta = environment()
    tables: list[Table] = []
    sections: list[tuple[str, Callable[[], list[Table]]]] = [
        ("1a batch overhead, all valid", lambda: [batch_overhead(invalid=False)]),
        ("1b batch overhead, one invalid", lambda: [batch_overhead(invalid=True)]),
        ("2 cold start", cold_start),
        ("3 I/O-bound batch", lambda: [io_bound()]),
    ]
    for label, section in sections:
        progress(f"bench: {label} ...")
        tables.extend(section())
    runtime = time.perf_counter() - started

    print("msgworker benchmarks  " + "  ".join(f"{key}={value}" for key, value in meta.items()))
    for table in tables:
        print()
        print(table.render())
    print(f"\ntotal benchmark time: {runtime:.0f} s; results in {RESULTS.relative_to(BENCH.parent)}")
    RESULTS.write_text(
        json.dumps({"environment": meta, "runtime_s": runtime, "tables": [t.as_json() for t in tables]}, indent=2)
        + "\n"
    )


if __name__ == "__main__":
    main()
