"""The shipped nginx configs (nginx/*.conf.template) in front of a real mediaproxy and moto.

The real nginx binary runs on loopback with a template rendered for test ports, moto is
the bucket (keys under the prefix `media/`), and mediaproxy runs in this event loop with
an access log the tests read. nginx's access log says which upstream answered each
request; `up=-` means nginx answered by itself and proxied nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config import CacheSettings
from tests import images
from tests.conftest import RawS3
from tests.nginx_helpers import PLACEHOLDER, TEMPLATES, Stack, running_stack
from tests.serving import UPLOAD_KEY, free_port

PREFIX = "media"
ORIGINAL = "t1/full/1/3/1335478295542.jpg"
SIZED = "t1/300x/1/3/1335478295542.jpg"
BUCKET_FIRST = "bucket-first.conf.template"
PRIVATE = "private-bucket.conf.template"
BEARER = {"Authorization": f"Bearer {UPLOAD_KEY}"}


@pytest.fixture
async def stack(
    tmp_path: Path, moto_endpoint: str, s3_raw: RawS3, s3_bucket: str
) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, moto_endpoint, s3_raw, s3_bucket, prefix=PREFIX) as stack:
        yield stack


# (1)
async def test_existing_size_is_served_by_the_bucket_alone(stack: Stack) -> None:
    body = images.jpeg(300, 240)
    stack.put(SIZED, body, CacheControl="public, max-age=31536000")
    nginx = stack.nginx(BUCKET_FIRST)
    response, data = await stack.get(f"{nginx.url}/{SIZED}")
    assert (response.status, data) == (200, body)
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Cache-Control"] == "public, max-age=31536000"
    assert response.headers["X-Mediaproxy"] == "bucket"
    assert [name for name in response.headers if name.lower().startswith("x-amz")] == []
    assert "Set-Cookie" not in response.headers
    head, _ = await stack.get(f"{nginx.url}/{SIZED}", method="HEAD")
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(body))
    # The query string never reaches S3, where `?acl`, `?tagging`... name other resources.
    for query in ("acl", "tagging", "response-content-type=text/html"):
        with_query, same = await stack.get(f"{nginx.url}/{SIZED}?{query}")
        assert (with_query.status, same) == (200, body)
        assert with_query.headers["Content-Type"] == "image/jpeg"
    revalidate = {"If-None-Match": response.headers["ETag"]}
    async with stack.http.get(f"{nginx.url}/{SIZED}", headers=revalidate) as cached:
        assert cached.status == 304
    assert stack.seen() == []
    assert await stack.renders() == 0


async def test_a_refusing_or_unreachable_bucket_falls_back_to_mediaproxy(stack: Stack) -> None:
    body = images.jpeg(300, 240)
    stack.put(SIZED, body)
    stack.s3.client.delete_bucket_policy(Bucket=stack.bucket)  # S3 now answers 403
    nginx = stack.nginx(BUCKET_FIRST)
    response, data = await stack.get(f"{nginx.url}/{SIZED}")
    assert (response.status, data) == (200, body)
    assert response.headers["X-Mediaproxy"] == "storage"
    assert stack.seen() == [f"GET /{SIZED} 200"]
    unreachable = stack.nginx(BUCKET_FIRST, BUCKET_SERVER=f"127.0.0.1:{free_port()}")
    response, data = await stack.get(f"{unreachable.url}/{SIZED}")  # nginx's own 502
    assert (response.status, data) == (200, body)


# (2)
async def test_missing_size_is_rendered_once_then_served_by_the_bucket(stack: Stack) -> None:
    stack.put(ORIGINAL, images.jpeg(1000, 800))
    nginx = stack.nginx(BUCKET_FIRST)
    first, rendered = await stack.get(f"{nginx.url}/{SIZED}")
    assert first.status == 200
    assert first.headers["X-Mediaproxy"] == "render"
    assert first.headers["X-Cache-Status"] == "MISS"
    assert first.headers["Cache-Control"] == "public, max-age=31536000"
    await stack.settle()
    assert stack.keys("t1/300x/") == [SIZED]
    second, data = await stack.get(f"{nginx.url}/{SIZED}")
    assert (second.status, data) == (200, rendered)
    assert second.headers["X-Mediaproxy"] == "bucket"
    assert stack.seen() == [f"GET /{SIZED} 200"]
    assert await stack.renders() == 1


# (3)
@pytest.mark.parametrize("template", [BUCKET_FIRST, PRIVATE])
async def test_concurrent_misses_through_nginx_render_once(stack: Stack, template: str) -> None:
    stack.put(ORIGINAL, images.jpeg(1600, 1200))
    nginx = stack.nginx(template)
    answers = await asyncio.gather(*(stack.get(f"{nginx.url}/{SIZED}") for _ in range(30)))
    assert {response.status for response, _ in answers} == {200}
    assert len({data for _, data in answers}) == 1
    assert await stack.renders() == 1
    # proxy_cache_lock: the other 29 waited for that one answer instead of asking too.
    assert stack.seen() == [f"GET /{SIZED} 200"]


# (4)
async def test_mediaproxy_404s_pass_through_unchanged(stack: Stack) -> None:
    stack.put(ORIGINAL, images.jpeg(400, 300))
    stack.put("t1/full/small_image.jpg", images.jpeg(200, 200))
    nginx = stack.nginx(BUCKET_FIRST)
    unconfigured, body = await stack.get(f"{nginx.url}/t1/301x/1/3/1335478295542.jpg")
    assert unconfigured.status == 404
    assert b"unknown size" in body
    placeholder, image = await stack.get(f"{nginx.url}/t1/300x/n/o/nothing.jpg")
    assert placeholder.status == 404
    assert placeholder.headers["X-Mediaproxy"] == "placeholder"
    assert placeholder.headers["Content-Type"] == "image/jpeg"
    assert image.startswith(b"\xff\xd8")
    assert stack.seen() == [
        "GET /t1/301x/1/3/1335478295542.jpg 404",
        "GET /t1/300x/n/o/nothing.jpg 404",
    ]
    assert stack.keys("t1/301x/") == []


# (5)
async def test_private_bucket_variant_serves_hits_and_misses_from_its_cache(
    stack: Stack,
) -> None:
    stack.put(ORIGINAL, images.jpeg(800, 600))
    nginx = stack.nginx(PRIVATE)
    for path, source in ((ORIGINAL, "storage"), (SIZED, "render")):
        first, body = await stack.get(f"{nginx.url}/{path}")
        assert first.status == 200
        assert (first.headers["X-Mediaproxy"], first.headers["X-Cache-Status"]) == (source, "MISS")
        again, cached = await stack.get(f"{nginx.url}/{path}")
        assert (again.headers["X-Cache-Status"], cached) == ("HIT", body)
        assert again.headers.get("Cache-Control") == first.headers.get("Cache-Control")
    head, _ = await stack.get(f"{nginx.url}/{SIZED}", method="HEAD")
    assert (head.status, head.headers["X-Cache-Status"]) == (200, "HIT")
    assert stack.seen() == [f"GET /{ORIGINAL} 200", f"GET /{SIZED} 200"]
    assert await stack.renders() == 1


# (6)
BAD_TARGETS = [
    "/t1/full/../../outside.jpg",
    "/t1/300x/1/../../full/outside.jpg",
    "/t1/full/%2e%2e/%2e%2e/outside.jpg",
    "/t1/full/%2E%2E/outside.jpg",
    "/t1/full/..%2F..%2Foutside.jpg",
    "/t1/full/1%2F3/outside.jpg",
    "/t1/full/1%5C3/outside.jpg",
    "/t1/full/1\\3/outside.jpg",
    "/t1/full/./outside.jpg",
    "/t1//full/outside.jpg",
    "/t1/full/outside.jpg%00.png",
    "/t1/full/%6futside.jpg",
    "/t1/full/.hidden/outside.jpg",
    "/metrics/../t1/full/outside.jpg",
    "http://evil.example/t1/full/../../outside.jpg",
]


@pytest.mark.parametrize("template", [BUCKET_FIRST, PRIVATE])
async def test_dot_segments_and_encoded_separators_never_leave_nginx(
    stack: Stack, template: str
) -> None:
    for key in ("../outside.jpg", "outside.jpg", "t1/full/outside.jpg"):
        stack.put(key, b"canary")
    await stack.assert_refused_by_nginx(stack.nginx(template), BAD_TARGETS)


async def test_writes_reach_mediaproxy_only_from_the_admin_network(stack: Stack) -> None:
    nginx = stack.nginx(BUCKET_FIRST)
    url = f"{nginx.url}/{ORIGINAL}"
    async with stack.http.put(url, data=images.jpeg(640, 480), headers=BEARER) as put:
        assert put.status == 201, await put.text()
    assert SIZED in stack.keys("t1/")
    sized, _ = await stack.get(f"{nginx.url}/{SIZED}")
    assert sized.headers["X-Mediaproxy"] == "bucket"
    async with stack.http.post(url, data=b"x", headers=BEARER) as post:
        assert post.status == 405
    async with stack.http.delete(url, headers=BEARER) as delete:
        assert delete.status == 204
    assert stack.keys("t1/") == []
    assert [line.split(" ", 1)[0] for line in stack.seen()] == ["PUT", "DELETE"]

    elsewhere = stack.nginx(PRIVATE, ADMIN_NET="192.0.2.0/24")
    async with stack.http.put(f"{elsewhere.url}/{ORIGINAL}", data=b"x", headers=BEARER) as put:
        assert put.status == 403
    for endpoint, status in (("/metrics", 403), ("/readyz", 403), ("/healthz", 200)):
        response, _ = await stack.get(f"{elsewhere.url}{endpoint}")
        assert (endpoint, response.status) == (endpoint, status)
    assert stack.seen()[2:] == ["GET /healthz 200"]


def test_compose_gives_nginx_every_placeholder_of_its_template() -> None:
    compose = (TEMPLATES.parent / "compose.yaml").read_text(encoding="utf-8")
    template = (TEMPLATES / BUCKET_FIRST).read_text(encoding="utf-8")
    assert f"./nginx/{BUCKET_FIRST}:/etc/nginx/templates/" in compose
    missing = [
        name for name in set(PLACEHOLDER.findall(template)) if f"      {name}: " not in compose
    ]
    assert missing == []


@pytest.mark.parametrize("template", [BUCKET_FIRST, "magento2.conf.template"])
def test_bucket_first_nginx_keeps_mediaproxys_answers_no_longer_than_its_memory(
    template: str,
) -> None:
    """After a re-upload or delete the bucket answers anew or 404s and the request falls
    back to nginx's copy of mediaproxy's answer: kept longer than `cache.memory_ttl`, it
    would bring the old picture back after the README's "purge the CDN after that long"."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    assert re.findall(r"proxy_cache_valid ([^;]+);", text) == [
        f"200 404 {CacheSettings().memory_ttl:.0f}s"
    ]
