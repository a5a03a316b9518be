"""Timing and reporting helpers shared by the benchmark sections.

Shared machines are noisy, so every measurement here is repeated, the systems of one
comparison are interleaved (A B C, B C A, ...) so that drift hits them all alike, and
the report gives the median (typical) and the min (least disturbed) of the repeats.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import timeit
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# timeit switches the garbage collector off by default; it is on inside Lambda, and a
# library that allocates more should pay for the collections it causes.
GC_ON = "import gc; gc.enable()"


@dataclass(frozen=True)
class Goal:
    """A target printed beside a row; ``max_ratio``/``max_value`` make it checkable."""

    text: str
    max_ratio: float | None = None
    max_value: float | None = None  # in the table's display unit

    def met(self, ratio: float, value: float) -> bool | None:
        if self.max_ratio is not None:
            return ratio <= self.max_ratio
        if self.max_value is not None:
            return value <= self.max_value
        return None


@dataclass
class Row:
    system: str
    samples: list[float]  # seconds, one per repeat
    goal: Goal | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)


@dataclass
class Table:
    title: str
    unit: str  # "µs" or "ms"
    baseline: str  # system the ratio column divides by
    rows: list[Row] = field(default_factory=list)
    method: str = ""
    notes: list[str] = field(default_factory=list)  # extra lines printed under the table

    @property
    def scale(self) -> float:
        return {"µs": 1e6, "ms": 1e3}[self.unit]

    def row(self, system: str) -> Row:
        return next(row for row in self.rows if row.system == system)

    def ratio(self, row: Row) -> float:
        return row.median / self.row(self.baseline).median

    def noise(self) -> str:
        # Median over min says how far a typical repeat sits above the least disturbed one:
        # a few percent is a quiet machine; tens of percent means ratios need a second run.
        spreads = {row.system: (row.median / row.minimum - 1) * 100 for row in self.rows}
        worst = max(spreads, key=spreads.__getitem__)
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        return (
            f"noise: median sits {statistics.median(spreads.values()):.1f}% above min for a typical row, "
            f"{spreads[worst]:.1f}% at worst ({worst}); load average {load} on {os.cpu_count()} CPUs"
        )

    def render(self) -> str:
        width = max(len(row.system) for row in self.rows)
        header = f"{'system':<{width}}  {'median':>9}  {'min':>9}  {'ratio':>7}  goal"
        lines = [self.title, f"  ({self.method}; {self.unit}; ratio = median / median of '{self.baseline}')", header]
        lines.append("-" * (len(header) + 30))
        for row in self.rows:
            ratio = self.ratio(row)
            median, minimum = row.median * self.scale, row.minimum * self.scale
            goal = ""
            if row.goal is not None:
                met = row.goal.met(ratio, median)
                goal = row.goal.text + {True: "  ok", False: "  MISSED", None: ""}[met]
            lines.append(f"{row.system:<{width}}  {median:>9.1f}  {minimum:>9.1f}  {ratio:>6.2f}x  {goal}")
        lines.extend(self.notes)
        lines.append(self.noise())
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "method": self.method,
            "unit": self.unit,
            "baseline": self.baseline,
            "noise": self.noise(),
            "notes": self.notes,
            "rows": [
                {
                    "system": row.system,
                    "median": row.median * self.scale,
                    "min": row.minimum * self.scale,
                    "ratio": self.ratio(row),
                    "ratio_of_mins": row.minimum / self.row(self.baseline).minimum,
                    "goal": row.goal.text if row.goal else None,
                    "goal_met": row.goal.met(self.ratio(row), row.median * self.scale) if row.goal else None,
                    "samples": [sample * self.scale for sample in row.samples],
                }
                for row in self.rows
            ],
        }


def rotations(names: Sequence[str], repeats: int) -> list[list[str]]:
    """One running order per repeat, each starting one system later than the last, so no
    system always runs right after the same neighbour (cache and frequency effects)."""
    count = len(names)
    return [[*names[start % count :], *names[: start % count]] for start in range(repeats)]


def calls_for(call: Callable[[], object], seconds: float) -> int:
    """How many calls fill about ``seconds``: long enough to dwarf the timer's own cost,
    short enough that a burst of noise spoils one repeat rather than the whole result."""
    trial = 20
    elapsed = timeit.Timer(call, setup=GC_ON).timeit(trial)
    return max(50, min(20_000, round(seconds * trial / max(elapsed, 1e-9))))


def time_calls(
    cases: Mapping[str, Callable[[], object]], *, repeats: int, seconds: float | None = None, number: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each case, ``repeats`` samples each, cases interleaved.

    With ``seconds`` each case gets its own loop length (calibrated); otherwise every
    sample is ``number`` calls.
    """
    numbers = {name: calls_for(call, seconds) if seconds else number for name, call in cases.items()}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for order in rotations(list(cases), repeats):
        for name in order:
            elapsed = timeit.Timer(cases[name], setup=GC_ON).timeit(numbers[name])
            samples[name].append(elapsed / numbers[name])
    return samples


@dataclass(frozen=True)
class Process:
    """A command to time in a fresh interpreter, with optional standard input."""

    argv: Sequence[str]
    stdin: bytes | None = None


def run_process(process: Process, *, cwd: str, env: Mapping[str, str]) -> float:
    """Wall time of one fresh process; fails loudly, since a crashed import is fast."""
    start = time.perf_counter()
    done = subprocess.run(
        process.argv, cwd=cwd, env=env, input=process.stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(process.argv)} failed:\n{done.stderr.decode(errors='replace')}")
    return elapsed


def time_processes(
    processes: Mapping[str, Process], *, repeats: int, cwd: str, env: Mapping[str, str]
) -> dict[str, list[float]]:
    """Wall seconds per fresh process, interleaved; one untimed run each first fills the
    bytecode caches, as a pip-built Lambda layer ships them already compiled."""
    for process in processes.values():
        run_process(process, cwd=cwd, env=env)
    samples: dict[str, list[float]] = {name: [] for name in processes}
    for order in rotations(list(processes), repeats):
        for name in order:
            samples[name].append(run_process(processes[name], cwd=cwd, env=env))
    return samples
