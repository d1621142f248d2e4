"""Target 3, pregen (issue 5's benchmark): size objects per second, nine seed sizes.

`bulk.pregen` runs in this process, on uvloop like the CLI, against a file storage
and against S3 (moto in its own process), and is compared with two baselines on the same
originals, on every core, with no storage at all:
  (a) naive: `thumbnail_buffer` once per size (what a simple script does);
  (b) decode-once: decode each original once and derive every size from it;
and (c) mediaproxy's own `render_many` on the same threads, no storage, which splits
pregen's gap to (b) into rendering and storage/orchestration.
Originals are stored before the clock starts; pregen's time covers its listings, the
downloads, the renders and the puts. On S3 the figure comes with where the time went:
CPU of moto's process, CPU of this process (renders, botocore, the loop), and the mean
latency of each storage call as mediaproxy's own metrics record it.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import uvloop

from bench import baselines, procs, stage
from bench.context import WORKERS, Context
from bench.report import Figure
from bulk import PregenOptions, Report, Run, pregen
from cli.console import open_for
from config import Settings, SizeSpec, load_settings
from resize import Limits, RenderParams, configure_libvips, render_many
from storage import Storage
from telemetry import InstrumentedStorage, Metrics

OPS = ("list", "get", "put")
LIMITS = Limits(max_bytes=50_000_000, max_pixels=50_000_000)


def run(ctx: Context) -> None:
    count = ctx.pick(200, 30)
    originals = ctx.subset(0, count)
    seeds = stage.specs(stage.SEEDS)
    total = count * len(seeds)
    res, bench = ctx.results, "3 pregen"
    configure_libvips()
    baselines.setup()
    baselines.timed(lambda o: baselines.decode_once(o.data, seeds), originals[:2], WORKERS)
    naive = baselines.timed(
        baselines.thumbnail_job, [(o, s) for o in originals for s in seeds], WORKERS
    )
    once_cpu = time.process_time()
    once = baselines.timed(lambda o: baselines.decode_once(o.data, seeds), originals, WORKERS)
    once_cpu = time.process_time() - once_cpu
    home = ctx.scratch("pregen")
    files = _pregen(ctx, stage.stage_files(home / "media", {"t1": originals}), home, total)
    engine = baselines.timed(lambda o: _render(o.data, seeds), originals, WORKERS)
    once2 = baselines.timed(lambda o: baselines.decode_once(o.data, seeds), originals, WORKERS)
    once = (once + once2) / 2
    shutil.rmtree(home / "media")
    note = f"{count} originals x {len(seeds)} sizes, {WORKERS} threads"
    res.add(
        Figure(
            bench,
            "file: vs (a) naive thumbnail loop",
            total / files.wall,
            "sizes/s",
            total / naive,
            5.0,
            note=note,
        )
    )
    res.add(
        Figure(
            bench,
            "file: vs (b) decode-once loop",
            total / files.wall,
            "sizes/s",
            total / once,
            0.8,
            note=f"originals/s {count / files.wall:.2f}",
        )
    )
    res.add(
        Figure(
            bench,
            "(c) render_many alone vs (b)",
            total / engine,
            "sizes/s",
            total / once,
            note="mediaproxy's rendering, same threads, no storage: splits the gap",
        )
    )
    res.note(f"pregen decode-once baseline (b) CPU per original: {once_cpu / count * 1000:.0f} ms")
    moto, endpoint = procs.moto(ctx.tmp)
    with moto:
        url = stage.stage_s3(endpoint, {"t1": originals})
        moto_cpu = moto.cpu_seconds()
        s3 = _pregen(ctx, url, home, total, endpoint=endpoint)
        moto_cpu = moto.cpu_seconds() - moto_cpu
    res.add(
        Figure(
            bench,
            "S3 (moto): vs (b) decode-once loop",
            total / s3.wall,
            "sizes/s",
            total / once,
            note=f"originals/s {count / s3.wall:.2f}",
        )
    )
    ops = ", ".join(f"{op} {n}x {ms:.1f} ms" for op, (n, ms) in s3.ops.items())
    res.note(
        f"pregen on S3, where the time went: wall {s3.wall:.1f} s on {WORKERS} cores = "
        f"{s3.wall * WORKERS:.0f} core-s; moto process {moto_cpu:.1f} CPU-s; pregen process "
        f"{s3.cpu:.1f} CPU-s (decoding and encoding alone: ~{once_cpu:.1f}); storage calls "
        f"(count x mean latency): {ops}"
    )
    res.note(
        f"pregen on files: wall {files.wall:.1f} s, process {files.cpu:.1f} CPU-s "
        f"(decode-once baseline {once_cpu:.1f} CPU-s)"
    )


class Timing:
    def __init__(self, wall: float, cpu: float, ops: dict[str, tuple[int, float]]) -> None:
        self.wall, self.cpu, self.ops = wall, cpu, ops


def _render(data: bytes, specs: tuple[SizeSpec, ...]) -> object:
    return render_many(data, [RenderParams(spec.width, spec.height) for spec in specs], LIMITS)


def _pregen(ctx: Context, url: str, home: Path, total: int, endpoint: str = "") -> Timing:
    config = stage.write_config(home / "pregen.toml", url, endpoint_url=endpoint)
    settings = load_settings(config)
    metrics = Metrics()
    wall, cpu, report = timed_pregen(settings, PregenOptions(sizes=stage.SEEDS), metrics)
    if report.made != total or report.failures:
        ctx.results.note(
            f"pregen {url}: made {report.made} of {total}, failures {report.failures[:3]}"
        )
    return Timing(wall, cpu, _ops(metrics, OPS))


def timed_pregen(
    settings: Settings, options: PregenOptions, metrics: Metrics
) -> tuple[float, float, Report]:
    """Wall and process CPU seconds of one `bulk.pregen` on uvloop, as the CLI runs it;
    storage setup and close are outside the clock, every call is counted in `metrics`."""

    async def go() -> tuple[float, float, Report]:
        storage: Storage = InstrumentedStorage(await open_for(settings, options.workers), metrics)
        try:
            cpu, started = time.process_time(), time.perf_counter()
            report = await pregen(storage, settings, options, Run("pregen"))
            return time.perf_counter() - started, time.process_time() - cpu, report
        finally:
            await storage.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(go())


def _ops(metrics: Metrics, ops: Sequence[str]) -> dict[str, tuple[int, float]]:
    """(count, mean ms) of each storage operation mediaproxy's metrics recorded."""
    found = {}
    for op in ops:
        labels = {"op": op}
        count = metrics.registry.get_sample_value("mediaproxy_storage_seconds_count", labels)
        total = metrics.registry.get_sample_value("mediaproxy_storage_seconds_sum", labels)
        if count:
            found[op] = (int(count), (total or 0.0) / count * 1000)
    return found
