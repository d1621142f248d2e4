"""The shipped nginx configs (nginx/*.conf.template) in front of a real mediaproxy and moto.

The real nginx binary runs on loopback with a template rendered for test ports, moto is
the bucket (keys under the prefix `media/`), and mediaproxy runs in this event loop with
an access log the tests read. nginx's access log says which upstream answered each
request; `up=-` means nginx answered by itself and proxied nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from proxy.app import create_app
from proxy.services import SERVICES
from tests import images
from tests.conftest import RawS3
from tests.nginx_helpers import PLACEHOLDER, TEMPLATES, Nginx, metric, render
from tests.serving import GUARD, UPLOAD_KEY, free_port, make_settings, raw_get

PREFIX = "media"
ORIGINAL = "t1/full/1/3/1335478295542.jpg"
SIZED = "t1/300x/1/3/1335478295542.jpg"
BUCKET_FIRST = "bucket-first.conf.template"
PRIVATE = "private-bucket.conf.template"
BEARER = {"Authorization": f"Bearer {UPLOAD_KEY}"}


def recorder(log: list[str]) -> type[AbstractAccessLogger]:
    """An aiohttp access logger that appends `METHOD /raw/path STATUS` to `log`."""

    class Recorder(AbstractAccessLogger):
        def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
            log.append(f"{request.method} {request.raw_path} {response.status}")

    return Recorder


@dataclass
class Stack:
    """moto's bucket, one mediaproxy on it, and the nginx instances a test starts."""

    bucket: str
    s3: RawS3
    http: ClientSession
    moto: str
    app: web.Application
    mediaproxy: str
    root: Path
    log: list[str]
    started: list[Nginx] = field(default_factory=list)

    def nginx(self, template: str, **overrides: str) -> Nginx:
        """Start nginx with `template`; `overrides` replace placeholder values."""
        port = free_port()
        root = self.root / f"nginx{len(self.started)}"
        endpoint = self.moto.removeprefix("http://")
        values = {
            "LISTEN": f"127.0.0.1:{port}",
            "BUCKET_SCHEME": "http",
            "BUCKET_SERVER": endpoint,
            "BUCKET_HOST": endpoint,
            "BUCKET_PATH": f"/{self.bucket}/{PREFIX}",
            "MEDIAPROXY_UPSTREAM": self.mediaproxy.removeprefix("http://"),
            "CACHE_DIR": str(root / "cache"),
            "ADMIN_NET": "127.0.0.1/32",
        } | overrides
        nginx = Nginx(root, render(template, values), port)
        self.started.append(nginx)
        nginx.start()
        return nginx

    def put(self, key: str, data: bytes, **extra: str) -> None:
        self.s3.client.put_object(
            Bucket=self.bucket, Key=f"{PREFIX}/{key}", Body=data, ContentType="image/jpeg", **extra
        )

    def keys(self, under: str) -> list[str]:
        return [
            key.removeprefix(f"{PREFIX}/")
            for key in self.s3.list(self.bucket, PREFIX)
            if key.startswith(f"{PREFIX}/{under}")
        ]

    def seen(self) -> list[str]:
        """What reached mediaproxy, its /metrics (read by the tests) left out."""
        return [line for line in self.log if " /metrics " not in line]

    async def get(self, url: str, method: str = "GET") -> tuple[ClientResponse, bytes]:
        async with self.http.request(method, url) as response:
            return response, await response.read()

    async def renders(self) -> float:
        async with self.http.get(f"{self.mediaproxy}/metrics") as response:
            return metric(await response.text(), "mediaproxy_renders_total")

    async def settle(self) -> None:
        """Wait for mediaproxy's background stores: what it rendered is in the bucket then."""
        await self.app[SERVICES].tasks.drain(GUARD)

    async def wait_for(self, check: Callable[[], Any], what: str, seconds: float = GUARD) -> None:
        """Poll `check` (blocking calls are fine: it runs in a thread) until truthy, for
        what gives no event to wait on (nginx writing its log)."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    if await asyncio.to_thread(check):
                        return
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")


def make_public(s3: RawS3, bucket: str) -> None:
    """The read policy nginx/README.md gives shops, plus `s3:HeadObject`: moto checks an
    anonymous HEAD against that name, where AWS (which has no such action) checks GetObject."""
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject", "s3:HeadObject"],
        "Resource": f"arn:aws:s3:::{bucket}/{PREFIX}/*",
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    s3.client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


@pytest.fixture
async def stack(
    tmp_path: Path, moto_endpoint: str, s3_raw: RawS3, s3_bucket: str
) -> AsyncIterator[Stack]:
    make_public(s3_raw, s3_bucket)
    settings = make_settings(
        tmp_path,
        f"""
        [server]
        trusted_proxies = ["127.0.0.1/32"]
        [storage]
        url = "s3://{s3_bucket}/{PREFIX}"
        endpoint_url = "{moto_endpoint}"
        """,
    )
    log: list[str] = []
    app = create_app(settings)
    runner = web.AppRunner(app, access_log_class=recorder(log))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        mediaproxy = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with ClientSession() as http:
            stack = Stack(s3_bucket, s3_raw, http, moto_endpoint, app, mediaproxy, tmp_path, log)
            try:
                yield stack
            finally:
                for nginx in stack.started:
                    nginx.stop()
    finally:
        await runner.cleanup()


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
    head, _ = await stack.get(f"{nginx.url}/{SIZED}", "HEAD")
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
    head, _ = await stack.get(f"{nginx.url}/{SIZED}", "HEAD")
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
    nginx = stack.nginx(template)
    for target in BAD_TARGETS:
        status, body = await raw_get(nginx.port, target)
        assert (target, status) == (target, 400)
        assert b"canary" not in body
    await stack.wait_for(lambda: len(nginx.access_log()) == len(BAD_TARGETS), "nginx's log")
    assert [line for line in nginx.access_log() if " up=- " not in line] == []
    assert stack.seen() == []


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
