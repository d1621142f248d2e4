"""Bucket events (issue 13): how soon a burst of uploads has every size, and what a worker
fleet costs against pregen.

Everything talks to moto in its own process (S3 and SQS; moto itself delivers the bucket's
event notifications to the queue, as S3 does). Workers are real `mediaproxy worker`
processes (the CLI, uvloop, MALLOC_ARENA_MAX=2), `--jobs` splitting the cores between them.

  latency     N workers (1, then 2) idle on the queue; the originals are uploaded at once
              (8 PUTs in flight); per original, from the start of its PUT to the worker's
              log line saying all of its sizes are stored: p50 and p95.
  throughput  the same originals, already stored, made once by `pregen` (in-process, as
              bench/bulk.py runs it) and once by `pregen --enqueue` (in-process) + one
              worker with every core, from the start of planning to the last original's
              sizes stored: sizes/s, target >= 0.8x pregen's.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import uvloop

from bench import procs, stage
from bench.context import WORKERS, Context
from bench.corpus import Original
from bench.report import Figure, percentile
from bench.workerprocs import log_marks, wait_rendered, worker_fleet
from bulk import PregenOptions, Run, pregen
from bulk.events import Location, connect, enqueue
from bulk.pregen import plan
from cli.console import open_for
from config import Settings, load_settings
from layouts import Router

BENCH = "13 worker"
REGION = "us-east-1"


def run(ctx: Context) -> None:
    count = ctx.pick(100, 100)
    originals = ctx.subset(0, count)
    total = count * len(stage.SEEDS)
    rounds = ctx.pick(3, 2)
    home = ctx.scratch("worker")
    moto, endpoint = procs.moto(ctx.tmp)
    with moto:
        config = _config(home / "worker.toml", endpoint)
        settings = load_settings(config)
        stage.create_bucket(endpoint)
        queue = _queue(endpoint)
        _stage(endpoint, "p", originals)
        pregens: list[Cost] = []
        workers: list[Cost] = []
        with worker_fleet(ctx, config, endpoint, queue, 1) as fleet:
            for _ in range(rounds):  # alternating, so a neighbour's burst hits both alike
                pregens.append(_measured(moto, None, lambda: _pregen(settings)))
                workers.append(
                    _measured(moto, fleet, lambda: _enqueued(settings, queue, fleet, count))
                )
        ctx.results.add(
            Figure(BENCH, "pregen --enqueue + 1 worker vs pregen, S3 (moto)",
                   total / min(w.wall for w in workers), "sizes/s",
                   total / min(p.wall for p in pregens), 0.8,
                   note=f"{count} originals x {len(stage.SEEDS)} sizes, {WORKERS} threads",
                   rounds=tuple(p.wall / w.wall for p, w in zip(pregens, workers, strict=True)))
        )  # fmt: skip
        ctx.results.note(
            f"worker vs pregen, CPU-s per round (median): pregen process "
            f"{_median(p.cpu for p in pregens):.1f} + moto {_median(p.moto for p in pregens):.1f}; "
            f"worker process {_median(w.cpu for w in workers):.1f} + moto "
            f"{_median(w.moto for w in workers):.1f} (SQS calls and one more HEAD per original)"
        )
        for n in (1, 2):
            _burst(ctx, config, endpoint, queue, originals, n)
        ctx.results.note(f"worker bench: moto used {moto.cpu_seconds():.1f} CPU-s in all")


@dataclass(frozen=True)
class Cost:
    wall: float
    cpu: float  # the measured process: this one (pregen) or the workers
    moto: float


def _measured(moto: procs.Proc, fleet: list[procs.Proc] | None, work: Callable[[], float]) -> Cost:
    """`work`'s wall seconds (it measures them itself), and the CPU seconds it cost."""

    def cpu() -> float:
        return sum(p.cpu_seconds() for p in fleet) if fleet else time.process_time()

    before, moto_before = cpu(), moto.cpu_seconds()
    wall = work()
    return Cost(wall, cpu() - before, moto.cpu_seconds() - moto_before)


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _config(path: Path, endpoint: str) -> Path:
    sizes = ", ".join(stage.SEEDS)
    lines = ["[storage]", f'url = "s3://{stage.BUCKET}"', f'endpoint_url = "{endpoint}"']
    for site in ("p", "b1", "b2"):
        lines += [f"[sites.{site}]", f'sizes = "{sizes}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def _queue(endpoint: str) -> str:
    """A queue with a dead-letter queue, notified of originals of the burst sites only
    (sizes written by the workers are filtered out by prefix, as in production)."""
    session = botocore.session.get_session()
    sqs: Any = session.create_client("sqs", region_name=REGION, endpoint_url=endpoint)
    s3: Any = session.create_client("s3", region_name=REGION, endpoint_url=endpoint)
    try:
        dlq = sqs.create_queue(QueueName="bench-events-dlq")["QueueUrl"]
        dlq_arn = _arn(sqs, dlq)
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
        url: str = sqs.create_queue(QueueName="bench-events", Attributes={"RedrivePolicy": policy})[
            "QueueUrl"
        ]
        events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
        configs = [
            {"QueueArn": _arn(sqs, url), "Events": events,
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": f"{site}/full/"}]}}}
            for site in ("b1", "b2")
        ]  # fmt: skip
        s3.put_bucket_notification_configuration(
            Bucket=stage.BUCKET, NotificationConfiguration={"QueueConfigurations": configs}
        )
        sqs.purge_queue(QueueUrl=url)  # the s3:TestEvent
    finally:
        sqs.close()
        s3.close()
    return url


def _arn(sqs: Any, url: str) -> str:
    answer = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(answer["Attributes"]["QueueArn"])


def _stage(endpoint: str, site: str, originals: Sequence[Original]) -> dict[str, float]:
    """Upload `originals` under `site`, 8 at a time; the time (epoch) each PUT started."""
    started: dict[str, float] = {}

    async def go() -> None:
        storage = await stage.open_s3(endpoint)
        gate = asyncio.Semaphore(8)

        async def put(original: Original) -> None:
            key = f"{site}/full/{original.rel}"
            async with gate:
                started[key] = time.time()
                await storage.put(key, original.data, content_type="image/jpeg")

        try:
            await asyncio.gather(*(put(o) for o in originals))
        finally:
            await storage.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(go())
    return started


def _pregen(settings: Settings) -> float:
    options = PregenOptions(sites=("p",), sizes=stage.SEEDS, overwrite=True)

    async def go() -> float:
        storage = await open_for(settings, options.workers)
        try:
            started = time.perf_counter()
            await pregen(storage, settings, options, Run("pregen"))
            return time.perf_counter() - started
        finally:
            await storage.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(go())


def _enqueued(settings: Settings, queue: str, fleet: list[procs.Proc], count: int) -> float:
    """Seconds from planning `pregen --enqueue --overwrite --site p` to the last original's
    sizes stored by the (idle, ready) `fleet`."""
    options = PregenOptions(sites=("p",), sizes=stage.SEEDS, overwrite=True)
    marks = log_marks(fleet)
    started = time.time()

    async def go() -> None:
        clients = await connect(settings, queue, max_connections=16)
        try:
            run = Run("pregen")
            jobs = await plan(clients.storage, Router.from_settings(settings), options, run)
            await enqueue(clients.queue, jobs, Location.of(settings.storage.url), run)
        finally:
            await clients.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(go())
    done = wait_rendered(marks, "p/full/", count)
    return max(done.values()) - started


def _burst(
    ctx: Context, config: Path, endpoint: str, queue: str, originals: Sequence[Original], n: int
) -> None:
    site = f"b{n}"
    with worker_fleet(ctx, config, endpoint, queue, n) as fleet:
        marks = log_marks(fleet)
        started = _stage(endpoint, site, originals)
        done = wait_rendered(marks, f"{site}/full/", len(originals))
    latency = [done[key] - started[key] for key in started]
    wall = max(done.values()) - min(started.values())
    sizes = len(originals) * len(stage.SEEDS)
    jobs = max(1, WORKERS // n)
    note = (
        f"p95 {percentile(latency, 95):.1f} s, max {max(latency):.1f} s, {sizes / wall:.1f} sizes/s"
    )
    ctx.results.add(
        Figure(BENCH, f"burst of {len(originals)}, {n} worker(s) x {jobs} jobs: "
               "event-to-all-sizes-stored p50", percentile(latency, 50), "s", note=note)
    )  # fmt: skip
