"""Several replicas on one bucket: a write through one shows on every other within the
documented bound, `cache.memory_ttl` seconds (SPEC §4, §5; README "Replicas").

Two apps share one moto bucket, as replicas behind nginx do; nginx may send the request
after a delete or re-upload to either. Time is a fake clock the test moves, so the bound
is asserted exactly and nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pyvips
from aiobotocore.session import AioSession
from aiohttp import web
from aiohttp.test_utils import TestClient

from proxy.app import create_app
from proxy.services import SERVICES
from storage import S3Storage, Storage
from tests.hooks import HookedStorage
from tests.serving import UPLOAD_KEY, make_settings

Client = TestClient[web.Request, web.Application]
AUTH = {"Authorization": f"Bearer {UPLOAD_KEY}"}
TTL = 10.0  # the default cache.memory_ttl
ORIGINAL = "t1/full/r/e/replica.jpg"
SIZE = "t1/300x/r/e/replica.jpg"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def picture(value: int) -> bytes:
    image = (pyvips.Image.black(320, 240, bands=3) + value).cast("uchar")
    return bytes(image.copy(interpretation="srgb").jpegsave_buffer(Q=90))


A, B = picture(20), picture(235)


def is_a(data: bytes) -> bool:
    return float(pyvips.Image.new_from_buffer(data, "").avg()) < 128


class Replicas:
    def __init__(self, one: Client, two: Client, bucket: HookedStorage, clock: Clock) -> None:
        self.one, self.two, self.bucket, self.clock = one, two, bucket, clock

    async def settle(self) -> None:
        for client in (self.one, self.two):
            await client.app[SERVICES].tasks.drain(10)


@pytest.fixture
async def replicas(
    s3_bucket: str,
    moto_endpoint: str,
    aio_session: AioSession,
    aiohttp_client: Callable[..., Awaitable[Client]],
    tmp_path: Path,
) -> AsyncIterator[Replicas]:
    """Replica one writes; replica two reads, through hooks that can hold its reads."""
    opened: list[Storage] = []
    for _ in range(2):
        s3 = await S3Storage.open(
            s3_bucket, "", endpoint_url=moto_endpoint, region="us-east-1",
            max_connections=8, timeout=5.0, session=aio_session,
        )  # fmt: skip
        opened.append(s3)
    clock, settings = Clock(), make_settings(tmp_path)
    bucket = HookedStorage(opened[1])
    one = await aiohttp_client(create_app(settings, storage=opened[0], clock=clock))
    two = await aiohttp_client(create_app(settings, storage=bucket, clock=clock))
    yield Replicas(one, two, bucket, clock)
    await one.close()
    await two.close()
    for storage in opened:
        await storage.close()


async def answer(client: Client, key: str) -> tuple[int, bytes, str]:
    response = await client.get("/" + key, headers={"Accept": "*/*"})
    return response.status, await response.read(), response.headers.get("X-Mediaproxy", "")


@pytest.mark.parametrize("key", [ORIGINAL, SIZE])
async def test_delete_on_one_replica_shows_on_the_other_within_the_ttl(
    replicas: Replicas, key: str
) -> None:
    await replicas.bucket.inner.put(ORIGINAL, A, content_type="image/jpeg")
    assert (await answer(replicas.two, key))[0] == 200
    await replicas.settle()
    assert (await answer(replicas.two, key))[2] == "memory"
    response = await replicas.one.delete("/" + ORIGINAL, headers=AUTH)
    assert response.status == 204
    replicas.clock.now += TTL
    status, _, source = await answer(replicas.two, key)
    assert (status, source) == (404, "")


@pytest.mark.parametrize("key", [ORIGINAL, SIZE])
async def test_reupload_on_one_replica_shows_on_the_other_within_the_ttl(
    replicas: Replicas, key: str
) -> None:
    await replicas.bucket.inner.put(ORIGINAL, A, content_type="image/jpeg")
    assert (await answer(replicas.two, key))[0] == 200
    await replicas.settle()
    response = await replicas.one.put("/" + ORIGINAL, data=B, headers=AUTH)
    assert response.status == 201
    replicas.clock.now += TTL
    status, body, _ = await answer(replicas.two, key)
    assert status == 200
    assert not is_a(body)


async def test_the_bound_counts_from_when_the_read_started(replicas: Replicas) -> None:
    """A read that began before the delete and ends well after it cannot keep the old
    bytes any longer than `memory_ttl` after the delete."""
    await replicas.bucket.inner.put(ORIGINAL, A, content_type="image/jpeg")
    held = replicas.bucket.pause("get", ORIGINAL)
    reading = asyncio.create_task(replicas.two.get("/" + ORIGINAL))
    await held.reached.wait()  # replica two has read A
    assert (await replicas.one.delete("/" + ORIGINAL, headers=AUTH)).status == 204
    replicas.clock.now += TTL / 2  # the read is slow to finish
    held.release()
    assert (await reading).status == 200
    replicas.clock.now += TTL / 2
    assert (await answer(replicas.two, ORIGINAL))[0] == 404


async def test_render_of_the_old_original_on_another_replica_is_not_left_in_storage(
    replicas: Replicas,
) -> None:
    """Replica two renders from A while replica one replaces A with B: two cannot know,
    but after its store it checks the original is still the one it read, and deletes
    the size it stored when not; so the bucket never keeps a size of A."""
    await replicas.bucket.inner.put(ORIGINAL, A, content_type="image/jpeg")
    held = replicas.bucket.pause("get", ORIGINAL)
    rendering = asyncio.create_task(replicas.two.get("/" + SIZE))
    await held.reached.wait()  # replica two downloaded A for the render
    assert (await replicas.one.put("/" + ORIGINAL, data=B, headers=AUTH)).status == 201
    held.release()
    assert (await rendering).status == 200
    await replicas.settle()
    stored = await replicas.bucket.inner.get(SIZE)
    assert stored.body is None or not is_a(await stored.body.read())
    replicas.clock.now += TTL
    status, body, _ = await answer(replicas.two, SIZE)
    assert status == 200
    assert not is_a(body)


async def stored_pictures(replicas: Replicas) -> dict[str, bool]:
    """Every object of the original now in the bucket: key → whether it shows A."""
    found = {}
    async for listed in replicas.bucket.inner.list("t1/"):
        stored = await replicas.bucket.inner.get(listed.key)
        assert stored.body is not None
        found[listed.key] = is_a(await stored.body.read())
    return found


@pytest.mark.parametrize(("mode", "status"), [("sync", 201), ("background", 202)])
async def test_two_uploads_on_two_replicas_never_leave_sizes_of_the_loser(
    replicas: Replicas, mode: str, status: int
) -> None:
    """Replica two stores A and its sizes, one of them late, after replica one stored B
    and all of B's: two sees after its stores that the original is no longer its A and
    deletes the sizes it stored; what is left is B's or missing (rendered on demand)."""
    late = replicas.bucket.pause("put", SIZE)
    target = f"/{ORIGINAL}?sizes={mode}"
    uploading = asyncio.create_task(replicas.two.put(target, data=A, headers=AUTH))
    await late.reached.wait()  # A is stored, and every size of A but one
    assert (await replicas.one.put("/" + ORIGINAL, data=B, headers=AUTH)).status == 201
    late.release()
    assert (await uploading).status == status
    await replicas.settle()
    left = await stored_pictures(replicas)
    assert left[ORIGINAL] is False
    assert [key for key, shows_a in left.items() if shows_a] == []


@pytest.mark.parametrize(("mode", "status"), [("sync", 201), ("background", 202)])
async def test_an_upload_racing_a_delete_on_another_replica_leaves_no_orphan(
    replicas: Replicas, mode: str, status: int
) -> None:
    late = replicas.bucket.pause("put", SIZE)
    target = f"/{ORIGINAL}?sizes={mode}"
    uploading = asyncio.create_task(replicas.two.put(target, data=A, headers=AUTH))
    await late.reached.wait()
    assert (await replicas.one.delete("/" + ORIGINAL, headers=AUTH)).status == 204
    late.release()
    assert (await uploading).status == status
    await replicas.settle()
    assert await stored_pictures(replicas) == {}
