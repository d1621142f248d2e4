"""Target 1, cold miss: distinct originals, one size each, 4 at a time through HTTP.

mediaproxy (real app, uvloop, file backend, its own process) against plain pyvips
`thumbnail_buffer` + save on a pool of one thread per core in this process, on the same
(original, size) pairs. Rounds alternate which goes first; each round uses another size
of each original, so every request is a miss (storage and memory) for its key.
"""

from __future__ import annotations

import asyncio
import time

from bench import baselines, load, procs, stage
from bench.context import WORKERS, Context
from bench.corpus import Original
from bench.report import Figure
from config import SizeSpec

CONCURRENCY = 4


def run(ctx: Context) -> None:
    count, rounds = ctx.pick(36, 12), ctx.pick(4, 3)
    originals = ctx.subset(0, count + 2)
    measured, warm = originals[:count], originals[count:]
    sizes = stage.specs(stage.SIZES)
    home = ctx.scratch("cold")
    url = stage.stage_files(home / "media", {"t1": originals})
    # Siblings off: a miss is one render, as the baseline's one thumbnail, and later rounds'
    # sizes stay cold (bench 12 measures what siblings do to a shop's traffic).
    config = stage.write_config(home / "mediaproxy.toml", url, siblings=False)
    baselines.setup()
    proc, base = procs.mediaproxy(config, ctx.tmp)
    with proc:
        asyncio.run(load.requests([_url(base, o, sizes[0]) for o in warm], 2))
        baselines.timed(lambda o: baselines.thumbnail(o.data, sizes[0]), warm, WORKERS)
        server_wall = baseline_wall = server_cpu = baseline_cpu = 0.0
        loads, ratios = [], []
        for r in range(rounds):
            # Another size of each original every round (offsets 0, 3, 6, 9): cold keys.
            jobs = [(o, sizes[(i + 3 * r) % len(sizes)]) for i, o in enumerate(measured)]
            walls = {}
            for which in ("baseline", "server") if r % 2 == 0 else ("server", "baseline"):
                if which == "baseline":
                    cpu = time.process_time()
                    walls[which] = baselines.timed(baselines.thumbnail_job, jobs, WORKERS)
                    baseline_cpu += time.process_time() - cpu
                else:
                    cpu = proc.cpu_seconds()
                    urls = [_url(base, o, spec) for o, spec in jobs]
                    loads.append(asyncio.run(load.requests(urls, CONCURRENCY)))
                    walls[which] = loads[-1].wall
                    server_cpu += proc.cpu_seconds() - cpu
            server_wall += walls["server"]
            baseline_wall += walls["baseline"]
            ratios.append(walls["baseline"] / walls["server"])
    total = count * rounds
    res, bench = ctx.results, "1 cold miss"
    res.add(
        Figure(
            bench,
            "throughput",
            total / server_wall,
            "img/s",
            total / baseline_wall,
            0.95,
            note=f"{total} misses, c={CONCURRENCY}, vs thumbnail_buffer on {WORKERS} threads",
            rounds=tuple(ratios),
        )
    )
    outcomes = [o for lo in loads for o in lo.outcomes]
    latencies = sorted(o.seconds * 1000 for o in outcomes)
    res.add(Figure(bench, "latency p50", latencies[len(latencies) // 2], "ms", higher=False))
    res.add(Figure(bench, "latency p95", latencies[int(len(latencies) * 0.95)], "ms", higher=False))
    res.note(
        f"cold miss CPU per image: server process {server_cpu / total * 1000:.0f} ms, "
        f"baseline {baseline_cpu / total * 1000:.0f} ms"
    )
    bad = sum(lo.unexpected(200, "render") for lo in loads)
    if bad:
        res.note(f"cold miss: {bad} responses were not 200 render: {loads[0].statuses()}")


def _url(base: str, original: Original, spec: SizeSpec) -> str:
    return f"{base}/t1/{spec.text}/{original.rel}"
