"""Load generators: an aiohttp client (latencies per request) and wrk (raw requests/s).

The client runs in the benchmark process, the servers in their own, so neither takes the
other's GIL. For the hit path, where a Python client would be the bottleneck, wrk (C,
from apt) drives the load.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.report import percentile


@dataclass(frozen=True)
class Outcome:
    seconds: float
    status: int
    source: str  # X-Mediaproxy: memory, storage, render, placeholder
    size: int


@dataclass
class Load:
    wall: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    groups: list[float] = field(default_factory=list)  # wall time of each group (a page)

    @property
    def count(self) -> int:
        return len(self.outcomes)

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall else 0.0

    def latency_ms(self, pct: float) -> float:
        return percentile([o.seconds for o in self.outcomes], pct) * 1000

    def statuses(self) -> Counter[str]:
        return Counter(f"{o.status} {o.source}".strip() for o in self.outcomes)

    def unexpected(self, status: int = 200, source: str | None = None) -> int:
        return sum(
            1 for o in self.outcomes if o.status != status or (source and o.source != source)
        )


def session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300))


async def fetch(client: aiohttp.ClientSession, url: str) -> Outcome:
    started = time.perf_counter()
    async with client.get(url) as response:
        body = await response.read()
        source = response.headers.get("X-Mediaproxy", "")
        return Outcome(time.perf_counter() - started, response.status, source, len(body))


async def fetch_text(client: aiohttp.ClientSession, url: str) -> str:
    async with client.get(url) as response:
        return await response.text()


async def requests(urls: Sequence[str], concurrency: int) -> Load:
    """Every URL once, `concurrency` in flight; wall time from the first send to the last."""
    return await pages([[u] for u in urls], concurrency, concurrency)


async def pages(groups: Sequence[Sequence[str]], in_flight: int, connections: int) -> Load:
    """Each group's URLs fired at the same moment (a browser loading one page), `in_flight`
    groups at a time; a group's time is until its last response."""
    load = Load()
    todo = iter(groups)
    async with session(connections) as client:

        async def lane() -> None:
            for group in todo:
                started = time.perf_counter()
                done = await asyncio.gather(*(fetch(client, url) for url in group))
                load.groups.append(time.perf_counter() - started)
                load.outcomes.extend(done)

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(in_flight)))
        load.wall = time.perf_counter() - started
    return load


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk(url: str, connections: int, seconds: float, threads: int = 1) -> WrkResult:
    """`wrk -t1 -cN -dS --latency URL`, parsed (wrk takes whole seconds)."""
    duration = max(1, round(seconds))
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=seconds + 30)
    text = out.stdout
    rps = float(_find(r"Requests/sec:\s+([\d.]+)", text))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors += int(non2xx.group(1)) if non2xx else 0
    return WrkResult(
        rps,
        _ms(_find(r"(?m)^\s+50%\s+(\S+)", text)),
        _ms(_find(r"(?m)^\s+99%\s+(\S+)", text)),
        errors,
    )


async def client_rate(url: str, connections: int, seconds: float) -> WrkResult:
    """wrk's job done by aiohttp, for machines without wrk (it saturates far sooner)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    async with session(connections) as client:

        async def lane() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                outcome = await fetch(client, url)
                latencies.append(outcome.seconds)
                errors += outcome.status != 200

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(connections)))
        wall = time.perf_counter() - started
    return WrkResult(
        len(latencies) / wall,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        errors,
    )


def hammer(url: str, connections: int, seconds: float) -> WrkResult:
    """Requests/s at `connections` for `seconds`: wrk when installed, else aiohttp."""
    if have_wrk():
        return wrk(url, connections, seconds)
    return asyncio.run(client_rate(url, connections, seconds))


def _find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    return match.group(1)


def _ms(value: str) -> float:
    """wrk's `812.00us`, `1.23ms`, `2.01s` in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise RuntimeError(f"unexpected wrk latency {value!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[match.group(2)]
    return float(match.group(1)) * scale
