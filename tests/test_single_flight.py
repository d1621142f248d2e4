"""Single flight cannot be poisoned: every waiter resolves on every path, no key stays
pending, work nobody waits for is skipped, and a render never publishes stale bytes.

Failures are injected (a publish that raises for one key of a batch, a corrupt original,
a cancelled waiter, an original replaced again and again) on a real renderer: real pool,
real libvips, real file storage behind hooks that hold downloads where a test wants.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from layouts import ImageRequest, Router
from proxy.app import create_app
from proxy.services import Services
from rendering import Origin, Renderer, ResizePool
from resize import CorruptImage, Limits, Rendered
from storage import FileStorage
from telemetry import Metrics
from tests import images
from tests.hooks import HookedStorage
from tests.serving import dims, eventually, make_settings

Client = TestClient[web.Request, web.Application]
Published = Callable[[ImageRequest, Rendered, Origin[None]], Rendered]


class Rig:
    """A renderer on hooked file storage, one resize thread, and a router to name sizes."""

    def __init__(self, tmp_path: Path, publish: Published | None = None) -> None:
        self.storage = HookedStorage(FileStorage(tmp_path / "media"))
        # Siblings off: these tests count the renders and stores of the sizes they ask.
        self.router = Router.from_settings(make_settings(tmp_path, site="render_siblings = false"))
        self.pool = ResizePool(workers=1, queue_length=8)
        self.metrics = Metrics()
        self.published: list[str] = []
        self.renderer: Renderer[Rendered, None] = Renderer(
            self.storage, self.pool, Limits(), self.metrics, publish or self.keep, lambda: None
        )

    def keep(self, request: ImageRequest, rendered: Rendered, origin: Origin[None]) -> Rendered:
        self.published.append(request.key)
        return rendered

    def size(self, path: str) -> ImageRequest:
        return self.router.parse(path)

    async def original(self, rel: str, data: bytes | None = None) -> str:
        key = f"t1/full/{rel}"
        await self.storage.inner.put(key, data or images.jpeg(400, 300), content_type="image/jpeg")
        return key

    def count(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(name)
        return value or 0.0


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    made = Rig(tmp_path)
    yield made
    await made.renderer.close()
    made.pool.close()


async def test_publish_raising_for_one_key_fails_only_that_key(tmp_path: Path) -> None:
    def publish(request: ImageRequest, rendered: Rendered, origin: Origin[None]) -> Rendered:
        if request.key.startswith("t1/70x70/"):
            raise RuntimeError("store exploded")
        return rendered

    rig = Rig(tmp_path, publish)
    try:
        original = await rig.original("p/o/poison.jpg")
        held = rig.storage.pause("get", original)
        paths = ["/t1/300x/p/o/poison.jpg", "/t1/70x70/p/o/poison.jpg", "/t1/90x/p/o/poison.jpg"]
        waiting = [asyncio.create_task(rig.renderer.render(rig.size(p))) for p in paths]
        await held.reached.wait()  # all three joined the batch waiting for the download
        held.release()
        async with asyncio.timeout(10):
            outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert isinstance(outcomes[0], Rendered)
        assert isinstance(outcomes[1], RuntimeError)
        assert isinstance(outcomes[2], Rendered)
        assert rig.count("mediaproxy_renders_total") == 1
        async with asyncio.timeout(10):  # nothing left pending: the next request renders
            with pytest.raises(RuntimeError):
                await rig.renderer.render(rig.size(paths[1]))
            again = await rig.renderer.render(rig.size(paths[0]))
        assert (again.width, again.height) == (300, 225)
        assert rig.count("mediaproxy_renders_total") == 3
    finally:
        await rig.renderer.close()
        rig.pool.close()


async def test_failed_render_resolves_every_waiter_and_is_retried_later(rig: Rig) -> None:
    original = await rig.original("c/o/corrupt.jpg", images.truncated_jpeg(400, 300))
    held = rig.storage.pause("get", original)
    paths = ["/t1/300x/c/o/corrupt.jpg", "/t1/70x70/c/o/corrupt.jpg"]
    waiting = [asyncio.create_task(rig.renderer.render(rig.size(p))) for p in paths * 3]
    await held.reached.wait()
    held.release()
    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(outcome, CorruptImage) for outcome in outcomes)
        with pytest.raises(CorruptImage):
            await rig.renderer.render(rig.size(paths[0]))
    assert rig.storage.gets[original] == 2  # the failure was not kept as a pending answer


async def test_queued_render_whose_waiters_all_left_is_skipped(rig: Rig) -> None:
    """Two sources in memory per thread: with one thread, a third original's render
    queues before downloading. Its only waiter leaves; it is never downloaded nor run,
    and the renders sharing the others' downloads are untouched."""
    first, second = await rig.original("f/i/first.jpg"), await rig.original("s/e/second.jpg")
    await rig.original("t/h/third.jpg")
    held = [rig.storage.pause("get", first), rig.storage.pause("get", second)]
    kept = [
        asyncio.create_task(rig.renderer.render(rig.size("/t1/300x/f/i/first.jpg"))),
        asyncio.create_task(rig.renderer.render(rig.size("/t1/300x/s/e/second.jpg"))),
    ]
    await asyncio.gather(*(pause.reached.wait() for pause in held))
    third = rig.size("/t1/300x/t/h/third.jpg")
    left = asyncio.create_task(rig.renderer.render(third))
    await eventually(lambda: third.key in rig.renderer._pending, "its batch queued for memory")
    left.cancel()
    for pause in held:
        pause.release()
    async with asyncio.timeout(10):
        done = await asyncio.gather(*kept)
    assert [(r.width, r.height) for r in done] == [(300, 225), (300, 225)]
    await rig.renderer.close()
    assert left.cancelled()
    assert rig.storage.gets["t1/full/t/h/third.jpg"] == 0
    assert rig.count("mediaproxy_renders_total") == 2
    assert rig.count("mediaproxy_dropped_renders_total") == 1
    assert rig.storage.gets[first] == rig.storage.gets[second] == 1


async def test_pool_job_whose_caller_left_before_a_thread_took_it_never_runs() -> None:
    pool = ResizePool(workers=1, queue_length=8)
    gate, ran = threading.Event(), []
    try:
        busy = asyncio.create_task(pool.run(gate.wait))  # the only thread is taken
        queued = asyncio.create_task(pool.run(lambda: ran.append("ran")))
        await eventually(lambda: pool.depth == 2, "both jobs in the pool")
        queued.cancel()
        gate.set()
        await busy
        after = await pool.run(lambda: "next")  # the thread went past the skipped job
        assert after == "next"
        assert ran == []
    finally:
        gate.set()
        pool.close()


async def test_cancelled_waiter_never_releases_a_download_it_did_not_take(rig: Rig) -> None:
    """One waiter of a shared download leaves; the download still serves the others."""
    original = await rig.original("s/h/shared.jpg")
    held = rig.storage.pause("get", original)
    stay = asyncio.create_task(rig.renderer.render(rig.size("/t1/300x/s/h/shared.jpg")))
    await held.reached.wait()
    small = rig.size("/t1/70x70/s/h/shared.jpg")
    leave = asyncio.create_task(rig.renderer.render(small))
    await eventually(lambda: small.key in rig.renderer._pending, "it joined the download")
    leave.cancel()
    held.release()
    async with asyncio.timeout(10):
        rendered = await stay
    assert (rendered.width, rendered.height) == (300, 225)
    assert rig.storage.gets[original] == 1


async def test_original_replaced_during_every_attempt_is_answered_but_not_kept(
    tmp_path: Path,
) -> None:
    origins: list[Origin[None]] = []

    def publish(request: ImageRequest, rendered: Rendered, origin: Origin[None]) -> Rendered:
        origins.append(origin)
        return rendered

    rig = Rig(tmp_path, publish)
    try:
        original = await rig.original("c/h/changing.jpg")
        waiter = asyncio.create_task(rig.renderer.render(rig.size("/t1/300x/c/h/changing.jpg")))
        for _ in range(3):
            held = rig.storage.pause("get", original)
            await held.reached.wait()
            rig.renderer.invalidate(original)  # an upload replaced it meanwhile
            held.release()
        async with asyncio.timeout(10):
            rendered = await waiter
        assert (rendered.width, rendered.height) == (300, 225)
        assert [origin.current for origin in origins] == [False]
        assert rig.storage.gets[original] == 3
        assert rig.count("mediaproxy_stale_renders_total") == 3
    finally:
        await rig.renderer.close()
        rig.pool.close()


async def test_publish_raising_through_the_app_answers_500_and_the_key_recovers(
    aiohttp_client: Callable[..., Awaitable[Client]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = HookedStorage(FileStorage(tmp_path / "media"))
    original = "t1/full/a/p/app.jpg"
    await storage.inner.put(original, images.jpeg(400, 300), content_type="image/jpeg")
    publish, failing = Services.publish, {"t1/70x70/a/p/app.jpg"}

    def flaky(self: Services, request: ImageRequest, *args: Any) -> Any:
        if request.key in failing:
            raise RuntimeError("memory cache exploded")
        return publish(self, request, *args)

    monkeypatch.setattr(Services, "publish", flaky)
    client = await aiohttp_client(create_app(make_settings(tmp_path), storage=storage))
    held = storage.pause("get", original)
    sizes = ["300x", "70x70", "90x"]
    waiting = [
        asyncio.create_task(client.get(f"/t1/{size}/a/p/app.jpg", headers={"Accept": "*/*"}))
        for size in sizes
    ]
    await held.reached.wait()
    held.release()
    async with asyncio.timeout(10):
        responses = await asyncio.gather(*waiting)
    assert [r.status for r in responses] == [200, 500, 200]
    assert "Traceback" not in await responses[1].text()
    failing.clear()
    async with asyncio.timeout(10):
        again = await client.get("/t1/70x70/a/p/app.jpg")
    assert again.status == 200
    assert again.headers["X-Mediaproxy"] == "render"
    assert dims(await again.read()) == (70, 53)
