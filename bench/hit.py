"""Target 4, hit path: requests/s at concurrency 32, wrk against servers in their own processes.

memory hit    mediaproxy as shipped (access log on) vs a bare aiohttp handler on uvloop
              returning the same body and headers, alternating, same wrk settings
access log    the same memory hit without the access log, to show what it costs
storage hit   cache.memory_bytes = 0: every request reads the file / the S3 object
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from bench import load, procs, stage
from bench.context import Context
from bench.report import Figure, median

CONNECTIONS = 32
KEEP = ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "X-Mediaproxy")


def run(ctx: Context) -> None:
    seconds, rounds = ctx.seconds(6, 3), ctx.pick(3, 2)
    original = ctx.originals[0]
    key = f"t1/300x300/{original.rel}"
    home = ctx.scratch("hit")
    url = stage.stage_files(home / "media", {"t1": [original]})
    res, bench = ctx.results, "4 hit path"
    tool = "wrk -t1" if load.have_wrk() else "aiohttp client (no wrk)"
    mine: list[float] = []
    bare_rps: list[float] = []
    ratios: list[float] = []
    proc, base = procs.mediaproxy(stage.write_config(home / "memory.toml", url), ctx.tmp)
    with proc:
        body, headers = _get(f"{base}/{key}")  # rendered
        body, headers = _get(f"{base}/{key}")  # from memory
        (home / "body").write_bytes(body)
        bare, bare_base = procs.bare(home / "body", headers | {"X-Mediaproxy": "memory"}, ctx.tmp)
        with bare:
            for _ in range(rounds):
                bare_rps.append(load.hammer(f"{bare_base}/{key}", CONNECTIONS, seconds).rps)
                result = load.hammer(f"{base}/{key}", CONNECTIONS, seconds)
                mine.append(result.rps)
                ratios.append(mine[-1] / bare_rps[-1])
        source = _get(f"{base}/{key}")[1].get("X-Mediaproxy")
    res.add(
        Figure(
            bench,
            "memory hit",
            median(mine),
            "req/s",
            median(bare_rps),
            0.7,
            note=f"c={CONNECTIONS}, {len(body) // 1024} KB body, {tool}, "
            f"p99 {result.p99_ms:.1f} ms, answered from {source}",
            rounds=tuple(ratios),
        )
    )
    quiet, quiet_base = procs.mediaproxy(
        stage.write_config(home / "quiet.toml", url), ctx.tmp, access_log=False
    )
    with quiet:
        _get(f"{quiet_base}/{key}")
        quiet_rps = load.hammer(f"{quiet_base}/{key}", CONNECTIONS, seconds).rps
    res.add(
        Figure(
            bench,
            "memory hit, access log off",
            quiet_rps,
            "req/s",
            median(bare_rps),
            note="what the access log line costs",
        )
    )
    stored = stage.write_config(home / "files.toml", url, memory_bytes=0)
    res.add(_storage_hit(ctx, "storage hit, file backend", stored, key, seconds, bench))
    moto, endpoint = procs.moto(ctx.tmp)
    with moto:
        s3_url = stage.stage_s3(endpoint, {"t1": [original]})
        s3 = stage.write_config(home / "s3.toml", s3_url, endpoint_url=endpoint, memory_bytes=0)
        res.add(_storage_hit(ctx, "storage hit, S3 (moto)", s3, key, seconds, bench, moto))


def _storage_hit(
    ctx: Context,
    name: str,
    config: Path,
    key: str,
    seconds: float,
    bench: str,
    moto: procs.Proc | None = None,
) -> Figure:
    proc, base = procs.mediaproxy(config, ctx.tmp)
    with proc:
        _get(f"{base}/{key}")
        _wait_stored(base, key)
        cpu = proc.cpu_seconds()
        moto_cpu = moto.cpu_seconds() if moto else 0.0
        result = load.hammer(f"{base}/{key}", CONNECTIONS, seconds)
        cpu = proc.cpu_seconds() - cpu
        source = _get(f"{base}/{key}")[1].get("X-Mediaproxy")
    note = f"p99 {result.p99_ms:.1f} ms, server {cpu / seconds:.0%} CPU"
    if moto is not None:
        note += f", moto {(moto.cpu_seconds() - moto_cpu) / seconds:.0%} CPU"
    if result.errors:
        note += f", {result.errors} errors"
    return Figure(bench, name, result.rps, "req/s", note=f"{note}, answered from {source}")


def _get(url: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), {k: response.headers[k] for k in KEEP if k in response.headers}


def _wait_stored(base: str, key: str, timeout: float = 10.0) -> None:
    """The first GET rendered and answered at once; the store-back lands a moment later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _get(f"{base}/{key}")[1].get("X-Mediaproxy") == "storage":
            return
        time.sleep(0.05)
    raise RuntimeError(f"{key} was not stored within {timeout}s")
