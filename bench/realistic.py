"""Issue 12, targets 1 and 3: a shop's traffic replayed, siblings on against today's way.

A fixed, seeded Zipf (s = 1) sequence over the pairs (original, size) of 200 originals x
the site's sizes (ranks dealt to the pairs by a seeded shuffle, so the sizes of one
original are as far apart in popularity as chance puts them: a listing page now, the
product page later), 4,000 requests, 8 in flight, through HTTP to the real app in its
own process. Storage holds only the originals and the memory cache is empty at the
start of every run (fresh process; every size deleted before it).

    baseline    render_siblings = false: today's behaviour, each size on its first request
    candidate   render_siblings = true (the default)

Both run on the same sequence in the same rounds (order alternating), for three tables
(the issue's 4 sizes with 1200x; the 9 seeds; 21 Magento-2-like sizes, framed, q80) and
both backends (files, S3 on moto in its own process). Reported: requests/s (target 3x),
p95 and p99 (target <= 0.8x), what a memory hit waited meanwhile (the pool saturated),
server CPU (and moto's), decode passes, and what ends up stored. A last part asks each
of a set of originals at one size only: the CPU and storage bytes siblings cost there.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import load, procs, stage
from bench.context import Context
from bench.corpus import Original
from bench.report import Figure, median, percentile
from storage import FileStorage, Storage

CONCURRENCY = 8
RESIZE: dict[str, int] = {}  # [resize] keys for every server, e.g. {"sibling_memory": ...}
SEED = 12
METRICS = ("mediaproxy_renders_total", "mediaproxy_rendered_sizes_total")
M2_LIKE = (
    "140x140, 240x300, 165x165, 100x100, 285x285, 113x113, 75x75, 150x150, 270x340, 78x78, "
    "265x265, 1200x1200, 700x700, 88x110, 700x560, 76x76, 135x135, 75x90, 152x190, 30x20, 110x90"
)


@dataclass(frozen=True)
class Table:
    name: str
    sizes: tuple[str, ...]
    frame: bool = False
    quality: int = 85


TABLES = (
    Table("4 sizes", ("300x300", "215x170", "70x70", "1200x")),
    Table("9 seeds", stage.SEEDS),
    Table("21 M2-like", tuple(s.strip() for s in M2_LIKE.split(",")), frame=True, quality=80),
)


@dataclass
class Run:
    load: load.Load
    cpu: float  # server CPU-s until it went quiet (background work included)
    moto_cpu: float
    renders: float
    sizes: float
    stored: int
    stored_bytes: int
    peak_mb: float  # the server's VmHWM


def sequence(originals: int, sizes: int, count: int, s: float = 1.0) -> list[tuple[int, int]]:
    """`count` (original, size) pairs drawn with P(rank k) ~ 1 / k**s, fixed by SEED."""
    rng = random.Random(SEED)
    pairs = [(o, z) for o in range(originals) for z in range(sizes)]
    rng.shuffle(pairs)
    weights = list(itertools.accumulate(1 / k**s for k in range(1, len(pairs) + 1)))
    return [pairs[bisect.bisect(weights, rng.random() * weights[-1])] for _ in range(count)]


def run(ctx: Context) -> None:
    originals = ctx.subset(0, ctx.pick(200, 40))
    count, rounds = ctx.pick(4000, 1000), ctx.pick(2, 1)
    home = ctx.scratch("realistic")
    file_url = stage.stage_files(home / "media", {"t1": originals})
    backends: list[tuple[str, str, str, procs.Proc | None]] = [("files", file_url, "", None)]
    moto, endpoint = procs.moto(ctx.tmp)
    with moto:
        s3_url = stage.stage_s3(endpoint, {"t1": originals})
        backends.append(("S3 (moto)", s3_url, endpoint, moto))
        for table in TABLES:
            seq = sequence(len(originals), len(table.sizes), count)
            for backend, url, endpoint_url, moto_proc in backends:
                runs: dict[bool, list[Run]] = {False: [], True: []}
                for r in range(rounds):
                    for siblings in (False, True) if r % 2 == 0 else (True, False):
                        config = _config(home, table, url, endpoint_url, siblings)
                        runs[siblings].append(
                            _run(ctx, config, url, endpoint_url, moto_proc, originals, table, seq)
                        )
                _report(ctx, table, backend, runs, len(originals), count)
        _one_size(ctx, home, originals[: ctx.pick(40, 12)], file_url)


def _config(home: Path, table: Table, url: str, endpoint: str, siblings: bool) -> Path:
    name = f"{table.name.split()[0]}-{'s3' if endpoint else 'files'}-{siblings}.toml"
    lines = [
        "[storage]",
        f'url = "{url}"',
        f'endpoint_url = "{endpoint}"',
        "[resize]",
        *(f"{name} = {value}" for name, value in RESIZE.items()),
        "[sites.t1]",
        f'sizes = "{", ".join(table.sizes)}"',
        f"frame = {str(table.frame).lower()}",
        f"quality = {table.quality}",
        f"render_siblings = {str(siblings).lower()}",
    ]
    path = home / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(
    ctx: Context,
    config: Path,
    url: str,
    endpoint: str,
    moto: procs.Proc | None,
    originals: Sequence[Original],
    table: Table,
    seq: Sequence[tuple[int, int]],
) -> Run:
    asyncio.run(_clear(url, endpoint))
    proc, base = procs.mediaproxy(config, ctx.tmp)
    with proc:
        urls = [f"{base}/t1/{table.sizes[z]}/{originals[o].rel}" for o, z in seq]
        cpu, moto_cpu = proc.cpu_seconds(), moto.cpu_seconds() if moto else 0.0
        done = asyncio.run(load.requests(urls, CONCURRENCY))
        _quiet(proc)
        cpu, moto_cpu = proc.cpu_seconds() - cpu, (moto.cpu_seconds() - moto_cpu if moto else 0.0)
        counts = procs.scrape(base, METRICS)
        peak = proc.hwm_mb()
    stored, stored_bytes = asyncio.run(_stored(url, endpoint))
    return Run(
        done,
        cpu,
        moto_cpu,
        counts["mediaproxy_renders_total"],
        counts["mediaproxy_rendered_sizes_total"],
        stored,
        stored_bytes,
        peak,
    )


def _quiet(proc: procs.Proc, step: float = 0.5, timeout: float = 60.0) -> None:
    """Wait until the server stops using CPU: background siblings and stores done."""
    deadline = time.monotonic() + timeout
    last = proc.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(step)
        now = proc.cpu_seconds()
        if now - last < 0.02:
            return
        last = now


async def _open(url: str, endpoint: str) -> Storage:
    if endpoint:
        return await stage.open_s3(endpoint)
    return FileStorage(Path(url.removeprefix("file:")))


async def _sizes(storage: Storage) -> list[tuple[str, int]]:
    return [(o.key, o.size) async for o in storage.list("t1/") if not o.key.startswith("t1/full/")]


async def _clear(url: str, endpoint: str) -> None:
    """Every size deleted: storage holds the originals only."""
    storage = await _open(url, endpoint)
    try:
        keys = [key for key, _ in await _sizes(storage)]
        for start in range(0, len(keys), 500):
            await storage.delete(keys[start : start + 500])
    finally:
        await storage.close()


async def _stored(url: str, endpoint: str) -> tuple[int, int]:
    storage = await _open(url, endpoint)
    try:
        found = await _sizes(storage)
    finally:
        await storage.close()
    return len(found), sum(size for _, size in found)


def _report(
    ctx: Context, table: Table, backend: str, runs: dict[bool, list[Run]], n: int, count: int
) -> None:
    res, bench = ctx.results, f"12 realistic, {table.name}, {backend}"
    base, cand = runs[False], runs[True]
    rates = [r.load.rate for r in cand], [r.load.rate for r in base]
    ratios = tuple(c.load.rate / b.load.rate for c, b in zip(cand, base, strict=True))
    note = f"{count} requests, Zipf s=1 over {n} x {len(table.sizes)}, c={CONCURRENCY}"
    res.add(Figure(bench, "throughput", median(rates[0]), "req/s", median(rates[1]), 3.0,
                   note=note, rounds=ratios))  # fmt: skip
    for pct in (95, 99):
        pairs = zip(cand, base, strict=True)
        tails = tuple(c.load.latency_ms(pct) / b.load.latency_ms(pct) for c, b in pairs)
        res.add(
            Figure(
                bench,
                f"latency p{pct}",
                median([r.load.latency_ms(pct) for r in cand]),
                "ms",
                median([r.load.latency_ms(pct) for r in base]),
                0.8,
                higher=False,
                rounds=tails,
            )
        )
    hits = [_hit_p99(r) for r in cand], [_hit_p99(r) for r in base]
    note = "answered from memory while renders fill the pool"
    res.add(Figure(bench, "memory hit p99 meanwhile", median(hits[0]), "ms", median(hits[1]),
                   higher=False, note=note))  # fmt: skip
    for label, side in (("siblings", cand), ("baseline", base)):
        res.note(f"{bench}, {label}: " + "; ".join(_describe(r, count) for r in side))


def _hit_p99(run: Run) -> float:
    return _p99(run, "memory")


def _p99(run: Run, source: str) -> float:
    return percentile([o.seconds * 1000 for o in run.load.outcomes if o.source == source], 99)


def _describe(run: Run, count: int) -> str:
    sources = run.load.statuses()
    bad = run.load.unexpected(200)
    text = (
        f"{run.load.rate:.0f} req/s, server {run.cpu / count * 1000:.1f} CPU-ms/request"
        + (f" (moto {run.moto_cpu / count * 1000:.1f})" if run.moto_cpu else "")
        + f", {run.renders:.0f} decode passes for {run.sizes:.0f} sizes"
        + f", {run.stored} stored ({run.stored_bytes / 1e6:.1f} MB), peak RSS {run.peak_mb:.0f} MB"
        + f", answers {dict(sources.most_common())}"
        + f", p99 of rendered answers {_p99(run, 'render'):.0f} ms"
    )
    return text + (f", {bad} not 200" if bad else "")


def _one_size(ctx: Context, home: Path, originals: Sequence[Original], url: str) -> None:
    """Originals only ever asked at one size: what siblings cost there (files)."""
    res = ctx.results
    for table in TABLES[1:]:
        seq = [(o, o % len(table.sizes)) for o in range(len(originals))]
        runs = {}
        for siblings in (False, True):
            config = _config(home, table, url, "", siblings)
            runs[siblings] = _run(ctx, config, url, "", None, originals, table, seq)
        n = len(originals)
        off, on = runs[False], runs[True]
        res.add(
            Figure(
                f"12 one size only, {table.name}",
                "server CPU per original",
                on.cpu / n * 1000,
                "ms",
                off.cpu / n * 1000,
                note=f"{n} originals, each asked once at one size, c={CONCURRENCY}; "
                f"{on.sizes / n:.1f} sizes rendered per original",
                higher=False,
            )
        )
        res.add(
            Figure(
                f"12 one size only, {table.name}",
                "bytes stored per original",
                on.stored_bytes / n / 1000,
                "KB",
                off.stored_bytes / n / 1000,
                note=f"{on.stored / n:.1f} objects per original",
                higher=False,
            )
        )
