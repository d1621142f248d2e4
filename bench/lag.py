"""Target 6, event-loop lag while the resize pool is saturated (p99 ≤ 25 ms).

Measured inside the server: bench.serve_app adds a task to the app that sleeps 5 ms in a
loop and records how late it wakes (`GET /_bench/lag`). The pool is kept saturated with
cold misses (8 in flight for 2-4 threads); meanwhile a visitor asks for an image already in
memory every 20 ms, so the lag is also shown as what a cache hit waits. The queue depth
from /metrics confirms the saturation.
"""

from __future__ import annotations

import asyncio
import time

from bench import load, procs, stage
from bench.context import Context
from bench.report import Figure, median, percentile

IN_FLIGHT = 8
PROBE_EVERY = 0.02


def run(ctx: Context) -> None:
    seconds = ctx.seconds(15, 6)
    originals = ctx.subset(0, ctx.pick(60, 30))
    home = ctx.scratch("lag")
    url = stage.stage_files(home / "media", {"t1": originals})
    proc, base = procs.mediaproxy(
        stage.write_config(home / "mediaproxy.toml", url), ctx.tmp, bench_routes=True
    )
    hot = f"{base}/t1/70x70/{originals[0].rel}"
    misses = [f"{base}/t1/{size}/{o.rel}" for size in stage.SIZES for o in originals[1:]]
    with proc:
        asyncio.run(load.requests([hot, hot], 1))
        procs.get_json(f"{base}/_bench/lag?reset=1")
        time.sleep(2)
        idle = procs.get_json(f"{base}/_bench/lag?reset=1")
        done, probes, depths = asyncio.run(_saturate(base, hot, misses, seconds))
        busy = procs.get_json(f"{base}/_bench/lag?reset=1")
    res, bench = ctx.results, "6 loop lag"
    res.add(
        Figure(
            bench,
            "lag p99, pool saturated",
            busy["p99"],
            "ms",
            target=25,
            higher=False,
            note=f"p50 {busy['p50']:.2f}, max {busy['max']:.1f} ms, {busy['n']} samples",
        )
    )
    res.add(Figure(bench, "lag p99, idle", idle["p99"], "ms", higher=False))
    res.add(
        Figure(
            bench,
            "memory hit latency p99, pool saturated",
            percentile(probes, 99) * 1000,
            "ms",
            higher=False,
            note=f"p50 {median(probes) * 1000:.1f} ms, {len(probes)} probes",
        )
    )
    res.note(
        f"loop lag run: {done.count} misses in {done.wall:.1f} s ({done.rate:.1f}/s), "
        f"resize queue depth (running + waiting) median {median(depths):.0f}, "
        f"{done.unexpected(200, 'render')} not 200 render"
    )


async def _saturate(
    base: str, hot: str, misses: list[str], seconds: float
) -> tuple[load.Load, list[float], list[float]]:
    deadline = time.perf_counter() + seconds
    todo = iter(misses)
    done = load.Load()
    probes: list[float] = []
    depths: list[float] = []
    async with load.session(IN_FLIGHT + 2) as client:

        async def lane() -> None:
            for url in todo:
                if time.perf_counter() > deadline:
                    return
                done.outcomes.append(await load.fetch(client, url))

        async def probe() -> None:
            n = 0
            while time.perf_counter() < deadline:
                probes.append((await load.fetch(client, hot)).seconds)
                n += 1
                if n % 25 == 0:
                    metrics = await load.fetch_text(client, f"{base}/metrics")
                    depths.append(_gauge(metrics, "mediaproxy_resize_queue_depth"))
                await asyncio.sleep(PROBE_EVERY)

        started = time.perf_counter()
        await asyncio.gather(probe(), *(lane() for _ in range(IN_FLIGHT)))
        done.wall = time.perf_counter() - started
    return done, probes, depths


def _gauge(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0
