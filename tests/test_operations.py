"""What operators and caches rely on around the main paths: a 304 that carries the
stored validators, 5xx causes in the log (without flooding it), uploads probed off the
event loop, and progressive JPEGs admitted by the memory their decode takes."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from proxy.app import create_app
from rendering import ResizePool, decode_cost
from resize import Limits, SourceInfo, probe
from storage import ObjectMeta, Storage, StorageError, StoredObject
from tests import images
from tests.serving import UPLOAD_KEY, MakeClient, make_settings

Client = TestClient[web.Request, web.Application]
AUTH = {"Authorization": f"Bearer {UPLOAD_KEY}"}
MEMORY_OFF = "[cache]\nmemory_bytes = 0\n"


@pytest.mark.parametrize("listed", [False, True])
async def test_304_from_storage_carries_the_stored_validators(
    make_client: MakeClient, storage: Storage, listed: bool
) -> None:
    stored = await storage.put(
        "t1/90x/v/a/valid.jpg",
        images.jpeg(90, 60),
        content_type="image/jpeg",
        cache_control="public, max-age=600",
    )
    client = await make_client(MEMORY_OFF)
    asked = f'"other", {stored.etag}' if listed else stored.etag
    response = await client.get("/t1/90x/v/a/valid.jpg", headers={"If-None-Match": asked})
    assert response.status == 304
    assert response.headers["ETag"] == stored.etag
    assert response.headers["Cache-Control"] == "public, max-age=600"
    fresh = await client.get("/t1/90x/v/a/valid.jpg")
    assert response.headers["Last-Modified"] == fresh.headers["Last-Modified"]


class FailingGets:
    """A bucket that refuses every read, as one with a broken policy would."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.describe = "failing gets"
        self.put, self.list, self.delete = inner.put, inner.list, inner.delete
        self.subdirectories, self.ping, self.close = inner.subdirectories, inner.ping, inner.close

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        raise StorageError() from ConnectionRefusedError(f"bucket refused GET {key}")

    async def head(self, key: str) -> ObjectMeta | None:
        raise StorageError() from ConnectionRefusedError(f"bucket refused HEAD {key}")


async def test_5xx_causes_are_logged_with_the_key_at_most_once_per_interval(
    aiohttp_client: Callable[..., Awaitable[Client]],
    tmp_path: Path,
    storage: Storage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    app = create_app(make_settings(tmp_path), storage=FailingGets(storage), clock=lambda: now[0])
    client = await aiohttp_client(app)
    caplog.set_level(logging.ERROR, logger="mediaproxy")
    for n in range(6):
        response = await client.get(f"/t1/300x/f/a/fail{n}.jpg")
        assert response.status == 502
        assert (await response.text()).strip() == "storage unavailable"
    lines = [r.getMessage() for r in caplog.records if r.name == "mediaproxy"]
    assert len(lines) == 1
    assert "GET /t1/300x/f/a/fail0.jpg" in lines[0]
    assert "ConnectionRefusedError" in lines[0]
    assert "bucket refused GET t1/300x/f/a/fail0.jpg" in lines[0]
    now[0] += 10
    assert (await client.get("/t1/300x/f/a/later.jpg")).status == 502
    lines = [r.getMessage() for r in caplog.records if r.name == "mediaproxy"]
    assert len(lines) == 2
    assert "(and 5 more like it since)" in lines[1]


async def test_upload_is_probed_in_a_resize_thread_not_on_the_event_loop(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = []

    def recording(data: bytes, limits: Limits) -> SourceInfo:
        threads.append(threading.current_thread().name)
        return probe(data, limits)

    monkeypatch.setattr("proxy.writes.probe", recording)
    client = await make_client()
    for mode in ("none", "background", "sync"):
        response = await client.put(
            f"/t1/full/p/r/probe.jpg?sizes={mode}", data=images.jpeg(300, 200), headers=AUTH
        )
        assert response.status in {201, 202}
    assert threads
    assert all(name.startswith("resize-") for name in threads), threads


def test_decode_cost_is_the_coefficient_array_of_progressive_jpegs_only() -> None:
    # 64 coefficients of 2 bytes per 8x8 block per component, padded to whole MCUs
    assert decode_cost(images.jpeg(800, 600, progressive=True)) == 800 * 600 * 3 * 2
    assert decode_cost(images.jpeg(801, 600, progressive=True)) == 808 * 600 * 3 * 2
    assert decode_cost(images.jpeg(800, 600, progressive=True, grey=True)) == 800 * 600 * 2
    assert decode_cost(images.jpeg(800, 600)) == 0
    assert decode_cost(images.png(800, 600)) == 0
    assert decode_cost(images.truncated_jpeg(800, 600)[:40]) == 0
    assert decode_cost(b"\xff\xd8\xff") == 0


async def test_decodes_over_the_memory_budget_wait_and_free_ones_do_not() -> None:
    pool = ResizePool(workers=2, queue_length=8, memory_budget=100)
    gate, loop = threading.Event(), asyncio.get_running_loop()
    started: asyncio.Queue[str] = asyncio.Queue()

    def job(name: str) -> str:
        loop.call_soon_threadsafe(started.put_nowait, name)
        gate.wait()
        return name

    try:
        first = asyncio.create_task(pool.run(lambda: job("big1"), cost=80))
        second = asyncio.create_task(pool.run(lambda: job("big2"), cost=80))
        free = asyncio.create_task(pool.run(lambda: job("baseline")))
        async with asyncio.timeout(10):
            running = {await started.get(), await started.get()}
        assert running == {"baseline", "big1"}  # big2 waits for memory, not for a thread
        assert started.empty()
        gate.set()
        async with asyncio.timeout(10):
            assert list(await asyncio.gather(first, second, free)) == ["big1", "big2", "baseline"]
        assert pool.budget is not None
        assert pool.budget.used == 0
    finally:
        gate.set()
        pool.close()
