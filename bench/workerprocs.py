"""`mediaproxy worker` processes for the worker benchmark, and when their logs say an
original's sizes were all stored (the `rendered` line is written right after the last put,
with a millisecond timestamp)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from bench import procs
from bench.context import WORKERS, Context

_RENDERED = re.compile(r"^(\S+ \S+) INFO mediaproxy\.worker worker: rendered (\S+) \(")


@contextlib.contextmanager
def worker_fleet(
    ctx: Context, config: Path, endpoint: str, queue: str, n: int
) -> Iterator[list[procs.Proc]]:
    """`n` worker processes on `queue`, ready (their /metrics answers) on entry; stopped with
    SIGTERM on exit, each checked to exit 0 (work in hand finished and acknowledged)."""
    jobs = max(1, WORKERS // n)
    env = {"AWS_ENDPOINT_URL_SQS": endpoint, "MALLOC_ARENA_MAX": "2"}
    started: list[procs.Proc] = []
    try:
        for _ in range(n):
            port = procs.free_port()
            args = ["--config", str(config), "worker", "--queue", queue]
            args += ["--jobs", str(jobs), "--metrics-port", str(port)]
            log = ctx.tmp / f"worker-{port}.log"
            started.append(procs.Proc("worker", procs.python("cli.main", *args), log, env))
            started[-1].wait_http(f"http://127.0.0.1:{port}/metrics")
        yield started
    finally:
        for proc in started:
            proc.stop(grace=60)
            if proc.popen.returncode != 0:
                ctx.results.note(f"worker exited {proc.popen.returncode}: see {proc.log_path}")


def log_marks(fleet: list[procs.Proc]) -> dict[Path, int]:
    """Where each worker's log ends now: what comes after is the next measurement's."""
    return {proc.log_path: proc.log_path.stat().st_size for proc in fleet}


def wait_rendered(marks: dict[Path, int], prefix: str, count: int) -> dict[str, float]:
    """Key → epoch time of its first `rendered` log line after `marks`, once `count` keys
    under `prefix` have one."""
    deadline = time.monotonic() + 900
    while True:
        found: dict[str, float] = {}
        for log, offset in marks.items():
            with log.open("rb") as file:
                file.seek(offset)
                text = file.read().decode(errors="replace")
            for line in text.splitlines():
                match = _RENDERED.match(line)
                if match and match[2].startswith(prefix):
                    stamp = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                    found[match[2]] = min(found.get(match[2], stamp), stamp)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(found)} of {count} originals rendered in 900 s")
        time.sleep(0.2)
