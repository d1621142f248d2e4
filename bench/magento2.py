"""Issue 10's benchmark: pregen on a Magento 2 site with Luma's table (21 parameter sets).

`bulk.pregen` runs in this process on uvloop, as the CLI runs it, on a `layout =
"magento2"` site whose hash table comes from view.xml files and a crypt key (m2site.py),
on a file storage, and once on S3 (moto in its own process). It is compared with
baselines on the same originals, on every core, with no storage (m2baselines.py), each
making the same output sizes, frames and encodings:
  (a) naive: per set, load the full original, resize, frame, save (Magento's resize
      service); (a') the same loop with `thumbnail_buffer`'s shrink-on-load;
  (b) decode-once: one decode per original, at the JPEG shrink every set allows;
and (c) mediaproxy's own `render_many` on the same threads, no storage, which splits
pregen's gap into rendering and storage/orchestration.

The file runs go in rounds: round k is pregen's `--shard k/N` and every baseline on
exactly the originals of that shard, back to back, alternating which side goes first; a
ratio is the median of the rounds'. Originals are stored before the clock starts;
pregen's time covers its listings, downloads, renders and puts. A phase split of the CPU
per original (m2phases.py) says where the time goes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from bench import baselines, m2baselines, m2phases, m2site, procs
from bench.bulk import OPS, Timing, _ops, timed_pregen
from bench.context import WORKERS, Context
from bench.corpus import Original
from bench.report import Figure
from bulk import PregenOptions, Shard
from bulk.shard import ALL
from config import Settings
from resize import Limits, RenderParams, configure_libvips, render_many
from telemetry import Metrics

BENCH = "10 magento2"
LIMITS = Limits(max_bytes=50_000_000, max_pixels=50_000_000)
T = TypeVar("T")


class Clock:
    """Wall and process CPU seconds of each side, one entry per round."""

    def __init__(self) -> None:
        self.walls: dict[str, list[float]] = {}
        self.cpus: dict[str, list[float]] = {}

    def record(self, name: str, wall: float, cpu: float) -> None:
        self.walls.setdefault(name, []).append(wall)
        self.cpus.setdefault(name, []).append(cpu)

    def time(self, name: str, work: Callable[[T], object], items: Sequence[T]) -> None:
        cpu = time.process_time()
        wall = baselines.timed(work, items, WORKERS)
        self.record(name, wall, time.process_time() - cpu)

    def ratios(self, slow: str, fast: str) -> tuple[float, ...]:
        """Per round, how many times faster `fast` did the same work than `slow`."""
        return tuple(s / f for s, f in zip(self.walls[slow], self.walls[fast], strict=True))


def run(ctx: Context) -> None:
    count, rounds = ctx.pick(200, 30), ctx.pick(4, 2)
    originals = ctx.subset(0, count)
    home = ctx.scratch("magento2")
    configure_libvips()
    baselines.setup()
    url = m2site.stage_files(home / "media", originals)
    settings = m2site.load(m2site.write_config(home / "files.toml", url))
    params = m2site.table_params(settings)
    ctx.results.note(_same_sizes(originals[:2], params))  # also warms every path up
    clock, metrics = Clock(), Metrics()
    for index in range(rounds):
        shard = Shard(index, rounds)
        mine = [o for o in originals if shard.owns(f"{m2site.KEY_PREFIX}/{o.rel}")]
        sides = [_pregen_side(ctx, clock, settings, shard, metrics), *_sides(clock, mine, params)]
        for side in sides if index % 2 else reversed(sides):
            side()
    shutil.rmtree(home / "media")
    files = Timing(sum(clock.walls["pregen"]), sum(clock.cpus["pregen"]), _ops(metrics, OPS))
    _report(ctx, clock, files, count, len(params))
    sample = originals[:: max(1, count // ctx.pick(8, 3))]  # spread over the corpus
    ctx.results.note(m2phases.measure(sample, params, LIMITS))
    _s3(ctx, home, originals, len(params), sum(clock.walls["b"]))
    ctx.results.note(
        "magento2 process CPU per original (a ratio other processes' load moves less): "
        + ", ".join(f"{n} {sum(c) / count * 1000:.0f} ms" for n, c in clock.cpus.items())
    )


def _sides(
    clock: Clock, mine: list[Original], params: list[RenderParams]
) -> list[Callable[[], None]]:
    """The baselines of one round, each timed on the round's originals."""

    def once_each(original: Original) -> object:
        return m2baselines.decode_once(original.data, params)

    def engine_each(original: Original) -> object:
        return render_many(original.data, params, LIMITS)

    jobs = [(o, p) for o in mine for p in params]
    return [
        lambda: clock.time("a", m2baselines.naive, jobs),
        lambda: clock.time("a'", m2baselines.thumbnail, jobs),
        lambda: clock.time("b", once_each, mine),
        lambda: clock.time("c", engine_each, mine),
    ]


def _pregen_side(
    ctx: Context, clock: Clock, settings: Settings, shard: Shard, metrics: Metrics
) -> Callable[[], None]:
    return lambda: clock.record("pregen", *_pregen(ctx, settings, shard, metrics))


def _report(ctx: Context, clock: Clock, files: Timing, count: int, sets: int) -> None:
    total = count * sets
    rate = total / files.wall
    note = (
        f"{count} originals x {sets} sets, {WORKERS} threads, {count / files.wall:.2f} originals/s"
    )
    rows = [
        ("file: vs (a) naive, full decode per set", "a", "pregen", 8.0, note),
        ("file: vs (a') thumbnail_buffer per set", "a'", "pregen", None, note),
        ("file: vs (b) decode-once loop", "b", "pregen", 0.85, note),
        ("(c) render_many alone vs (b)", "b", "c", None, "no storage: splits the gap"),
    ]
    for name, slow, fast, target, text in rows:
        value = rate if fast == "pregen" else total / sum(clock.walls[fast])
        baseline = total / sum(clock.walls[slow])
        rounds = clock.ratios(slow, fast)
        ctx.results.add(
            Figure(BENCH, name, value, "sizes/s", baseline, target, note=text, rounds=rounds)
        )
    ctx.results.note(
        f"magento2 pregen on files: wall {files.wall:.1f} s on {WORKERS} cores; storage calls "
        f"(count x mean latency): {_calls(files)}"
    )


def _s3(ctx: Context, home: Path, originals: list[Original], sets: int, once: float) -> None:
    """The whole set once on S3 (moto in its own process), against (b)'s rate in the rounds."""
    total = len(originals) * sets
    moto, endpoint = procs.moto(ctx.tmp)
    with moto:
        url = m2site.stage_s3(endpoint, originals)
        settings = m2site.load(m2site.write_config(home / "s3.toml", url, endpoint_url=endpoint))
        moto_cpu = moto.cpu_seconds()
        metrics = Metrics()
        wall, cpu = _pregen(ctx, settings, ALL, metrics)
        moto_cpu = moto.cpu_seconds() - moto_cpu
    s3 = Timing(wall, cpu, _ops(metrics, OPS))
    ctx.results.add(
        Figure(
            BENCH,
            "S3 (moto): vs (b) decode-once loop",
            total / s3.wall,
            "sizes/s",
            total / once,
            note=f"{len(originals) / s3.wall:.2f} originals/s",
        )
    )
    ctx.results.note(
        f"magento2 pregen on S3: wall {s3.wall:.1f} s on {WORKERS} cores, process {s3.cpu:.1f} "
        f"CPU-s; moto process {moto_cpu:.1f} CPU-s; storage calls: {_calls(s3)}"
    )


def _same_sizes(sample: list[Original], params: list[RenderParams]) -> str:
    """Whether every baseline makes exactly mediaproxy's output sizes (a note either way)."""
    wrong = []
    for original in sample:
        ours = [(r.width, r.height) for r in render_many(original.data, params, LIMITS)]
        made = {
            "naive": [m2baselines.naive((original, p)) for p in params],
            "thumbnail": [m2baselines.thumbnail((original, p)) for p in params],
            "decode-once": m2baselines.decode_once(original.data, params),
        }
        for name, outputs in made.items():
            got = m2baselines.sizes(outputs)
            wrong += [f"{name} {g} for {w}" for g, w in zip(got, ours, strict=True) if g != w]
    checked = f"{len(sample)} originals x {len(params)} sets"
    if wrong:
        return f"baseline sizes differ from mediaproxy's ({checked}): {', '.join(wrong[:5])}"
    return f"every baseline output has mediaproxy's size ({checked})"


def _calls(timing: Timing) -> str:
    return ", ".join(f"{op} {n}x {ms:.1f} ms" for op, (n, ms) in timing.ops.items())


def _pregen(
    ctx: Context, settings: Settings, shard: Shard, metrics: Metrics
) -> tuple[float, float]:
    """Wall and process CPU seconds of one pregen of the site's whole table on `shard`."""
    options = PregenOptions(shard=shard)  # every size of the table, one job per core
    wall, cpu, report = timed_pregen(settings, options, metrics)
    if report.failures or report.made != report.planned_sizes or not report.made:
        ctx.results.note(
            f"magento2 pregen {settings.storage.url} shard {shard}: made {report.made} of "
            f"{report.planned_sizes}, failures {report.failures[:3]}"
        )
    return wall, cpu
