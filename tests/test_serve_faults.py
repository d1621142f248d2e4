"""The read path when storage misbehaves: clear 502/504, recovery, and lost stores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiobotocore.session import AioSession
from aiohttp import web
from aiohttp.test_utils import TestClient

from proxy.app import create_app
from proxy.services import SERVICES
from storage import ObjectMeta, S3Storage, Storage, StorageError
from tests import images
from tests.conftest import MotoServer
from tests.serving import dims, make_settings

Client = TestClient[web.Request, web.Application]


class FailingPuts:
    """A real backend whose writes fail, as a bucket with a broken write policy would."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.describe = "failing puts"
        self.get, self.head, self.list = inner.get, inner.head, inner.list
        self.delete, self.ping, self.close = inner.delete, inner.ping, inner.close

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        raise StorageError()


async def test_outage_gives_502_or_504_quickly_then_recovers(
    aiohttp_client: Callable[..., Awaitable[Client]],
    flaky_moto: MotoServer,
    s3_bucket: str,
    aio_session: AioSession,
    tmp_path: Path,
) -> None:
    s3 = await S3Storage.open(
        s3_bucket, "", endpoint_url=flaky_moto.endpoint, region="us-east-1",
        max_connections=8, timeout=1.0, session=aio_session,
    )  # fmt: skip
    try:
        await s3.put("t1/full/o/u/out.jpg", images.jpeg(600, 400), content_type="image/jpeg")
        client = await aiohttp_client(create_app(make_settings(tmp_path), storage=s3))
        flaky_moto.stop()
        started = time.monotonic()
        response = await client.get("/t1/300x/o/u/out.jpg")
        assert response.status in {502, 504}
        assert time.monotonic() - started < 5
        assert (await response.text()).strip() in {"storage unavailable", "storage timed out"}
        assert (await client.get("/readyz")).status == 503
        assert (await client.get("/healthz")).status == 200
        flaky_moto.start()
        response = await client.get("/t1/300x/o/u/out.jpg")
        assert response.status == 200
        assert dims(await response.read()) == (300, 200)
        assert (await client.get("/readyz")).status == 200
    finally:
        await s3.close()


async def test_failed_store_still_returns_the_image_and_is_counted(
    aiohttp_client: Callable[..., Awaitable[Client]], storage: Storage, tmp_path: Path
) -> None:
    await storage.put("t1/full/f/a/fail.jpg", images.jpeg(800, 600), content_type="image/jpeg")
    app = create_app(make_settings(tmp_path), storage=FailingPuts(storage))
    client = await aiohttp_client(app)
    response = await client.get("/t1/300x/f/a/fail.jpg")
    assert response.status == 200
    assert dims(await response.read()) == (300, 225)
    await client.app[SERVICES].tasks.drain(10)
    metrics = await (await client.get("/metrics")).text()
    assert "mediaproxy_store_errors_total 1.0" in metrics
    assert await storage.head("t1/300x/f/a/fail.jpg") is None


async def test_slow_requests_time_out_with_504(
    aiohttp_client: Callable[..., Awaitable[Client]], storage: Storage, tmp_path: Path
) -> None:
    class SlowGets(FailingPuts):
        async def slow_get(self, key: str, *, if_none_match: str | None = None) -> object:
            await asyncio.sleep(5)
            raise AssertionError("unreachable")

    slow = SlowGets(storage)
    slow.get = slow.slow_get  # type: ignore[assignment]
    settings = make_settings(tmp_path, SERVER_REQUEST_TIMEOUT="0.3")
    client = await aiohttp_client(create_app(settings, storage=slow))
    started = time.monotonic()
    response = await client.get("/t1/300x/s/l/slow.jpg")
    assert response.status == 504
    assert time.monotonic() - started < 2
