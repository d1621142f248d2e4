"""The shipped Magento 2 nginx configs (nginx/magento2*.conf.template, SPEC §9) in front of a
real mediaproxy and moto.

The real nginx binary runs on loopback with a template rendered for test ports, moto is the
bucket (Magento's Remote Storage with the prefix `shop1/`, so keys are
`shop1/media/catalog/product/...`), and mediaproxy runs in this event loop with a magento2
site next to the mventory one, and an access log the tests read. nginx's access log says
which upstream answered each request; `up=-` means nginx answered by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientResponse

from tests import images
from tests.conftest import RawS3
from tests.nginx_helpers import PLACEHOLDER, TEMPLATES, Stack, running_stack
from tests.serving import UPLOAD_KEY, dims

MAGENTO2 = "magento2.conf.template"
PRIVATE = "magento2-private-bucket.conf.template"
PREFIX = "shop1"  # Magento's remote-storage prefix: what BUCKET_PATH adds after the bucket
URL_PREFIX = "/media/catalog/product"
KEY_PREFIX = "media/catalog/product"
HASH = "0f4c1d1c3e8e9d1e1b2a3c4d5e6f7a8b"  # 240x300, Magento's defaults: framed on white
WIDE = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"  # 240 wide, no height: the original's size
UNKNOWN = "ffffffffffffffffffffffffffffffff"
REL = "a/b/ab.jpg"
QUERY = "width=240&height=300&store=default&image-type=image"
BEARER = {"Authorization": f"Bearer {UPLOAD_KEY}"}
YEAR = "public, max-age=31536000"
SITES = f"""
[sites.m2]
layout = "magento2"
render_siblings = false  # what reaches the bucket is exactly what was asked for
upload_keys = ["{UPLOAD_KEY}"]
upload_allow = ["127.0.0.1/32"]
[sites.m2.hashes]
"{HASH}" = {{ width = 240, height = 300 }}
"{WIDE}" = {{ width = 240 }}
"""


@pytest.fixture
async def stack(
    tmp_path: Path, moto_endpoint: str, s3_raw: RawS3, s3_bucket: str
) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path, moto_endpoint, s3_raw, s3_bucket, prefix=PREFIX, sites=SITES, cache_control=YEAR
    ) as stack:
        yield stack


def assert_bucket_headers(response: ClientResponse) -> None:
    """What the CDN gets for an object served by the bucket, as for mventory URLs."""
    assert response.headers["X-Mediaproxy"] == "bucket"
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Cache-Control"] == YEAR
    assert "ETag" in response.headers
    assert "Last-Modified" in response.headers
    assert [name for name in response.headers if name.lower().startswith("x-amz")] == []
    assert "Set-Cookie" not in response.headers


async def test_originals_and_existing_sizes_are_served_by_the_bucket_alone(stack: Stack) -> None:
    original, framed, sized = images.jpeg(800, 600), images.jpeg(240, 300), images.jpeg(240, 180)
    stack.put(f"{KEY_PREFIX}/{REL}", original)
    stack.put(f"{KEY_PREFIX}/cache/{HASH}/{REL}", framed)
    stack.put(f"{KEY_PREFIX}/cache/240x300/{REL}", sized)
    nginx = stack.nginx(MAGENTO2)
    expected = {
        f"{URL_PREFIX}/{REL}": original,
        f"{URL_PREFIX}/{REL}?store=default&image-type=image": original,  # neither side
        f"{URL_PREFIX}/cache/{HASH}/{REL}": framed,
        f"{URL_PREFIX}/cache/{HASH}/{REL}?{QUERY}": framed,  # a cache/ path ignores the query
        f"{URL_PREFIX}/cache/{HASH}/{REL}?width=abc": framed,  # even one nginx cannot read
        f"{URL_PREFIX}/{REL}?{QUERY}": sized,
        f"{URL_PREFIX}/cache/240x300/{REL}": sized,
    }
    for target, body in expected.items():
        response, data = await stack.get(f"{nginx.url}{target}")
        assert (target, response.status, data) == (target, 200, body)
        assert_bucket_headers(response)
        head, _ = await stack.get(f"{nginx.url}{target}", method="HEAD")
        assert (head.status, head.headers["Content-Length"]) == (200, str(len(body)))
        revalidate = {"If-None-Match": response.headers["ETag"]}
        cached, _ = await stack.get(f"{nginx.url}{target}", headers=revalidate)
        assert cached.status == 304
    # The query string never reaches S3, where `?acl`, `?tagging`... name other resources.
    for query in ("acl", "tagging", "response-content-type=text/html"):
        response, data = await stack.get(f"{nginx.url}{URL_PREFIX}/{REL}?{query}")
        assert (response.status, response.headers["Content-Type"], data) == (
            200,
            "image/jpeg",
            original,
        )
    assert stack.seen() == []
    assert await stack.renders() == 0


# Each query and the object nginx must serve for it, read as mediaproxy reads it: the
# first of repeated arguments, names case-sensitive, a blank or bare side absent.
QUERIES = {
    "": "",
    "store=default&image-type=small_image": "",
    "width=&height=": "",
    "width=240&height=300": "cache/240x300/",
    "height=300&width=240&store=default": "cache/240x300/",
    "width=240&height=300&width=999&height=999": "cache/240x300/",
    "WIDTH=999&Height=999&width=240&height=300": "cache/240x300/",
    "mywidth=999&width_=999&width=240&height=300": "cache/240x300/",
    "width=240": "cache/240x/",
    "width=240&height=": "cache/240x/",
    "height=300&image-type=image": "cache/x300/",
    "width&height=300": "cache/x300/",
}


async def test_nginx_reads_the_query_as_mediaproxy_does(stack: Stack) -> None:
    for directory in set(QUERIES.values()):
        stack.put(f"{KEY_PREFIX}/{directory}{REL}", f"object {directory or 'original'}".encode())
    nginx = stack.nginx(MAGENTO2)
    for query, directory in QUERIES.items():
        response, data = await stack.get(f"{nginx.url}{URL_PREFIX}/{REL}?{query}")
        served = (response.status, response.headers["X-Mediaproxy"], data)
        assert (query, *served) == (
            query,
            200,
            "bucket",
            f"object {directory or 'original'}".encode(),
        )
    assert stack.seen() == []
    # Queries nginx does not read itself go to mediaproxy as sent, which reads them.
    answers = {
        "wid%74h=240&height=300": (200, b"object cache/240x300/"),  # decoded: width there
        "width=240&height=300&x=%zz": (200, b"object cache/240x300/"),
        "width=abc&height=300": (400, None),
        "width=0240&height=300": (400, None),
        "width=240&height=123456": (400, None),
        "width=240&height=300&pad=" + "x" * 1100: (400, None),  # over mediaproxy's 1024
    }
    for query, (status, body) in answers.items():
        response, data = await stack.get(f"{nginx.url}{URL_PREFIX}/{REL}?{query}")
        assert (query[:40], response.status) == (query[:40], status)
        assert data == body or body is None
        assert response.headers.get("X-Mediaproxy") != "bucket"
    assert [line.rsplit(" ", 1)[0] for line in stack.seen()] == [
        f"GET {URL_PREFIX}/{REL}?{query}" for query in answers
    ]
    # ...without asking the bucket first: mediaproxy is the only upstream of those requests.
    total = len(QUERIES) + len(answers)
    await stack.wait_for(lambda: len(nginx.access_log()) == total, "nginx's log")
    upstreams = [line.split(" up=")[1].split(" cache=")[0] for line in nginx.access_log()]
    assert upstreams[len(QUERIES) :] == [stack.mediaproxy.removeprefix("http://")] * len(answers)


async def test_hash_miss_is_rendered_once_then_served_by_the_bucket(stack: Stack) -> None:
    stack.put(f"{KEY_PREFIX}/{REL}", images.jpeg(1000, 800))
    nginx = stack.nginx(MAGENTO2)
    target = f"{URL_PREFIX}/cache/{HASH}/{REL}"
    answers = await asyncio.gather(*(stack.get(f"{nginx.url}{target}") for _ in range(10)))
    assert {response.status for response, _ in answers} == {200}
    assert len({data for _, data in answers}) == 1
    rendered = answers[0][1]
    # mediaproxy's one answer, or (for a straggler, once the store landed) the bucket's.
    assert {response.headers["X-Mediaproxy"] for response, _ in answers} <= {"render", "bucket"}
    assert {response.headers["Cache-Control"] for response, _ in answers} == {YEAR}
    assert "MISS" in {response.headers.get("X-Cache-Status") for response, _ in answers}
    assert dims(rendered) == (240, 300)  # Magento's white frame, exactly W x H
    # proxy_cache_lock: one request reached mediaproxy, the other nine waited for its answer.
    assert stack.seen() == [f"GET {target} 200"]
    key = f"{KEY_PREFIX}/cache/{HASH}/{REL}"
    await stack.settle()  # mediaproxy's store back into the bucket has landed
    assert stack.keys(f"{KEY_PREFIX}/cache/") == [key]
    assert stack.read(key) == rendered
    second, data = await stack.get(f"{nginx.url}{target}")
    assert (second.status, data) == (200, rendered)
    assert_bucket_headers(second)
    assert {second.headers["ETag"]} == {response.headers["ETag"] for response, _ in answers}
    assert stack.seen() == [f"GET {target} 200"]
    assert await stack.renders() == 1


async def test_a_refusing_bucket_sends_the_query_to_mediaproxy(stack: Stack) -> None:
    sized = images.jpeg(240, 180)
    stack.put(f"{KEY_PREFIX}/cache/240x300/{REL}", sized)
    stack.s3.client.delete_bucket_policy(Bucket=stack.bucket)  # S3 now answers 403
    nginx = stack.nginx(MAGENTO2)
    response, data = await stack.get(f"{nginx.url}{URL_PREFIX}/{REL}?{QUERY}")
    assert (response.status, data) == (200, sized)
    assert response.headers["X-Mediaproxy"] == "storage"
    assert stack.seen() == [f"GET {URL_PREFIX}/{REL}?{QUERY} 200"]


async def test_query_miss_is_rendered_once_stored_under_its_size_then_served_by_the_bucket(
    stack: Stack,
) -> None:
    stack.put(f"{KEY_PREFIX}/{REL}", images.jpeg(1000, 800))
    nginx = stack.nginx(MAGENTO2)
    # Concurrent misses for one size, whatever their store and image-type: one nginx cache
    # entry (the derived key), so proxy_cache_lock lets one request through to mediaproxy.
    kinds = ("image", "small_image", "thumbnail", "swatch_image", "image")
    targets = [
        f"{URL_PREFIX}/{REL}?width=240&height=300&store={store}&image-type={kind}"
        for store in ("default", "fr", "de")
        for kind in kinds
    ]
    answers = await asyncio.gather(*(stack.get(f"{nginx.url}{target}") for target in targets))
    assert {response.status for response, _ in answers} == {200}
    assert len({data for _, data in answers}) == 1
    rendered = answers[0][1]
    assert dims(rendered) == (240, 300)
    assert {response.headers["X-Mediaproxy"] for response, _ in answers} <= {"render", "bucket"}
    # The original request URI, query and all, reached mediaproxy, which read the query.
    [line] = stack.seen()
    assert line in {f"GET {target} 200" for target in targets}
    assert await stack.renders() == 1
    key = f"{KEY_PREFIX}/cache/240x300/{REL}"
    await stack.settle()  # mediaproxy's store back into the bucket has landed
    assert stack.keys(f"{KEY_PREFIX}/cache/") == [key]
    assert stack.read(key) == rendered
    # From now on the bucket answers the query (any store, image-type or order) and the path.
    for target in (
        f"{URL_PREFIX}/{REL}?{QUERY}",
        f"{URL_PREFIX}/{REL}?height=300&width=240",
        f"{URL_PREFIX}/cache/240x300/{REL}",
    ):
        response, data = await stack.get(f"{nginx.url}{target}")
        assert (target, response.status, data) == (target, 200, rendered)
        assert_bucket_headers(response)
    assert stack.seen() == [line]


async def test_unknown_sizes_are_mediaproxys_404_and_write_nothing(stack: Stack) -> None:
    stack.put(f"{KEY_PREFIX}/{REL}", images.jpeg(400, 300))
    nginx = stack.nginx(MAGENTO2)
    unknown = [
        f"{URL_PREFIX}/cache/{UNKNOWN}/{REL}",  # not in the table
        f"{URL_PREFIX}/{REL}?width=241&height=300",  # no entry of that size
        f"{URL_PREFIX}/placeholder/{REL}",  # never an original
        f"{URL_PREFIX}/a/b/missing.jpg",  # no such original
    ]
    for target in unknown:
        response, _ = await stack.get(f"{nginx.url}{target}")
        assert (target, response.status, response.headers["X-Cache-Status"]) == (
            target,
            404,
            "MISS",
        )
    # The size's own path is the same object, so nginx answers it from the same cache entry.
    response, _ = await stack.get(f"{nginx.url}{URL_PREFIX}/cache/241x300/{REL}")
    assert (response.status, response.headers["X-Cache-Status"]) == (404, "HIT")
    await stack.settle()
    assert stack.keys(f"{KEY_PREFIX}/") == [f"{KEY_PREFIX}/{REL}"]
    assert stack.seen() == [f"GET {target} 404" for target in unknown]
    assert await stack.renders() == 0


BAD_TARGETS = [
    f"{URL_PREFIX}/a/b/../../../outside.jpg",
    f"{URL_PREFIX}/cache/{HASH}/../../a/b/ab.jpg",
    f"{URL_PREFIX}/a/%2e%2e/%2e%2e/outside.jpg",
    f"{URL_PREFIX}/a/%2E%2E/outside.jpg",
    f"{URL_PREFIX}/a/b/..%2F..%2Foutside.jpg",
    f"{URL_PREFIX}/a%2Fb/ab.jpg",
    f"{URL_PREFIX}/a/b%5Cab.jpg",
    f"{URL_PREFIX}/a/b\\ab.jpg",
    f"{URL_PREFIX}/./a/b/ab.jpg",
    f"{URL_PREFIX}//a/b/ab.jpg",
    f"{URL_PREFIX}/a/b/ab.jpg%00.png",
    f"{URL_PREFIX}/a/b/%61b.jpg",
    f"{URL_PREFIX}/a/b/.hidden.jpg",
    f"{URL_PREFIX}/../../../outside.jpg?width=240&height=300",
    f"{URL_PREFIX}/a/%2e%2e/ab.jpg?{QUERY}",
    "/media/catalog/product",
    "/media/catalog/product/",
    "/media/catalog/productx/a/b/ab.jpg",
    "/media/catalog/category/a/b/ab.jpg",
    "/media/catalog/product/../category/outside.jpg",
    "/media/%63atalog/product/a/b/ab.jpg",
    "/t1/full/a/b/ab.jpg",  # a mventory URL: not this config's business
    "/metrics/../media/catalog/product/a/b/ab.jpg",
    f"{URL_PREFIX}/{'/'.join(['d'] * 11)}",
    f"http://evil.example{URL_PREFIX}/../../outside.jpg",
]


@pytest.mark.parametrize("template", [MAGENTO2, PRIVATE])
async def test_bad_paths_never_leave_nginx(stack: Stack, template: str) -> None:
    for key in ("outside.jpg", f"{KEY_PREFIX}/{REL}", "media/catalog/category/a/b/ab.jpg"):
        stack.put(key, b"canary")
    await stack.assert_refused_by_nginx(stack.nginx(template), BAD_TARGETS)


async def test_private_bucket_variant_caches_each_object_once(stack: Stack) -> None:
    stack.put(f"{KEY_PREFIX}/{REL}", images.jpeg(1000, 800))
    nginx = stack.nginx(PRIVATE)
    steps = [  # target, the object it names, who answered mediaproxy's one request for it
        (f"{URL_PREFIX}/{REL}", "original", "storage"),
        (f"{URL_PREFIX}/{REL}?store=default&image-type=image", "original", None),
        (f"{URL_PREFIX}/cache/{HASH}/{REL}", "hash", "render"),
        (f"{URL_PREFIX}/cache/{HASH}/{REL}?v=2", "hash", None),  # a hash path ignores the query
        (f"{URL_PREFIX}/{REL}?{QUERY}", "240x300", "render"),
        (f"{URL_PREFIX}/{REL}?width=240&height=300&store=fr&image-type=thumbnail", "240x300", None),
        (f"{URL_PREFIX}/cache/240x300/{REL}", "240x300", None),
    ]
    bodies: dict[str, bytes] = {}
    for target, name, source in steps:
        response, data = await stack.get(f"{nginx.url}{target}")
        cache = "MISS" if source else "HIT"
        assert (target, response.status, response.headers["X-Cache-Status"]) == (
            target,
            200,
            cache,
        )
        assert response.headers["X-Mediaproxy"] == source or source is None
        assert response.headers["Cache-Control"] == YEAR
        assert bodies.setdefault(name, data) == data
    assert [line.rsplit(" ", 1)[0] for line in stack.seen()] == [
        f"GET {target}" for target, _, source in steps if source
    ]
    assert await stack.renders() == 2
    # A query nginx cannot read goes to mediaproxy as sent (keyed by its whole URI).
    response, _ = await stack.get(f"{nginx.url}{URL_PREFIX}/{REL}?width=abc")
    assert response.status == 400
    assert stack.seen()[-1] == f"GET {URL_PREFIX}/{REL}?width=abc 400"


async def test_writes_reach_mediaproxy_only_from_the_admin_network(stack: Stack) -> None:
    nginx = stack.nginx(MAGENTO2)
    url = f"{nginx.url}{URL_PREFIX}/{REL}"
    async with stack.http.put(url, data=images.jpeg(640, 480), headers=BEARER) as put:
        assert put.status == 201, await put.text()
    assert stack.keys(f"{KEY_PREFIX}/") == sorted(
        [
            f"{KEY_PREFIX}/{REL}",
            f"{KEY_PREFIX}/cache/{HASH}/{REL}",
            f"{KEY_PREFIX}/cache/{WIDE}/{REL}",
        ]
    )
    sized, _ = await stack.get(f"{nginx.url}{URL_PREFIX}/cache/{HASH}/{REL}")
    assert sized.headers["X-Mediaproxy"] == "bucket"
    async with stack.http.post(url, data=b"x", headers=BEARER) as post:
        assert post.status == 405
    async with stack.http.delete(url, headers=BEARER) as delete:
        assert delete.status == 204
    assert stack.keys(f"{KEY_PREFIX}/") == []
    assert [line.split(" ", 1)[0] for line in stack.seen()] == ["PUT", "DELETE"]
    elsewhere = stack.nginx(MAGENTO2, ADMIN_NET="192.0.2.0/24")
    async with stack.http.put(
        f"{elsewhere.url}{URL_PREFIX}/{REL}", data=b"x", headers=BEARER
    ) as put:
        assert put.status == 403
    for endpoint, status in (("/metrics", 403), ("/readyz", 403), ("/healthz", 200)):
        response, _ = await stack.get(f"{elsewhere.url}{endpoint}")
        assert (endpoint, response.status) == (endpoint, status)
    assert stack.seen()[2:] == ["GET /healthz 200"]


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall((TEMPLATES / template).read_text(encoding="utf-8")))


def test_each_variant_takes_the_placeholders_of_its_mventory_twin() -> None:
    """So compose.yaml's environment (and a shop's) renders either template of a pair."""
    assert placeholders(MAGENTO2) == placeholders("bucket-first.conf.template")
    assert placeholders(PRIVATE) == placeholders("private-bucket.conf.template")
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    assert "## Magento 2" in readme
    assert f"`{MAGENTO2}`" in readme
    assert f"`{PRIVATE}`" in readme
