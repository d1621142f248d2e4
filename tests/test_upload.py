"""The write API (SPEC §5): uploads store every size before answering; deletes leave nothing."""

from __future__ import annotations

import asyncio
import io

import pytest
import pyvips
from aiohttp import ClientResponse
from multidict import CIMultiDict

from proxy.services import SERVICES
from storage import GetStatus, Storage
from tests import images
from tests.serving import (
    SIZES,
    UPLOAD_KEY,
    Client,
    GatedStorage,
    MakeClient,
    PoolBlockers,
    dims,
    eventually,
)

AUTH = {"Authorization": f"Bearer {UPLOAD_KEY}"}
SPECS = [s.strip() for s in SIZES.split(",")]
EXPECTED_1000x800 = {
    "300x": (300, 240),
    "300x300": (300, 240),
    "70x70": (70, 56),
    "170x170": (170, 136),
    "215x170": (213, 170),
    "65x65": (65, 52),
    "310x": (310, 248),
    "210x": (210, 168),
    "90x": (90, 72),
}


async def read(storage: Storage, key: str) -> tuple[bytes, str] | None:
    found = await storage.get(key)
    if found.status is not GetStatus.OK or found.body is None or found.meta is None:
        return None
    return await found.body.read(), found.meta.content_type


async def keys(storage: Storage, prefix: str = "t1/") -> list[str]:
    return sorted([o.key async for o in storage.list(prefix)])


def solid_jpeg(w: int, h: int, value: int) -> bytes:
    image = (pyvips.Image.black(w, h, bands=3) + value).cast("uchar").copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=90))


def mean(data: bytes) -> float:
    return float(pyvips.Image.new_from_buffer(data, "").avg())


async def test_upload_answers_after_every_size_is_stored(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client()
    response = await client.put("/t1/full/1/3/13.jpg", data=images.jpeg(1000, 800), headers=AUTH)
    assert response.status == 201
    result = await response.json()
    assert result["original"] == "t1/full/1/3/13.jpg"
    assert result["errors"] == {}
    assert set(result["sizes"]) == set(SPECS)
    for spec, size in EXPECTED_1000x800.items():
        found = await read(storage, f"t1/{spec}/1/3/13.jpg")
        assert found is not None, spec
        assert dims(found[0]) == size, spec
        assert found[1] == "image/jpeg"
    original = await read(storage, "t1/full/1/3/13.jpg")
    assert original is not None
    assert dims(original[0]) == (1000, 800)


async def test_background_upload_answers_202_then_sizes_appear(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client()
    response = await client.put(
        "/t1/full/b/g/bg.png?sizes=background", data=images.png(640, 480, alpha=True), headers=AUTH
    )
    assert response.status == 202
    assert await read(storage, "t1/full/b/g/bg.png") is not None
    await client.app[SERVICES].tasks.drain(20)
    for spec in SPECS:
        found = await read(storage, f"t1/{spec}/b/g/bg.png")
        assert found is not None, spec
        assert found[1] == "image/png"


async def test_sizes_none_stores_only_the_original(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client()
    response = await client.put(
        "/t1/full/n/o/no.jpg?sizes=none", data=images.jpeg(300, 200), headers=AUTH
    )
    assert response.status == 201
    assert await keys(storage) == ["t1/full/n/o/no.jpg"]


async def test_non_image_file_is_stored_as_is_without_sizes(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client()
    body = b"%PDF-1.4\n% a spec sheet\n"
    response = await client.put(
        "/t1/full/s/p/spec.pdf", data=body, headers=AUTH | {"Content-Type": "application/pdf"}
    )
    assert response.status == 201
    assert (await response.json())["sizes"] == {}
    assert await read(storage, "t1/full/s/p/spec.pdf") == (body, "application/pdf")
    assert await keys(storage) == ["t1/full/s/p/spec.pdf"]


async def test_reupload_replaces_every_size_even_one_in_memory(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client()
    assert (
        await client.put("/t1/full/r/e/re.jpg", data=solid_jpeg(800, 600, 20), headers=AUTH)
    ).status == 201
    cached = await client.get("/t1/70x70/r/e/re.jpg")
    assert cached.headers["X-Mediaproxy"] in {"storage", "memory"}
    assert mean(await cached.read()) < 40
    assert (
        await client.put("/t1/full/r/e/re.jpg", data=solid_jpeg(800, 600, 235), headers=AUTH)
    ).status == 201
    for spec in SPECS:
        found = await read(storage, f"t1/{spec}/r/e/re.jpg")
        assert found is not None
        assert mean(found[0]) > 215, spec
    served = await client.get("/t1/70x70/r/e/re.jpg")
    assert mean(await served.read()) > 215


async def test_delete_removes_original_and_every_size(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client()
    await client.put("/t1/full/d/e/del.jpg", data=images.jpeg(500, 400), headers=AUTH)
    assert (await client.get("/t1/300x/d/e/del.jpg")).status == 200
    response = await client.delete("/t1/full/d/e/del.jpg", headers=AUTH)
    assert response.status == 204
    assert await keys(storage) == []
    assert (await client.get("/t1/300x/d/e/del.jpg", headers={"Accept": "*/*"})).status == 404
    assert (await client.delete("/t1/full/d/e/del.jpg", headers=AUTH)).status == 404


@pytest.mark.parametrize(
    ("headers", "extra", "status"),
    [
        ({}, "", 401),
        ({"Authorization": "Bearer wrong-key-wrong-key-wrong"}, "", 401),
        ({"Authorization": UPLOAD_KEY}, "", 401),
        (AUTH, 'upload_allow = ["10.0.0.0/8"]\n', 403),
        (AUTH | {"X-Forwarded-For": "10.1.2.3"}, 'upload_allow = ["10.0.0.0/8"]\n', 403),
    ],
    ids=["no-key", "wrong-key", "no-scheme", "address", "spoofed-xff"],
)
async def test_writes_need_the_key_and_an_allowed_address(
    make_client: MakeClient, storage: Storage, headers: dict[str, str], extra: str, status: int
) -> None:
    client = await make_client(site=extra)
    response = await client.put("/t1/full/a/u/auth.jpg", data=images.jpeg(100, 80), headers=headers)
    assert response.status == status
    body = await response.json()
    assert body["status"] == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    delete = await client.delete("/t1/full/a/u/auth.jpg", headers=headers)
    assert delete.status == status
    assert await keys(storage) == []


async def test_forwarded_for_is_believed_from_a_trusted_proxy(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client(
        '[server]\ntrusted_proxies = ["127.0.0.1/32"]\n', site='upload_allow = ["10.0.0.0/8"]\n'
    )
    headers = AUTH | {"X-Forwarded-For": "10.1.2.3"}
    response = await client.put(
        "/t1/full/t/p/tp.jpg?sizes=none", data=images.jpeg(90, 60), headers=headers
    )
    assert response.status == 201


async def test_a_second_forwarded_for_line_is_the_nearer_hop(
    make_client: MakeClient, storage: Storage
) -> None:
    """A proxy that appends its own header line (HAProxy) after the client's: the client
    sent the first line, the proxy's line names the real client, which is not allowed."""
    client = await make_client(
        '[server]\ntrusted_proxies = ["127.0.0.1/32"]\n', site='upload_allow = ["10.0.0.0/8"]\n'
    )
    headers = CIMultiDict(AUTH)
    headers.add("X-Forwarded-For", "10.1.2.3")  # what the client made up
    headers.add("X-Forwarded-For", "203.0.113.9")  # what the trusted proxy saw
    response = await client.put(
        "/t1/full/t/p/tp.jpg?sizes=none", data=images.jpeg(90, 60), headers=headers
    )
    assert response.status == 403
    assert await keys(storage) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (images.truncated_jpeg(400, 300), 422),
        (images.html(), 415),
        (images.svg(), 415),
        (b"", 415),
        (images.jpeg(1200, 900, quality=95), 413),
    ],
    ids=["truncated", "html", "svg", "empty", "oversize"],
)
async def test_bad_uploads_write_nothing(
    make_client: MakeClient, storage: Storage, body: bytes, status: int
) -> None:
    client = await make_client(RESIZE_MAX_SOURCE_BYTES="100000")
    response = await client.put("/t1/full/b/a/bad.jpg", data=body, headers=AUTH)
    assert response.status == status
    assert "error" in await response.json()
    assert await keys(storage) == []


async def test_twenty_concurrent_uploads_all_complete(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client()
    sources = {n: images.jpeg(400 + n * 10, 300) for n in range(20)}
    responses = await asyncio.gather(
        *(
            client.put(f"/t1/full/c/c/{n}.jpg", data=body, headers=AUTH)
            for n, body in sources.items()
        )
    )
    assert [r.status for r in responses] == [201] * 20
    stored = await keys(storage)
    assert len(stored) == 20 * (1 + len(SPECS))
    for n in range(20):
        found = await read(storage, f"t1/300x/c/c/{n}.jpg")
        assert found is not None
        assert dims(found[0])[0] in {299, 300}  # Magento rounds some widths down


def start(
    client: Client, method: str, path: str, data: bytes = b""
) -> asyncio.Task[ClientResponse]:
    """Start a request now; await the task for its response. A body goes as a stream:
    aiohttp warns (ResourceWarning) about large bodies passed as bytes."""

    async def send() -> ClientResponse:
        body = io.BytesIO(data) if data else None
        return await client.request(method, path, data=body, headers=AUTH)

    return asyncio.create_task(send())


async def test_uploads_do_not_starve_reads(make_client: MakeClient, storage: Storage) -> None:
    await storage.put("t1/full/r/d/read.jpg", images.jpeg(1600, 1200), content_type="image/jpeg")
    # Stores of the uploaded originals wait here: no upload can finish before we say so.
    gated = GatedStorage(storage, hold_puts=lambda key: key.startswith("t1/full/u/p/"))
    client = await make_client(RESIZE_WORKERS="2", RESIZE_QUEUE="0", storage=gated)
    pool = client.app[SERVICES].pool
    async with PoolBlockers(pool, 2) as blockers:  # both resize threads busy
        upload = images.jpeg(2400, 1800)
        uploads = [start(client, "PUT", f"/t1/full/u/p/{n}.jpg", upload) for n in range(4)]
        # One upload render queued; the other three wait for the single upload slot.
        await eventually(lambda: pool.depth == 2 + 1, "an upload render queued")
        reads = [start(client, "GET", f"/t1/{s}/r/d/read.jpg") for s in ("300x", "90x")]
        await eventually(lambda: pool.depth == 2 + 2, "the reads' render queued after it")
        blockers.release(1)  # one thread free: the reads' render goes first, queued last
        assert [(await r).status for r in reads] == [200, 200]
        assert not any(u.done() for u in uploads), "reads waited for an upload"
    gated.open()
    assert [(await u).status for u in uploads] == [201] * 4
