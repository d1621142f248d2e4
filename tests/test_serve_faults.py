"""The read path when storage misbehaves: clear 502/504, recovery, and lost stores."""

from __future__ import annotations

import asyncio

import pytest

from proxy.services import SERVICES
from storage import ObjectMeta, Storage, StorageError, StoredObject
from tests import images
from tests.conftest import MotoServer, OpenS3
from tests.serving import MakeClient, StorageDouble, dims, within


class FailingPuts(StorageDouble):
    """A real backend whose writes fail, as a bucket with a broken write policy would."""

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        raise StorageError()


class StalledGets(StorageDouble):
    """A real backend whose reads never answer; counts the reads given up on."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner)
        self.abandoned = 0

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        try:
            await asyncio.Event().wait()  # nothing ever sets it
        except asyncio.CancelledError:
            self.abandoned += 1
            raise
        raise AssertionError("unreachable")


@pytest.mark.parametrize("storage", ["s3"], indirect=True)
async def test_outage_gives_502_or_504_quickly_then_recovers(
    flaky_moto: MotoServer, make_client: MakeClient, open_s3: OpenS3
) -> None:
    # flaky_moto first: it then stops last, after the app's closing stores have landed.
    s3 = await open_s3(endpoint=flaky_moto.endpoint, prefix="", max_connections=8, timeout=1.0)
    await s3.put("t1/full/o/u/out.jpg", images.jpeg(600, 400), content_type="image/jpeg")
    client = await make_client(storage=s3)
    flaky_moto.stop()
    async with within(5, "a read while storage is down"):
        response = await client.get("/t1/300x/o/u/out.jpg")
    assert response.status in {502, 504}
    assert (await response.text()).strip() in {"storage unavailable", "storage timed out"}
    assert (await client.get("/readyz")).status == 503
    assert (await client.get("/healthz")).status == 200
    flaky_moto.start()
    response = await client.get("/t1/300x/o/u/out.jpg")
    assert response.status == 200
    assert dims(await response.read()) == (300, 200)
    assert (await client.get("/readyz")).status == 200


async def test_failed_store_still_returns_the_image_and_is_counted(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put("t1/full/f/a/fail.jpg", images.jpeg(800, 600), content_type="image/jpeg")
    client = await make_client(storage=FailingPuts(storage))
    response = await client.get("/t1/300x/f/a/fail.jpg")
    assert response.status == 200
    assert dims(await response.read()) == (300, 225)
    await client.app[SERVICES].tasks.drain(10)
    metrics = await (await client.get("/metrics")).text()
    assert "mediaproxy_store_errors_total 1.0" in metrics
    assert await storage.head("t1/300x/f/a/fail.jpg") is None


async def test_slow_requests_time_out_with_504(make_client: MakeClient, storage: Storage) -> None:
    stalled = StalledGets(storage)
    client = await make_client(storage=stalled, SERVER_REQUEST_TIMEOUT="0.3")
    async with within(2, "a request whose storage never answers"):
        response = await client.get("/t1/300x/s/l/slow.jpg")
    assert response.status == 504
    assert stalled.abandoned == 1  # the timeout cancelled the read; nothing waits on it
