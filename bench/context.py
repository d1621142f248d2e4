"""What every benchmark gets: the mode, the originals, a scratch directory, the results."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.corpus import Original, dispersion_rel
from bench.report import Results

WORKERS = len(os.sched_getaffinity(0))  # "all cores", for baselines and the servers alike


@dataclass
class Context:
    quick: bool
    originals: list[Original]
    bigs: list[Original]
    tmp: Path
    results: Results
    progressive: list[Original] = field(default_factory=list)

    def pick(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    def subset(self, start: int, count: int) -> list[Original]:
        """`count` originals from `start`; past the end of a small corpus the same images
        come again under new names, so every key stays distinct."""
        n = len(self.originals)
        picked = []
        for i in range(start, start + count):
            lap, original = divmod(i, n)
            picked.append(self.originals[original])
            if lap:
                name = f"r{lap}{picked[-1].rel.rsplit('/', 1)[1]}"
                picked[-1] = Original(dispersion_rel(name), picked[-1].data)
        return picked

    def scratch(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path
