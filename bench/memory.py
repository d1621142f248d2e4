"""Target 5, memory: RSS of the serving process, from /proc/PID/status.

One server, phases in order, the kernel's peak (VmHWM) reset before each:
    burst         16 concurrent cold misses on 18-megapixel JPEGs: peak ≤ 300 MB
    progressive   the same on the same pictures saved as progressive JPEGs (libjpeg then
                  holds every DCT coefficient of the image while decoding): same target
    mixed         2,000 requests: new sizes (renders), repeats (memory or storage), originals
                  (some streamed), unknown sizes, missing images; then idle RSS ≤ 150 MB,
                  and what glibc's malloc_trim(0) gives back (free heap kept by malloc)

As shipped the server runs with MALLOC_ARENA_MAX=2 (the Dockerfile's setting); the full
run repeats it without that, and with MALLOC_MMAP_THRESHOLD_=131072 added (big buffers
from mmap, so they go back to the system when freed).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

from bench import load, procs, stage
from bench.context import Context
from bench.corpus import Original
from bench.report import Figure

BURST = 16
MIX_CONCURRENCY = 8
VARIANTS: dict[str, tuple[bool, dict[str, str]]] = {
    "": (True, {}),
    ", no MALLOC_ARENA_MAX": (False, {}),
    ", + MALLOC_MMAP_THRESHOLD_=131072": (True, {"MALLOC_MMAP_THRESHOLD_": "131072"}),
}


def run(ctx: Context) -> None:
    mixed = ctx.pick(2000, 600)
    originals = ctx.subset(0, ctx.pick(80, 30))
    for label, (arena, env) in list(VARIANTS.items())[: ctx.pick(3, 1)]:
        home = ctx.scratch(f"memory{len(label)}")  # a cold storage for each server
        bigs = [*ctx.bigs[:BURST], *ctx.progressive[:BURST]]
        url = stage.stage_files(home / "media", {"t1": [*originals, *bigs]})
        config = stage.write_config(home / "mediaproxy.toml", url)
        proc, base = procs.mediaproxy(config, ctx.tmp, bench_routes=True, arena=arena, env=env)
        with proc:
            _phases(ctx, proc, base, originals, mixed, f"5 memory{label}")


def _phases(
    ctx: Context,
    proc: procs.Proc,
    base: str,
    originals: Sequence[Original],
    mixed: int,
    bench: str,
) -> None:
    res = ctx.results
    asyncio.run(load.requests([f"{base}/t1/70x70/{originals[0].rel}"], 1))
    time.sleep(0.5)
    start = proc.rss_mb()
    seen: list[str] = []
    for what, bigs in (("", ctx.bigs), (" progressive", ctx.progressive)):
        paths = [f"/t1/{stage.SIZES[i % len(stage.SIZES)]}/{o.rel}" for i, o in enumerate(bigs)]
        seen += paths
        proc.reset_peak()
        done = asyncio.run(load.requests([base + p for p in paths[:BURST]], BURST))
        res.add(
            Figure(
                bench,
                f"peak RSS, {BURST} concurrent cold misses, 18 MP{what} JPEG",
                proc.hwm_mb(),
                "MB",
                target=300,
                higher=False,
                note=f"{done.wall:.1f} s; {_status(done)}; RSS before {start:.0f} MB",
            )
        )
    proc.reset_peak()
    mix = asyncio.run(load.requests(_mix(base, originals, seen, mixed), MIX_CONCURRENCY))
    drained = _drain(base)  # siblings go on rendering and storing after the last answer
    time.sleep(2)  # the pool trims the heap when it goes idle
    idle, peak = proc.rss_mb(), proc.hwm_mb()
    state = procs.get_json(f"{base}/_bench/state")
    trimmed = procs.get_json(f"{base}/_bench/trim")["after_mb"]
    res.add(
        Figure(
            bench,
            f"idle RSS after {mixed} mixed requests",
            idle,
            "MB",
            target=150,
            higher=False,
            note=f"peak during them {peak:.0f} MB; memory cache holds "
            f"{state['cache_bytes'] / 2**20:.0f} MB; after malloc_trim(0) {trimmed:.0f} MB; "
            f"background work done {drained:.1f} s after the last answer; {_status(mix)}",
        )
    )


def _drain(base: str, timeout: float = 120.0) -> float:
    """Seconds until no sibling set or background store is left (polled every 0.1 s)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        state = procs.get_json(f"{base}/_bench/state")
        if not state["background_tasks"] and not state["sibling_sets"]:
            break
        time.sleep(0.1)
    return time.monotonic() - started


def _mix(base: str, originals: Sequence[Original], seen: list[str], count: int) -> list[str]:
    """A reproducible mix: 55% repeats (memory or storage), 20% new sizes (renders), 10%
    originals, 10% unknown sizes, 5% missing originals."""
    rng = random.Random(6)
    seen = list(seen)
    fresh = [f"/t1/{size}/{o.rel}" for o in originals for size in stage.SIZES]
    rng.shuffle(fresh)
    paths = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.55 and seen:
            paths.append(rng.choice(seen))
        elif roll < 0.75 and fresh:
            paths.append(fresh.pop())
            seen.append(paths[-1])
        elif roll < 0.85:
            paths.append(f"/t1/full/{rng.choice(originals).rel}")
        elif roll < 0.95:
            paths.append(f"/t1/123x45/{rng.choice(originals).rel}")
        else:
            paths.append(f"/t1/300x/n/o/nothing{rng.randrange(1000)}.jpg")
    return [base + path for path in paths]


def _status(done: load.Load) -> str:
    return ", ".join(f"{n}x {what}" for what, n in done.statuses().most_common())
