"""`pregen`: make every configured size that is missing from storage, on every core.

In-process entry point (what the CLI and a benchmark call):

    run = Run("pregen")                       # quiet; failures in run.report.failures
    report = await pregen(storage, settings, PregenOptions(jobs=8), run)

It plans from listings (plan.py), then hands the jobs to the engine (engine.py). Nothing
is written but whole objects, so an interrupted run is resumed by running it again: the
next diff holds exactly what the first one did not store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from config import Settings, SiteSettings, SizeSpec, parse_sizes
from proxy.bulk.engine import Engine
from proxy.bulk.plan import Job, plan_site
from proxy.bulk.report import Report
from proxy.bulk.run import Run
from proxy.bulk.shard import ALL, Shard
from proxy.storage import Storage


class PregenUsageError(ValueError):
    """A request the configuration cannot satisfy (unknown site or size): exit 2."""


@dataclass(frozen=True)
class PregenOptions:
    """`sites` empty: every configured site; `sizes` None: every configured size."""

    sites: tuple[str, ...] = ()
    sizes: tuple[str, ...] | None = None
    overwrite: bool = False
    jobs: int = 0  # 0: one per CPU this process may use
    shard: Shard = ALL

    @property
    def workers(self) -> int:
        return self.jobs or len(os.sched_getaffinity(0))


def select_sites(settings: Settings, names: Sequence[str]) -> list[SiteSettings]:
    unknown = [name for name in names if name not in settings.sites]
    if unknown:
        configured = ", ".join(settings.sites)
        raise PregenUsageError(f"unknown site {unknown[0]!r} (configured: {configured})")
    return [settings.sites[name] for name in dict.fromkeys(names or settings.sites)]


def select_sizes(site: SiteSettings, wanted: Sequence[str] | None) -> tuple[SizeSpec, ...]:
    """The site's specs named in `wanted` (all when None), in the site's order."""
    if wanted is None:
        return site.sizes
    unknown = [text for text in wanted if site.size(text) is None]
    if unknown:
        configured = ", ".join(spec.text for spec in site.sizes)
        raise PregenUsageError(
            f"size {unknown[0]!r} is not configured for site {site.name!r} (configured: "
            f"{configured}); sizes are keys, so only configured ones can be made"
        )
    return tuple(spec for spec in site.sizes if spec.text in wanted)


def parse_size_list(text: str) -> tuple[str, ...]:
    """`"300x, 70x70"` → ("300x", "70x70"); PregenUsageError when not size strings."""
    try:
        return tuple(spec.text for spec in parse_sizes(text))
    except ValueError as error:
        raise PregenUsageError(f"--sizes: {error}") from error


async def plan(storage: Storage, settings: Settings, options: PregenOptions, run: Run) -> list[Job]:
    """Every job of the run, site after site, with a notice per site of what was found."""
    work: list[Job] = []
    for site in select_sites(settings, options.sites):
        specs = select_sizes(site, options.sizes)
        skipped = run.report.skipped
        jobs = await plan_site(
            storage, site, specs, run.report, overwrite=options.overwrite, shard=options.shard
        )
        count = sum(len(job.specs) for job in jobs)
        run.report.planned_sizes += count
        run.notice(
            f"site {site.name}: {len(jobs)} originals need {count} sizes "
            f"({run.report.skipped - skipped} present)"
        )
        work += jobs
    run.report.planned = len(work)
    return work


async def pregen(
    storage: Storage, settings: Settings, options: PregenOptions, run: Run | None = None
) -> Report:
    """Make what is missing (everything with `overwrite`); see the module docstring.

    Raises PregenUsageError before any work for an unknown site or size; every other
    problem is recorded in the report and the run goes on.
    """
    run = run or Run("pregen")
    work = await plan(storage, settings, options, run)
    await Engine(storage, settings, run, jobs=options.workers).execute(work)
    run.report.finished = time.monotonic()
    return run.report


def print_plan(work: Sequence[Job], out: TextIO) -> None:
    """`--dry-run`: a line per object that would be written, `key<TAB>original key`."""
    for job in work:
        for spec in job.specs:
            out.write(f"{job.sized_key(spec)}\t{job.key}\n")
