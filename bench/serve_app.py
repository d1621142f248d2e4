"""`mediaproxy serve` exactly as shipped, plus what only a benchmark needs.

    python -m bench.serve_app --config F --port P [--bench-routes] [--no-access-log]

It runs the real CLI path (`cli.main.main(["serve", ...])`: same logging, same access
log format, same `web.run_app` on uvloop). `--no-access-log` is the config override
`MEDIAPROXY_SERVER_ACCESS_LOG=false`. `--bench-routes` wraps the app factory that
command uses to add an event-loop lag sampler (started on app startup) and bench-only
routes: `GET /_bench/lag[?reset=1]` (lag percentiles, ms), `/_bench/state` (memory-cache
bytes, background stores, RSS) and `/_bench/trim` (glibc malloc_trim, RSS before/after).
Plain routes take precedence over the app's catch-all in aiohttp's router, so no product
route changes. No proxy code is edited: only this process's view of
`proxy.app.create_app` is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import time
from collections.abc import Callable, Sequence

from aiohttp import web

import proxy.app
from bench.report import percentile
from cli import main as cli
from config import Settings
from layouts import Router
from proxy.app import create_app
from proxy.services import SERVICES
from storage import Storage

INTERVAL = 0.005  # the sampler's sleep; lag = how much later than this it woke up
MAX_SAMPLES = 200_000


class LagSampler:
    """Sleeps INTERVAL in a loop on the app's event loop and records each overshoot."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self, app: web.Application) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self, app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(INTERVAL)
            if len(self.samples) < MAX_SAMPLES:
                self.samples.append(time.perf_counter() - started - INTERVAL)

    async def handle(self, request: web.Request) -> web.Response:
        ms = [s * 1000 for s in self.samples]
        if request.query.get("reset"):
            self.samples = []
        stats = {
            "n": len(ms),
            "p50": percentile(ms, 50),
            "p90": percentile(ms, 90),
            "p99": percentile(ms, 99),
            "max": max(ms, default=0.0),
        }
        return web.json_response(stats)


def with_bench_routes(
    settings: Settings,
    storage: Storage | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    router: Router | None = None,
) -> web.Application:
    """The real app plus the sampler and the bench-only routes."""
    app = create_app(settings, storage, clock=clock, router=router)
    sampler = LagSampler()
    app.on_startup.append(sampler.start)
    app.on_cleanup.append(sampler.stop)
    app.router.add_get("/_bench/lag", sampler.handle)
    app.router.add_get("/_bench/state", state)
    app.router.add_get("/_bench/trim", trim)
    return app


async def state(request: web.Request) -> web.Response:
    """What the process holds: memory-cache bytes and items, pending background stores."""
    services = request.app[SERVICES]
    return web.json_response(
        {
            "cache_bytes": services.cache.bytes_used,
            "cache_items": len(services.cache),
            "background_tasks": len(services.tasks),
            "sibling_sets": services.renderer.siblings.pending,
            "rss_mb": _rss_mb(),
        }
    )


async def trim(request: web.Request) -> web.Response:
    """glibc's malloc_trim(0): how much of the RSS was free heap the allocator kept."""
    before = _rss_mb()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return web.json_response({"before_mb": before, "after_mb": _rss_mb()})


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve_app")
    parser.add_argument("--config", required=True)
    parser.add_argument("--port", required=True)
    parser.add_argument(
        "--bench-routes", action="store_true", help="lag sampler and /_bench/ routes"
    )
    parser.add_argument("--no-access-log", action="store_true", help="measure without it")
    args = parser.parse_args(argv)
    if args.bench_routes:
        proxy.app.create_app = with_bench_routes
    if args.no_access_log:
        os.environ["MEDIAPROXY_SERVER_ACCESS_LOG"] = "false"
    return cli.main(["--config", args.config, "serve", "--port", args.port])


if __name__ == "__main__":
    raise SystemExit(main())
