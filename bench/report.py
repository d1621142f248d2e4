"""Figures, targets and the results table every benchmark reports into.

A benchmark never fails: it measures, compares with a baseline measured in the same run,
and says "pass" or "MISS" against the target. Tests assert; benchmarks report.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import pyvips


@dataclass(frozen=True)
class Figure:
    """One reported number; `ratio`/`target` set when it is checked against a goal.

    `higher` says which way is good: ratios and throughputs (>= target), or latencies
    and memory (<= target). With `rounds` (the ratio of each round, each round measuring
    both sides back to back on the same work), the ratio is their median: one round hit by
    a neighbour's burst of CPU then moves the verdict far less than it moves the totals.
    """

    bench: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: float | None = None
    higher: bool = True
    note: str = ""
    rounds: tuple[float, ...] = ()

    @property
    def ratio(self) -> float | None:
        if self.rounds:
            return statistics.median(self.rounds)
        if self.baseline is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def spread(self) -> str:
        """`0.91-1.02x over 6 rounds`, or "" without rounds."""
        if len(self.rounds) < 2:
            return ""
        return f"{min(self.rounds):.2f}-{max(self.rounds):.2f}x over {len(self.rounds)} rounds"

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        checked = self.ratio if self.baseline is not None else self.value
        if checked is None:
            return "n/a"
        ok = checked >= self.target if self.higher else checked <= self.target
        return "pass" if ok else "MISS"

    def goal(self) -> str:
        if self.target is None:
            return ""
        sign = "≥" if self.higher else "≤"
        suffix = "x" if self.baseline is not None else f" {self.unit}"
        return f"{sign} {self.target:g}{suffix}"


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {_line(figure)}", flush=True)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def table(self) -> str:
        rows = [
            "| bench | figure | value | baseline (same run) | ratio | target | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in self.figures:
            base = f"{_num(f.baseline)} {f.unit}" if f.baseline is not None else ""
            ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
            notes = ", ".join(n for n in (f.note, f.spread) if n)
            name = f"{f.name} ({notes})" if notes else f.name
            rows.append(
                f"| {f.bench} | {name} | {_num(f.value)} {f.unit} | {base} | {ratio} "
                f"| {f.goal()} | {f.verdict} |"
            )
        return "\n".join(rows)

    def save(self, path: Path, header: dict[str, str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "machine": header,
            "figures": [asdict(f) | {"ratio": f.ratio, "verdict": f.verdict} for f in self.figures],
            "notes": self.notes,
        }
        path.write_text(json.dumps(data, indent=2) + "\n")


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _line(f: Figure) -> str:
    text = f"{f.name}: {_num(f.value)} {f.unit}"
    if f.baseline is not None:
        text += f" vs {_num(f.baseline)} {f.unit}"
    if f.ratio is not None:
        text += f" = {f.ratio:.2f}x" + (" (median of rounds)" if len(f.rounds) > 1 else "")
    if f.target is not None:
        text += f" (target {f.goal()}: {f.verdict})"
    notes = ", ".join(n for n in (f.note, f.spread) if n)
    if notes:
        text += f" [{notes}]"
    return text


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0-100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def machine() -> dict[str, str]:
    """What the numbers came from: cores, CPU, memory, Python, libvips and aiohttp."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        total_kb = int(info.readline().split()[1])
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "ram": f"{total_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "pyvips": str(pyvips.__version__),
        "aiohttp": aiohttp.__version__,
        "code": revision(),
    }


def revision() -> str:
    """The commit measured, and whether the working tree (outside bench/) differed from it."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{sha} + uncommitted changes in {len(status)} files" if status else sha
