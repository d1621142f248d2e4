"""`pregen`: make every configured size that is missing from storage, on every core.

In-process entry point (what a benchmark or a script calls):

    run = Run("pregen")                       # quiet; failures in run.report.failures
    report = await pregen(storage, settings, PregenOptions(jobs=8), run)

Building the sites' layouts is not free (a Magento 2 site reads its view.xml files and
computes its hash table), so a caller that already holds a Router passes it,
`pregen(..., router=router)`, and none is built here; the CLI builds one per run and calls
`plan(storage, router, ...)` and the engine itself (for `--dry-run` and `--enqueue`).

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

from bulk.engine import Engine
from bulk.plan import Job, plan_site
from bulk.report import Report
from bulk.run import Run
from bulk.shard import ALL, Shard
from config import Settings
from layouts import Router, SiteLayout, Size
from storage import Storage


class PregenUsageError(ValueError):
    """A request the configuration cannot satisfy (unknown site or size): exit 2."""


@dataclass(frozen=True)
class PregenOptions:
    """`sites` empty: every configured site; `sizes` None: every configured size;
    `formats` None: every variant format the site enables, () none (sizes as the source)."""

    sites: tuple[str, ...] = ()
    sizes: tuple[str, ...] | None = None
    overwrite: bool = False
    jobs: int = 0  # 0: one per CPU this process may use
    shard: Shard = ALL
    formats: tuple[str, ...] | None = None

    @property
    def workers(self) -> int:
        return self.jobs or len(os.sched_getaffinity(0))


def select_sites(router: Router, names: Sequence[str]) -> list[SiteLayout]:
    unknown = [name for name in names if name not in router.layouts]
    if unknown:
        configured = ", ".join(router.layouts)
        raise PregenUsageError(f"unknown site {unknown[0]!r} (configured: {configured})")
    return [router.layouts[name] for name in dict.fromkeys(names or router.layouts)]


def select_sizes(
    layout: SiteLayout, wanted: Sequence[str] | None, formats: Sequence[str] | None = None
) -> tuple[Size, ...]:
    """The site's sizes named in `wanted` (all when None), with their variants in `formats`
    (all the site enables when None), in the site's order. PregenUsageError for a name the
    site does not make: a run that would silently make nothing is a mistake."""
    made = tuple(
        size
        for size in layout.sizes
        if formats is None or size.params.output is None or size.params.output in formats
    )
    if wanted is None:
        return made
    names = dict.fromkeys(size.name.removesuffix(size.suffix) for size in layout.sizes)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise PregenUsageError(_not_made(layout, unknown, list(names)))
    return tuple(size for size in made if size.name.removesuffix(size.suffix) in wanted)


def _not_made(layout: SiteLayout, unknown: list[str], made: list[str]) -> str:
    site = layout.site
    unconfigured = [name for name in unknown if layout.size_named(name) is None]
    if site.magento2 is not None and not unconfigured:
        # Sizes of the other URL format: served, but this url_format never makes them.
        url_format = site.magento2.url_format
        makes = "hashes" if url_format == "hash" else "query sizes (like 240x300)"
        return (
            f"--sizes {', '.join(unknown)}: site {site.name!r} has url_format = "
            f'"{url_format}", which makes {makes} only; name those (`mediaproxy magento2 '
            f'hashes --site {site.name}` lists them), or set url_format = "both" in '
            f"[sites.{site.name}] to make both kinds"
        )
    name = (unconfigured or unknown)[0]
    return (
        f"size {name!r} is not configured for site {site.name!r} (configured: "
        f"{', '.join(made)}); sizes are keys, so only configured ones can be made"
    )


def parse_size_list(text: str) -> tuple[str, ...]:
    """`"300x, 70x70"` → ("300x", "70x70"); PregenUsageError when empty."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise PregenUsageError("--sizes: no sizes given")
    return names


def parse_formats(text: str) -> tuple[str, ...]:
    """`"webp, avif"` → ("webp", "avif"); "" → () (no variants); PregenUsageError otherwise."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in ("avif", "webp")]
    if unknown:
        raise PregenUsageError(f"--formats: {unknown[0]!r} is not avif or webp")
    return names


async def plan(storage: Storage, router: Router, options: PregenOptions, run: Run) -> list[Job]:
    """Every job of the run, site after site, with a notice per site of what was found."""
    work: list[Job] = []
    for layout in select_sites(router, options.sites):
        sizes = select_sizes(layout, options.sizes, options.formats)
        skipped = run.report.skipped
        jobs = await plan_site(
            storage, layout, sizes, run.report, overwrite=options.overwrite, shard=options.shard
        )
        count = sum(len(job.sizes) for job in jobs)
        run.report.planned_sizes += count
        run.notice(
            f"site {layout.site.name}: {len(jobs)} originals need {count} sizes "
            f"({run.report.skipped - skipped} present)"
        )
        work += jobs
    run.report.planned = len(work)
    return work


async def pregen(
    storage: Storage,
    settings: Settings,
    options: PregenOptions,
    run: Run | None = None,
    *,
    router: Router | None = None,
) -> Report:
    """Make what is missing (everything with `overwrite`); see the module docstring.
    `router`: the sites' layouts, already built from `settings` (default: built here).

    Raises PregenUsageError before any work for an unknown site or size; every other
    problem is recorded in the report and the run goes on.
    """
    run = run or Run("pregen")
    if router is None:
        router = Router.from_settings(settings)
    work = await plan(storage, router, options, run)
    await Engine(storage, settings, run, jobs=options.workers).execute(work)
    run.report.finished = time.monotonic()
    return run.report


def print_plan(work: Sequence[Job], out: TextIO) -> None:
    """`--dry-run`: a line per object that would be written, `key<TAB>original key`."""
    for job in work:
        for size in job.sizes:
            out.write(f"{size.key(job.rel)}\t{job.key}\n")
