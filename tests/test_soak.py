"""Long runs: a soak of mixed traffic with uploads and deletes, and a fuzz of paths.

Soak: 5,000+ requests at concurrency 32 on a couple of dozen originals, reads of every
kind mixed with uploads (sync, background, none) and deletes of the same originals. No
5xx; resident memory after the run within 15 % of what it was after warming up; and,
once everything settled, every original and its sizes agree: each size in storage and
in answers is the same picture as its original, and a deleted original left no size.

Path fuzz: 2,000+ mutated request targets sent byte for byte: none answered 5xx, and
none that the router refuses causes a storage call.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp
import pytest
import pyvips
from aiohttp import web
from aiohttp.test_utils import TestClient

from layouts import LayoutError, Router
from proxy.app import create_app
from proxy.services import SERVICES
from storage import FileStorage, GetStatus, ListedObject, ObjectMeta, Storage, StoredObject
from tests.serving import SIZES, UPLOAD_KEY, make_settings, raw_get

Client = TestClient[web.Request, web.Application]
AUTH = {"Authorization": f"Bearer {UPLOAD_KEY}"}
SPECS = [size.strip() for size in SIZES.split(",")]
COLOURS = [20, 60, 100, 140, 180, 220]  # one picture per colour, told apart by the mean
RELS = [f"s/o/soak{n}.jpg" for n in range(24)]
REQUESTS, WARM_UP, CONCURRENCY = 5_200, 1_200, 32
PATHS = 2_400


def picture(colour: int, n: int) -> bytes:
    width, height = 160 + 16 * (n % 5), 120 + 12 * (n % 4)
    image = (pyvips.Image.black(width, height, bands=3) + colour).cast("uchar")
    return bytes(image.copy(interpretation="srgb").jpegsave_buffer(Q=85))


PICTURES = {(colour, n): picture(colour, n) for colour in COLOURS for n in range(len(RELS))}


def colour_of(data: bytes) -> int:
    mean = float(pyvips.Image.new_from_buffer(data, "").avg())
    return min(COLOURS, key=lambda colour: abs(colour - mean))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Soak:
    """Traffic through a plain ClientSession: the test client keeps every response."""

    def __init__(self, session: aiohttp.ClientSession, seed: int) -> None:
        self.session, self.rng = session, random.Random(seed)
        self.statuses: Counter[tuple[str, int]] = Counter()

    def pick(self) -> tuple[str, str, dict[str, str], bytes | None]:
        """(method, target, headers, body) of one request of the mix."""
        rng, n = self.rng, self.rng.randrange(len(RELS))
        rel, roll = RELS[n], rng.random()
        size = f"/t1/{rng.choice(SPECS)}/{rel}"
        if roll < 0.55:
            return "GET", size, {}, None
        if roll < 0.62:
            return "GET", f"/t1/full/{rel}", {}, None
        if roll < 0.67:
            return "HEAD", size, {}, None
        if roll < 0.71:
            return "GET", size, {"If-None-Match": '"0123456789abcdef0123456789abcdef"'}, None
        if roll < 0.75:
            return "GET", rng.choice([f"/t1/301x/{rel}", f"/t9/300x/{rel}"]), {}, None
        if roll < 0.78:
            return "GET", f"/t1/300x/.hidden/{rel}", {}, None
        if roll < 0.92:
            mode = rng.choice(["sync", "sync", "sync", "background", "none"])
            body = PICTURES[(rng.choice(COLOURS), n)]
            return "PUT", f"/t1/full/{rel}?sizes={mode}", AUTH, body
        return "DELETE", f"/t1/full/{rel}", AUTH, None

    async def lane(self, count: int) -> None:
        for _ in range(count):
            method, target, headers, body = self.pick()
            async with self.session.request(method, target, headers=headers, data=body) as response:
                await response.read()
            self.statuses[(method, response.status)] += 1

    async def run(self, count: int) -> None:
        share = count // CONCURRENCY
        await asyncio.gather(*(self.lane(share) for _ in range(CONCURRENCY)))


@pytest.fixture
async def soak_client(
    aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path
) -> tuple[Client, FileStorage]:
    storage = FileStorage(tmp_path / "media")
    for n, rel in enumerate(RELS):
        await storage.put(f"t1/full/{rel}", PICTURES[(COLOURS[0], n)], content_type="image/jpeg")
    settings = make_settings(tmp_path, "[resize]\nqueue = 256\n")
    return await aiohttp_client(create_app(settings, storage=storage)), storage


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_soak_of_mixed_reads_uploads_and_deletes(
    soak_client: tuple[Client, FileStorage],
) -> None:
    client, storage = soak_client
    async with aiohttp.ClientSession(str(client.make_url("/"))) as session:
        soak = Soak(session, seed=11)
        await soak.run(WARM_UP)
        await client.app[SERVICES].tasks.drain(30)
        warm = rss_mb()
        await soak.run(REQUESTS - WARM_UP)
        await client.app[SERVICES].tasks.drain(30)
        after = rss_mb()
    total = sum(soak.statuses.values())
    errors = {key: count for key, count in soak.statuses.items() if key[1] >= 500}
    print(f"\nsoak: {total} requests {dict(soak.statuses)}; RSS {warm:.0f} -> {after:.0f} MB")
    assert total >= 5_000
    assert not errors
    assert soak.statuses[("PUT", 201)] + soak.statuses[("PUT", 202)] > 300
    assert soak.statuses[("DELETE", 204)] > 100
    assert after <= warm * 1.15, f"RSS grew from {warm:.0f} MB to {after:.0f} MB"
    assert await disagreements(client, storage) == []


async def disagreements(client: Client, storage: Storage) -> list[str]:
    """Sizes (stored or answered) that are not the picture their original is now."""
    wrong = []
    for rel in RELS:
        found = await storage.get(f"t1/full/{rel}")
        colour = None
        if found.status is GetStatus.OK and found.body is not None:
            colour = colour_of(await found.body.read())
        for spec in SPECS:
            key = f"t1/{spec}/{rel}"
            size = await storage.get(key)
            if size.status is GetStatus.OK and size.body is not None:
                stored = colour_of(await size.body.read())
                if stored != colour:
                    wrong.append(f"stored {key}: {stored}, original {colour}")
            response = await client.get("/" + key, headers={"Accept": "*/*"})
            body = await response.read()
            answered = colour_of(body) if response.status == 200 else None
            if answered != colour:
                wrong.append(f"answer {key}: {answered} ({response.status}), original {colour}")
    return wrong


class CountingStorage:
    """Counts every call that reaches storage."""

    def __init__(self, inner: Storage) -> None:
        self.inner, self.describe, self.calls = inner, inner.describe, 0

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        self.calls += 1
        return await self.inner.get(key, if_none_match=if_none_match)

    async def head(self, key: str) -> ObjectMeta | None:
        self.calls += 1
        return await self.inner.head(key)

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        self.calls += 1
        return await self.inner.put(
            key, data, content_type=content_type, cache_control=cache_control
        )

    async def delete(self, keys: Sequence[str]) -> None:
        self.calls += 1
        await self.inner.delete(keys)

    def list(self, prefix: str) -> AsyncIterator[ListedObject]:
        self.calls += 1
        return self.inner.list(prefix)

    async def subdirectories(self, prefix: str) -> Sequence[str]:
        self.calls += 1
        return await self.inner.subdirectories(prefix)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


VALID = ["/t1/300x/1/3/1335478295542.jpg", "/t1/full/a/b/ab.png", "/t1/215x170/small_image.jpg"]
INSERTS = [
    "..", ".", "/", "//", "%2e%2e", "%2E", "%2f", "%2F", "%5c", "\\", "%00", "%", "%zz",
    "%e2%80%ae", "%ff", "%c3%a9", "~", ";", ";x=1", "?", "?width=1&height=2", "#", "@",
    ":", "*", "'", '"', "<", ">", "{", "}", "|", "^", "`", "$", "!", "&", "=", "+", ",",
    "a" * 300, "0" * 70, "x.jpg", ".jpg", "_", "-", "%20", "\t", "é", "\u202e", "\x7f",
]  # fmt: skip


def mutate(rng: random.Random, path: str) -> str:
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(path) + 1)
        roll = rng.random()
        if roll < 0.6:
            path = path[:at] + rng.choice(INSERTS) + path[at:]
        elif roll < 0.8 and len(path) > 1:
            path = path[:at] + path[at + rng.randint(1, 4) :]
        else:
            segments = path.split("/")
            rng.shuffle(segments)
            path = "/".join(segments)
    return path if path.startswith("/") else "/" + path


def wire_safe(target: str) -> str:
    """Characters a request line cannot carry raw, percent-encoded (the rest sent as is)."""
    out: list[str] = []
    for char in target:
        if char in " \t\r\n" or ord(char) > 0xFF:
            out.extend(f"%{byte:02X}" for byte in char.encode())
        else:
            out.append(char)
    return "".join(out)


@pytest.mark.slow
async def test_fuzzed_paths_never_5xx_and_refused_ones_never_reach_storage(
    aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path
) -> None:
    storage = CountingStorage(FileStorage(tmp_path / "media"))
    settings = make_settings(tmp_path)
    client = await aiohttp_client(create_app(settings, storage=storage))
    await client.put(VALID[0].replace("/300x/", "/full/"), data=PICTURES[(20, 0)], headers=AUTH)
    router, rng = Router.from_settings(settings), random.Random(5)
    port = client.server.port
    assert port is not None
    targets = {wire_safe(mutate(rng, rng.choice(VALID))) for _ in range(PATHS)}
    statuses: Counter[int] = Counter()
    leaks, errors = [], []
    for target in sorted(targets):
        await client.app[SERVICES].tasks.drain(10)
        before = storage.calls
        status, _ = await raw_get(port, target)
        statuses[status] += 1
        if status >= 500:
            errors.append(f"{target!r}: {status}")
        try:
            router.parse(target, "x")
        except LayoutError:
            if storage.calls != before:
                leaks.append(target)
    print(f"\npath fuzz: {len(targets)} targets, statuses {dict(statuses)}")
    assert len(targets) >= 2_000
    assert not errors, errors[:10]
    assert not leaks, leaks[:10]
    assert statuses[400] > 500
