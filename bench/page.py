"""Target 2, product page: four sizes of one original asked at the same moment, cold.

A browser opening a product page asks for the main image, a box image and thumbnails of
the same original at once. mediaproxy should decode it once for all of them; the
baseline renders each size on its own with plain `thumbnail_buffer` (same run, all cores).

Also measured, on the same originals under other sites (so they are cold too): asking
for every configured size at once (10, and the 9 seeds without 1200x), which is what
"render all sizes on the first miss" would cost per original.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bench import baselines, load, procs, stage
from bench.context import WORKERS, Context
from bench.corpus import Original
from bench.report import Figure, median
from config import SizeSpec
from resize import Limits, RenderParams, configure_libvips, render_many

IN_FLIGHT = 4  # pages loading at the same time
LIMITS = Limits(max_bytes=50_000_000, max_pixels=50_000_000)
METRICS = ("mediaproxy_renders_total", "mediaproxy_rendered_sizes_total")


def run(ctx: Context) -> None:
    count, rounds = ctx.pick(36, 16), ctx.pick(2, 1)  # long rounds: a page is a big unit
    originals = ctx.subset(0, count + 2)
    measured, warm = originals[:count], originals[count:]
    page = stage.specs(stage.PAGE)
    home = ctx.scratch("page")
    sites = {"t1": originals, "all": measured, "seeds": measured}
    config = stage.write_config(  # siblings off: a page renders exactly its sizes
        home / "mediaproxy.toml",
        stage.stage_files(home / "media", sites),
        sites=list(sites),
        siblings=False,
    )
    configure_libvips()
    baselines.setup()
    proc, base = procs.mediaproxy(config, ctx.tmp)
    with proc:
        asyncio.run(load.pages(_pages(base, "t1", warm, stage.PAGE), 2, 8))
        baselines.timed(baselines.thumbnail_job, [(o, s) for o in warm for s in page], WORKERS)
        server = baseline = 0.0
        groups: list[float] = []
        ratios = []
        before = procs.scrape(base, METRICS)
        step = count // rounds
        for r in range(rounds):
            chunk = measured[r * step : (r + 1) * step]
            jobs = [(o, spec) for o in chunk for spec in page]
            walls = {}
            for which in ("baseline", "server") if r % 2 == 0 else ("server", "baseline"):
                if which == "baseline":
                    walls[which] = baselines.timed(baselines.thumbnail_job, jobs, WORKERS)
                else:
                    done = asyncio.run(
                        load.pages(_pages(base, "t1", chunk, stage.PAGE), IN_FLIGHT, 4 * IN_FLIGHT)
                    )
                    walls[which] = done.wall
                    groups += done.groups
                    _check(ctx, done, "4-size pages")
            server += walls["server"]
            baseline += walls["baseline"]
            ratios.append(walls["baseline"] / walls["server"])
        after = procs.scrape(base, METRICS)
        engine = baselines.timed(lambda o: _render(o.data, page), measured, WORKERS)
        everything = asyncio.run(
            load.pages(_pages(base, "all", measured, stage.SIZES), IN_FLIGHT, 40)
        )
        seeds = asyncio.run(load.pages(_pages(base, "seeds", measured, stage.SEEDS), IN_FLIGHT, 40))
    _check(ctx, everything, "all sizes")
    _check(ctx, seeds, "9 seeds")
    pages = step * rounds
    res, bench = ctx.results, "2 product page"
    res.add(
        Figure(
            bench,
            "throughput",
            pages * len(page) / server,
            "img/s",
            pages * len(page) / baseline,
            2.5,
            note=f"{pages} pages x {len(page)} sizes, {IN_FLIGHT} pages in flight, "
            f"vs each size alone with thumbnail_buffer on {WORKERS} threads",
            rounds=tuple(ratios),
        )
    )
    res.add(
        Figure(
            bench,
            "(c) render_many alone, per page",
            count * len(page) / engine,
            "img/s",
            pages * len(page) / baseline,
            note="mediaproxy's rendering on the same threads, no HTTP or storage: the ceiling",
        )
    )
    res.add(Figure(bench, "page latency p50", median(groups) * 1000, "ms", higher=False))
    renders = after["mediaproxy_renders_total"] - before["mediaproxy_renders_total"]
    res.note(f"product page: {renders / pages:.2f} render jobs (decode passes) per page")
    per_page = server / pages
    for label, done, n in (("all 10 sizes", everything, 10), ("9 seeds", seeds, 9)):
        res.add(
            Figure(
                bench,
                f"render {label} at once, per original",
                done.wall / count * 1000,
                "ms",
                per_page * 1000,
                higher=False,
                note=f"{n / (done.wall / count):.1f} img/s; baseline = the 4-size page",
            )
        )


def _pages(
    base: str, site: str, originals: Sequence[Original], sizes: Sequence[str]
) -> list[list[str]]:
    return [[f"{base}/{site}/{size}/{o.rel}" for size in sizes] for o in originals]


def _render(data: bytes, specs: tuple[SizeSpec, ...]) -> object:
    return render_many(data, [RenderParams(spec.width, spec.height) for spec in specs], LIMITS)


def _check(ctx: Context, done: load.Load, what: str) -> None:
    bad = done.unexpected(200, "render")
    if bad:
        ctx.results.note(f"product page, {what}: {bad} responses not 200 render: {done.statuses()}")
