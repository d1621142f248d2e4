"""The read path (SPEC §4), one behaviour suite over both storage backends."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from aiohttp import ClientResponse

from proxy.services import SERVICES
from storage import GetStatus, Storage
from tests import images
from tests.serving import (
    Client,
    GatedStorage,
    MakeClient,
    PoolBlockers,
    dims,
    eventually,
    raw_get,
)

ORIGINAL = "t1/full/1/3/1335478295542.jpg"
# Siblings off, for tests that count the renders and stores of exactly the sizes asked.
ALONE = "render_siblings = false"


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def metrics_of(client: Client) -> str:
    return await (await client.get("/metrics")).text()


async def settle(client: Client) -> None:
    """Wait for background stores, so what the response promised is in storage."""
    await client.app[SERVICES].tasks.drain(10)


def fetch(client: Client, path: str) -> asyncio.Task[ClientResponse]:
    """Start a GET now; await the task for its response."""

    async def get() -> ClientResponse:
        return await client.get(path)

    return asyncio.create_task(get())


async def stored(storage: Storage, key: str) -> tuple[bytes, str, str | None] | None:
    found = await storage.get(key)
    if found.status is not GetStatus.OK or found.body is None or found.meta is None:
        return None
    return await found.body.read(), found.meta.content_type, found.meta.cache_control


async def test_stored_size_is_served_with_its_headers(
    make_client: MakeClient, storage: Storage
) -> None:
    body = images.jpeg(300, 240)
    await storage.put(
        "t1/300x/1/3/a.jpg", body, content_type="image/jpeg", cache_control="max-age=9"
    )
    client = await make_client(MEMORY_OFF)
    response = await client.get("/t1/300x/1/3/a.jpg")
    assert response.status == 200
    assert await response.read() == body
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Cache-Control"] == "max-age=9"
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers["ETag"].startswith('"')
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["X-Mediaproxy"] == "storage"


MEMORY_OFF = "[cache]\nmemory_bytes = 0\n"


async def test_miss_renders_stores_under_the_exact_key_and_returns(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put(ORIGINAL, images.jpeg(1000, 800), content_type="image/jpeg")
    client = await make_client()
    response = await client.get("/t1/215x170/1/3/1335478295542.jpg")
    assert response.status == 200
    body = await response.read()
    assert dims(body) == (213, 170)
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["X-Mediaproxy"] == "render"
    await settle(client)
    assert await stored(storage, "t1/215x170/1/3/1335478295542.jpg") == (
        body,
        "image/jpeg",
        "public, max-age=31536000",
    )
    again = await client.get("/t1/215x170/1/3/1335478295542.jpg")
    assert again.headers["X-Mediaproxy"] == "memory"
    assert await again.read() == body


async def test_conditional_requests_get_304(make_client: MakeClient, storage: Storage) -> None:
    await storage.put(ORIGINAL, images.jpeg(400, 300), content_type="image/jpeg")
    for extra in ("", MEMORY_OFF):
        client = await make_client(extra)
        first = await client.get("/t1/70x70/1/3/1335478295542.jpg")
        await settle(client)
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        by_etag = await client.get(
            "/t1/70x70/1/3/1335478295542.jpg", headers={"If-None-Match": etag}
        )
        assert by_etag.status == 304
        assert await by_etag.read() == b""
        by_date = await client.get(
            "/t1/70x70/1/3/1335478295542.jpg", headers={"If-Modified-Since": modified}
        )
        assert by_date.status == 304
        stale = await client.get(
            "/t1/70x70/1/3/1335478295542.jpg", headers={"If-None-Match": '"stale"'}
        )
        assert stale.status == 200


async def test_head_gives_headers_without_body(make_client: MakeClient, storage: Storage) -> None:
    body = images.jpeg(200, 100)
    await storage.put("t1/90x/a/b/ab.jpg", body, content_type="image/jpeg")
    client = await make_client(MEMORY_OFF)
    response = await client.head("/t1/90x/a/b/ab.jpg")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers["Content-Type"] == "image/jpeg"
    assert await response.read() == b""


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/nope/300x/1/3/a.jpg", "unknown site"),
        ("/t1/301x/1/3/a.jpg", "unknown size"),
        ("/t1/300x300x/1/3/a.jpg", "unknown size"),
        ("/t1/full/1/3/missing.jpg", "no such image"),
    ],
)
async def test_unknown_site_size_or_object_is_404(
    make_client: MakeClient, path: str, reason: str
) -> None:
    client = await make_client()
    response = await client.get(path)
    assert response.status == 404
    assert reason in await response.text()


async def test_strict_mode_serves_only_what_exists(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put(ORIGINAL, images.jpeg(500, 400), content_type="image/jpeg")
    client = await make_client(RESIZE_DYNAMIC="false")
    response = await client.get("/t1/300x/1/3/1335478295542.jpg")
    assert response.status == 404
    await settle(client)
    assert [o.key async for o in storage.list("t1/300x/")] == []
    assert metric(await metrics_of(client), "mediaproxy_renders_total") == 0


async def test_missing_original_gets_the_placeholder_at_that_size(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put("t1/full/small_image.jpg", images.jpeg(600, 600), content_type="image/jpeg")
    client = await make_client()
    response = await client.get("/t1/215x170/9/9/99.jpg")
    assert response.status == 404
    assert dims(await response.read()) == (170, 170)
    assert response.headers["Cache-Control"] == "public, max-age=300"
    await settle(client)
    assert await stored(storage, "t1/215x170/9/9/99.jpg") is None
    assert await stored(storage, "t1/215x170/small_image.jpg") is not None


async def test_placeholder_status_can_be_200(make_client: MakeClient, storage: Storage) -> None:
    await storage.put("t1/full/small_image.jpg", images.jpeg(600, 600), content_type="image/jpeg")
    client = await make_client(site="placeholder_status = 200\n")
    response = await client.get("/t1/70x70/9/9/99.jpg")
    assert response.status == 200
    assert dims(await response.read()) == (70, 70)


async def test_non_image_original_is_served_and_refuses_resizing(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put(
        "t1/full/d/o/doc.jpg", b"%PDF-1.4 not an image", content_type="application/pdf"
    )
    client = await make_client()
    full = await client.get("/t1/full/d/o/doc.jpg")
    assert full.status == 200
    assert full.headers["Content-Type"] == "application/pdf"
    assert await full.read() == b"%PDF-1.4 not an image"
    resized = await client.get("/t1/300x/d/o/doc.jpg")
    assert resized.status == 415


async def test_large_original_streams_unchanged(make_client: MakeClient, storage: Storage) -> None:
    body = images.jpeg(2400, 1800, quality=98)
    assert len(body) > 2_097_152 // 4
    await storage.put(ORIGINAL, body, content_type="image/jpeg")
    client = await make_client("[cache]\nmax_item_bytes = 65536\n")
    response = await client.get("/" + ORIGINAL)
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(body))
    assert await response.read() == body


async def test_fifty_concurrent_requests_make_one_render_and_one_put(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put(ORIGINAL, images.jpeg(1600, 1200), content_type="image/jpeg")
    gated = GatedStorage(storage, hold_gets=lambda key: key == ORIGINAL)
    client = await make_client(site=ALONE, storage=gated)
    sized = "t1/300x300/1/3/1335478295542.jpg"
    requests = [fetch(client, f"/{sized}") for _ in range(50)]
    # The original's download waits until every request has looked the size up and missed.
    await gated.wait_until(
        lambda: gated.answered[sized] == 50 and gated.parked == 1, "50 lookups, one download"
    )
    gated.open()
    responses = await asyncio.gather(*requests)
    bodies = {await r.read() for r in responses}
    assert {r.status for r in responses} == {200}
    assert len(bodies) == 1
    await settle(client)
    text = await metrics_of(client)
    assert metric(text, "mediaproxy_renders_total") == 1
    assert metric(text, "mediaproxy_storage_seconds_count", 'op="put"') == 1
    # one lookup per request, one download of the original
    assert metric(text, "mediaproxy_storage_seconds_count", 'op="get"') == 51
    assert gated.answered[ORIGINAL] == 1


async def test_sizes_of_one_original_asked_together_share_one_download(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put(ORIGINAL, images.jpeg(1600, 1200), content_type="image/jpeg")
    gated = GatedStorage(storage, hold_gets=lambda key: key == ORIGINAL)
    client = await make_client(MEMORY_OFF, site=ALONE, storage=gated)
    sizes = ["300x", "70x70", "170x170", "215x170"]
    requests = [fetch(client, f"/t1/{size}/1/3/1335478295542.jpg") for size in sizes]
    # Every size is asked for while the original is still downloading: one batch.
    await gated.wait_until(
        lambda: sum(gated.answered.values()) == 4 and gated.parked == 1, "4 lookups, 1 download"
    )
    gated.open()
    responses = await asyncio.gather(*requests)
    assert [dims(await r.read()) for r in responses] == [
        (300, 225),
        (70, 53),
        (170, 128),
        (215, 161),
    ]
    text = await metrics_of(client)
    # four misses look up four keys, then read the original once
    assert metric(text, "mediaproxy_storage_seconds_count", 'op="get"') == 5
    assert metric(text, "mediaproxy_renders_total") == 1  # one decode pass for all four


BAD_ORIGINALS = [
    ("empty", b"", 415),
    ("truncated", images.truncated_jpeg(400, 300), 422),
    ("html", images.html(), 415),
    ("svg", images.svg(), 415),
    ("bomb", images.png_header_claiming(100_000, 100_000), 413),
]


@pytest.mark.parametrize(
    ("name", "body", "status"), BAD_ORIGINALS, ids=[b[0] for b in BAD_ORIGINALS]
)
async def test_bad_original_gets_a_clear_4xx_and_serving_goes_on(
    make_client: MakeClient, storage: Storage, name: str, body: bytes, status: int
) -> None:
    await storage.put(f"t1/full/b/a/{name}.jpg", body, content_type="image/jpeg")
    await storage.put(ORIGINAL, images.jpeg(300, 200), content_type="image/jpeg")
    client = await make_client()
    response = await client.get(f"/t1/300x/b/a/{name}.jpg")
    assert response.status == status
    text = await response.text()
    assert "Traceback" not in text
    assert 0 < len(text) < 200
    await settle(client)
    assert await stored(storage, f"t1/300x/b/a/{name}.jpg") is None
    assert (await client.get("/t1/300x/1/3/1335478295542.jpg")).status == 200


async def test_original_over_the_byte_limit_is_413(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put(ORIGINAL, images.jpeg(800, 600), content_type="image/jpeg")
    client = await make_client(RESIZE_MAX_SOURCE_BYTES="1000")
    response = await client.get("/t1/300x/1/3/1335478295542.jpg")
    assert response.status == 413


BAD_PATHS = [
    "/t1/300x/../full/a.jpg",
    "/t1/300x/%2e%2e/full/a.jpg",
    "/t1/300x/a%2Fb.jpg",
    "/t1/300x/a%5Cb.jpg",
    "/t1/300x/a\\b.jpg",
    "/t1/300x/a%00.jpg",
    "/t1/300x//a.jpg",
    "/t1/300x/.hidden.jpg",
    "/t1/300x/" + "a" * 2000 + ".jpg",
    "/t1/300x/%zz.jpg",
]


@pytest.mark.parametrize("target", BAD_PATHS)
async def test_bad_paths_are_400_without_touching_storage(
    make_client: MakeClient, target: str
) -> None:
    client = await make_client()
    assert client.port is not None
    status, body = await raw_get(client.port, target)
    assert status == 400
    assert b"Traceback" not in body
    text = await metrics_of(client)
    assert "mediaproxy_storage_seconds_count" not in text or all(
        metric(text, "mediaproxy_storage_seconds_count", f'op="{op}"') == 0
        for op in ("get", "head")
    )


async def test_full_queue_answers_503_with_retry_after(
    make_client: MakeClient, storage: Storage
) -> None:
    for n in range(6):
        await storage.put(f"t1/full/q/{n}.jpg", images.jpeg(2000, 1500), content_type="image/jpeg")
    gated = GatedStorage(storage, hold_gets=lambda key: key.startswith("t1/full/q/"))
    client = await make_client(RESIZE_WORKERS="1", RESIZE_QUEUE="0", storage=gated)
    first = fetch(client, "/t1/300x/q/0.jpg")
    await gated.wait_until(lambda: gated.parked == 1, "the first render's download")
    # That render holds the one place (a worker, no queue) until its original arrives.
    busy = await asyncio.gather(*(client.get(f"/t1/300x/q/{n}.jpg") for n in range(1, 6)))
    assert [r.status for r in busy] == [503] * 5
    assert {r.headers["Retry-After"] for r in busy} == {"1"}
    gated.open()
    assert (await first).status == 200


async def test_event_loop_stays_responsive_while_the_pool_is_saturated(
    make_client: MakeClient, storage: Storage
) -> None:
    originals = {n: images.jpeg(1200, 800) for n in range(8)}
    for n, data in originals.items():
        await storage.put(f"t1/full/l/{n}.jpg", data, content_type="image/jpeg")
    client = await make_client(RESIZE_WORKERS="2")
    pool = client.app[SERVICES].pool
    async with PoolBlockers(pool, 2):  # both resize threads busy until the block ends
        renders = [fetch(client, f"/t1/{s}/l/{n}.jpg") for n in range(8) for s in ("300x", "70x70")]
        await eventually(lambda: pool.depth > 2, "renders queued behind the busy threads")
        # The loop answers while every resize thread is busy and renders wait for one.
        assert (await client.get("/healthz")).status == 200
        original = await client.get("/t1/full/l/0.jpg")
        assert (original.status, await original.read()) == (200, originals[0])
        assert metric(await metrics_of(client), "mediaproxy_resize_queue_depth") > 2
        assert not any(render.done() for render in renders)
    responses = await asyncio.gather(*renders)
    assert {r.status for r in responses} == {200}


async def test_health_ready_and_metrics(make_client: MakeClient, storage: Storage) -> None:
    await storage.put(ORIGINAL, images.jpeg(400, 300), content_type="image/jpeg")
    client = await make_client()
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    for _ in range(3):  # a render, then two memory hits
        assert (await client.get("/t1/300x300/1/3/1335478295542.jpg")).status == 200
    assert (await client.get("/t1/300x300/1/3/none.jpg")).status == 404
    text = await metrics_of(client)
    # Probes and scrapes are not counted; every image request is, by method and status.
    assert metric(text, "mediaproxy_requests_total", 'method="GET",status="200"') == 3
    assert metric(text, "mediaproxy_requests_total", 'method="GET",status="404"') == 1
    assert metric(text, "mediaproxy_cache_total", 'result="memory"') == 2
    assert metric(text, "mediaproxy_cache_total", 'result="miss"') == 2
    assert "mediaproxy_resize_queue_depth" in text


async def test_unserved_methods_get_405_with_allow(make_client: MakeClient) -> None:
    client = await make_client()
    for method in ("PATCH", "OPTIONS"):
        response = await client.request(method, "/t1/300x300/l/0.jpg")
        assert response.status == 405
        assert response.headers["Allow"] == "GET, HEAD, PUT, DELETE"
        assert await response.text() == "method not allowed\n"
    posted = await client.post("/t1/full/l/0.jpg", data=b"x")  # the API's verbs answer JSON
    assert (posted.status, posted.headers["Allow"]) == (405, "GET, HEAD, PUT, DELETE")
    assert await posted.json() == {"error": "method not allowed", "status": 405}
    text = await metrics_of(client)
    assert metric(text, "mediaproxy_requests_total", 'method="other",status="405"') == 3


async def test_objects_stored_without_cache_control_get_the_default(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put("t1/full/n/c/nocc.jpg", images.jpeg(200, 100), content_type="image/jpeg")
    client = await make_client(MEMORY_OFF)
    for method in (client.get, client.head):
        response = await method("/t1/full/n/c/nocc.jpg")
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000"


@pytest.mark.parametrize(
    "target", ["/t1/300x/" + "a" * 9000 + ".jpg", "/t1/300x/a/b/c.jpg?width=\xef\xbc\x91"]
)
async def test_requests_aiohttp_cannot_parse_are_400_without_a_logged_traceback(
    make_client: MakeClient, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    assert client.port is not None
    status, _ = await raw_get(client.port, target)
    assert status == 400
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
