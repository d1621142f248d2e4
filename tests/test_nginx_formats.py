"""WebP and AVIF through the shipped nginx configs (SPEC §10, nginx/README.md "Formats").

The real nginx binary runs on loopback with each template rendered for test ports and its
formats map edited as nginx/README.md tells shops to (`t1 "avif webp"; t3 "webp";` for the
mventory templates, `default "avif webp";` for the Magento 2 ones); moto is the bucket (keys
under `shop1/`), and one mediaproxy runs in this event loop with the mventory sites t1 (AVIF
and WebP), t2 (no formats) and t3 (WebP only) and a magento2 site with AVIF and WebP. Its
access log records the Accept header each request reached it with (`-` for none), so the
tests see the normalised Accept nginx sends; nginx's own log is not needed here.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.negotiation import choose
from tests import images
from tests.conftest import RawS3
from tests.nginx_helpers import CONTENT_TYPE, TEMPLATES, Nginx, Stack, running_stack

BUCKET_FIRST = "bucket-first.conf.template"
PRIVATE = "private-bucket.conf.template"
MAGENTO2 = "magento2.conf.template"
MAGENTO2_PRIVATE = "magento2-private-bucket.conf.template"
TEMPLATE_NAMES = (BUCKET_FIRST, PRIVATE, MAGENTO2, MAGENTO2_PRIVATE)
PREFIX = "shop1"
YEAR = "public, max-age=31536000"

ORIGINAL = "t1/full/a/b/ab.jpg"
SIZED = "t1/300x/a/b/ab.jpg"
URL_PREFIX = "/media/catalog/product"
KEY_PREFIX = "media/catalog/product"
HASH = "0f4c1d1c3e8e9d1e1b2a3c4d5e6f7a8b"  # 240x300
REL = "a/b/ab.jpg"
QUERY = "width=240&height=300&store=default&image-type=image"

# Each site's `formats`, as mediaproxy orders them, and the formats maps a shop writes.
SITE_FORMATS: dict[str, tuple[str, ...]] = {"t1": ("avif", "webp"), "t2": (), "t3": ("webp",)}
MVENTORY_MAP = {"default": "", "t1": "avif webp", "t3": "webp"}
MAGENTO2_MAP = {"default": "avif webp"}

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,*/*"
SAFARI = "image/webp,image/avif,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
WEBP_ONLY = "image/webp,*/*"
OLD_SAFARI = "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
# A client and the answer t1 gives it; None sends no Accept header at all.
CLIENTS: list[tuple[str | None, str]] = [
    (CHROME, "avif"),
    (FIREFOX, "avif"),
    (SAFARI, "avif"),
    ("image/avif", "avif"),
    (WEBP_ONLY, "webp"),
    ("image/avif;q=0, image/webp;q=0.5", "webp"),
    ("*/*", "jpeg"),
    ("image/*", "jpeg"),
    (OLD_SAFARI, "jpeg"),
    ("image/avif;q=0,image/webp;q=0", "jpeg"),
    (None, "jpeg"),
]
NORMALISED = {"avif": "image/avif", "webp": "image/webp", "jpeg": "-"}  # what mediaproxy gets


SITES = f"""
[sites.t2]
sizes = "300x"
[sites.t3]
sizes = "300x"
formats = ["webp"]
[sites.m2]
layout = "magento2"
formats = ["webp", "avif"]
[sites.m2.hashes]
"{HASH}" = {{ width = 240, height = 300 }}
"""


def kind(data: bytes) -> str:
    """The format of image bytes, by their magic numbers."""
    if data[4:12] == b"ftypavif":
        return "avif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    return "?"


@pytest.fixture
async def stack(
    tmp_path: Path, moto_endpoint: str, s3_raw: RawS3, s3_bucket: str
) -> AsyncIterator[Stack]:
    async with running_stack(
        tmp_path,
        moto_endpoint,
        s3_raw,
        s3_bucket,
        prefix=PREFIX,
        sites=SITES,
        t1='formats = ["avif", "webp"]',
        cache_control=YEAR,
        log_accept=True,
    ) as stack:
        yield stack


def cache_files(nginx: Nginx) -> int:
    return sum(1 for path in (nginx.root / "cache").rglob("*") if path.is_file())


# Accept headers where a loose reading would differ from mediaproxy's: q-values as Python's
# float() reads them, the first q parameter deciding, wildcards, case, blanks, and the cut
# after 2048 characters (here dropping a `;q=0`, there the whole item).
TRICKY_ACCEPTS = [
    "",
    "image/avif;q=0.001",
    "image/avif;q=0.000,image/webp;q=1e-3",
    "image/avif;q=+.5",
    "image/avif;q=1_0",
    "image/avif;q=1__0,image/webp;q=0_0",
    "image/avif;q=inf",
    "image/avif;q=INFINITY",
    "image/avif;q=nan,image/webp;q=-1",
    "image/avif;q=-inf",
    "image/avif;q=5.",
    "image/avif;q=.",
    "image/avif;q=1e",
    "image/avif;q=0e5,image/webp;Q=1E-1",
    "image/avif;q,image/webp;q=",
    "image/avif;q=1=2",
    "image/avif;q=0;q=1",
    "image/avif;level=1;q=0,image/webp;level=2",
    "image/avif;qq=0",
    " image/avif ; q = 0.5 ",
    "\timage/webp\t;\tq=1\t",
    "IMAGE/AVIF",
    "Image/WebP;Q=0.9",
    "image/avif;q=0,image/avif",
    "image/avif x,image/avifx,image/avif/x",
    "image /avif,image/ webp",
    "image/*;q=1,*/*",
    "image/webp;q=0.5,image/avif;q=0.1,text/html",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "x" * 2037 + ",image/avif;q=0",
    "x" * 2038 + ",image/avif",
    "x" * 2048 + ",image/webp",
    "image/avif;q=0," + "y" * 2020 + ",image/webp;q=0.5",
]


def random_accepts(count: int) -> list[str]:
    """Seeded Accept headers built from the pieces the rule cares about."""
    rng = random.Random(14)
    types = ["image/avif", "image/webp", "IMAGE/AVIF", "image/Webp", "image/*", "*/*"]
    types += ["image/png", "image/avifx", "text/html", "", "image /avif", "image/webp x"]
    names = ["q", "Q", " q", "q ", "qq", "level"]
    values = ["0", "1", "0.5", ".5", "0.0", "0e1", "1e-2", "1_0", "_1", "inf", "nan", "-1", ""]

    def blank() -> str:
        return rng.choice(["", "", " ", "\t"])

    def item() -> str:
        text = blank() + rng.choice(types) + blank()
        for _ in range(rng.choice([0, 1, 1, 2])):
            equals = rng.choice(["=", "=", ""])
            param = rng.choice(names) + blank() + equals + blank() + rng.choice(values)
            text += ";" + blank() + param + blank()
        return text

    return [",".join(item() for _ in range(rng.randint(1, 4))) for _ in range(count)]


async def test_nginx_reads_accept_exactly_as_mediaproxy_does(stack: Stack) -> None:
    for site in SITE_FORMATS:
        stack.put_variants(f"{site}/300x/a/b/ab.jpg")
    nginx = stack.nginx(BUCKET_FIRST, MVENTORY_MAP)
    accepts = TRICKY_ACCEPTS + random_accepts(150)

    async def check(accept: str, site: str) -> None:
        key = f"{site}/300x/a/b/ab.jpg"
        response, data = await stack.get(f"{nginx.url}/{key}", accept)
        fmt = choose(accept, SITE_FORMATS[site]) or "jpeg"
        vary = "Accept" if SITE_FORMATS[site] else None
        assert (site, accept[:60], data, response.headers.get("Vary")) == (
            site,
            accept[:60],
            f"{fmt} {key}".encode(),
            vary,
        )

    pairs = [(accept, site) for accept in accepts for site in SITE_FORMATS]
    for start in range(0, len(pairs), 30):
        await asyncio.gather(*(check(accept, site) for accept, site in pairs[start : start + 30]))
    assert {choose(accept, ("avif", "webp")) for accept in accepts} == {"avif", "webp", None}
    assert stack.seen() == []


async def test_existing_variants_are_served_by_the_bucket_alone(stack: Stack) -> None:
    stack.put_variants(SIZED)
    original = images.jpeg(400, 300)
    stack.put(ORIGINAL, original)
    stack.put(f"{ORIGINAL}.avif", b"never served", "image/avif")
    stack.put_variants("t2/300x/a/b/ab.jpg")
    nginx = stack.nginx(BUCKET_FIRST, MVENTORY_MAP)
    for accept, fmt in CLIENTS:
        response, data = await stack.get(f"{nginx.url}/{SIZED}", accept)
        assert (accept, response.status, data) == (accept, 200, f"{fmt} {SIZED}".encode())
        assert response.headers["Content-Type"] == CONTENT_TYPE[fmt]
        assert response.headers["Vary"] == "Accept"
        assert response.headers["X-Mediaproxy"] == "bucket"
        assert response.headers["Cache-Control"] == YEAR
        revalidate = {"If-None-Match": response.headers["ETag"]}
        cached, _ = await stack.get(f"{nginx.url}/{SIZED}", accept, revalidate)
        assert (cached.status, cached.headers["Vary"]) == (304, "Accept")
    # Originals are never suffixed, nor is a variant's own URL; a site without formats
    # answers the size itself to every client, without Vary.
    for target, body in (
        (ORIGINAL, original),
        (f"{SIZED}.webp", f"webp {SIZED}".encode()),
        ("t2/300x/a/b/ab.jpg", b"jpeg t2/300x/a/b/ab.jpg"),
    ):
        for accept in (CHROME, WEBP_ONLY, "*/*"):
            response, data = await stack.get(f"{nginx.url}/{target}", accept)
            assert (target, accept, response.status, data) == (target, accept, 200, body)
            assert "Vary" not in response.headers
            assert response.headers["X-Mediaproxy"] == "bucket"
    assert stack.seen() == []


async def test_a_missing_variant_reaches_mediaproxy_once_then_comes_from_the_bucket(
    stack: Stack,
) -> None:
    stack.put(ORIGINAL, images.jpeg(1000, 800))
    nginx = stack.nginx(BUCKET_FIRST, MVENTORY_MAP)
    clients = CLIENTS * 3
    answers = await asyncio.gather(*(stack.get(f"{nginx.url}/{SIZED}", a) for a, _ in clients))
    rendered: dict[str, set[bytes]] = {}
    for (response, data), (accept, fmt) in zip(answers, clients, strict=True):
        assert (accept, response.status, kind(data)) == (accept, 200, fmt)
        assert response.headers["Content-Type"] == CONTENT_TYPE[fmt]
        assert response.headers["Vary"] == "Accept"
        assert response.headers["X-Mediaproxy"] in {"render", "bucket"}
        rendered.setdefault(fmt, set()).add(data)
    assert {fmt: len(bodies) for fmt, bodies in rendered.items()} == {
        "avif": 1,
        "webp": 1,
        "jpeg": 1,
    }
    # One request per answer (nginx's cache key holds the answer, not the Accept string),
    # with the original URI and the answer as its only Accept.
    assert sorted(stack.seen()) == sorted(
        f"GET /{SIZED} 200 {NORMALISED[fmt]}" for fmt in ("avif", "webp", "jpeg")
    )
    await stack.settle()
    assert {SIZED, f"{SIZED}.avif", f"{SIZED}.webp"} <= set(stack.keys("t1/300x/"))
    for accept, fmt in CLIENTS:
        response, data = await stack.get(f"{nginx.url}/{SIZED}", accept)
        assert (accept, data) == (accept, next(iter(rendered[fmt])))
        assert response.headers["X-Mediaproxy"] == "bucket"
        assert response.headers["Vary"] == "Accept"
    assert len(stack.seen()) == 3


async def test_without_a_formats_map_nginx_negotiates_nothing(stack: Stack) -> None:
    """The templates as shipped: no site listed, so every client gets the size itself and
    mediaproxy (even for a site with formats) never sees an Accept it would negotiate."""
    stack.put_variants(SIZED)
    stack.put(ORIGINAL, images.jpeg(800, 600))
    nginx = stack.nginx(BUCKET_FIRST)
    response, data = await stack.get(f"{nginx.url}/{SIZED}", CHROME)
    assert (data, response.headers["X-Mediaproxy"]) == (f"jpeg {SIZED}".encode(), "bucket")
    assert "Vary" not in response.headers
    response, data = await stack.get(f"{nginx.url}/t1/70x70/a/b/ab.jpg", CHROME)
    assert (response.status, kind(data)) == (200, "jpeg")
    assert stack.seen() == ["GET /t1/70x70/a/b/ab.jpg 200 -"]


async def test_private_variant_caches_at_most_three_copies_of_a_size(stack: Stack) -> None:
    stack.put(ORIGINAL, images.jpeg(800, 600))
    nginx = stack.nginx(PRIVATE, MVENTORY_MAP)
    bodies: dict[str, bytes] = {}
    for accept, fmt in CLIENTS:
        response, data = await stack.get(f"{nginx.url}/{SIZED}", accept)
        status = "HIT" if fmt in bodies else "MISS"
        assert (accept, response.status, kind(data), response.headers["X-Cache-Status"]) == (
            accept,
            200,
            fmt,
            status,
        )
        assert response.headers["Vary"] == "Accept"
        assert response.headers["Content-Type"] == CONTENT_TYPE[fmt]
        assert bodies.setdefault(fmt, data) == data
    assert stack.seen() == [f"GET /{SIZED} 200 {NORMALISED[fmt]}" for fmt in bodies]
    # The original: one entry whatever the Accept, never negotiated.
    for accept, status in ((CHROME, "MISS"), (WEBP_ONLY, "HIT"), ("*/*", "HIT")):
        response, data = await stack.get(f"{nginx.url}/{ORIGINAL}", accept)
        assert (accept, kind(data), response.headers["X-Cache-Status"]) == (accept, "jpeg", status)
        assert "Vary" not in response.headers
    # A variant's own URL is its own entry: the negotiated one carries Vary, it does not.
    await stack.settle()
    response, data = await stack.get(f"{nginx.url}/{SIZED}.webp", CHROME)
    assert (data, response.headers["X-Cache-Status"]) == (bodies["webp"], "MISS")
    assert "Vary" not in response.headers
    assert stack.seen()[3:] == [f"GET /{ORIGINAL} 200 -", f"GET /{SIZED}.webp 200 -"]
    await stack.wait_for(lambda: cache_files(nginx) == 5, "five cache entries")


M2_NEGOTIABLE = [  # a target and the cache/ directory of the object that answers it
    (f"{URL_PREFIX}/cache/{HASH}/{REL}", f"cache/{HASH}/"),
    (f"{URL_PREFIX}/cache/{HASH}/{REL}?{QUERY}", f"cache/{HASH}/"),
    (f"{URL_PREFIX}/{REL}?{QUERY}", "cache/240x300/"),
    (f"{URL_PREFIX}/{REL}?height=300&store=fr&width=240", "cache/240x300/"),
    (f"{URL_PREFIX}/cache/240x300/{REL}", "cache/240x300/"),
]


async def test_magento2_variants_are_served_by_the_bucket_alone(stack: Stack) -> None:
    original = images.jpeg(800, 600)
    stack.put(f"{KEY_PREFIX}/{REL}", original)
    stack.put(f"{KEY_PREFIX}/{REL}.avif", b"never served", "image/avif")
    for directory in (f"cache/{HASH}/", "cache/240x300/"):
        stack.put_variants(f"{KEY_PREFIX}/{directory}{REL}")
    nginx = stack.nginx(MAGENTO2, MAGENTO2_MAP)
    for target, directory in M2_NEGOTIABLE:
        for accept, fmt in CLIENTS:
            response, data = await stack.get(f"{nginx.url}{target}", accept)
            body = f"{fmt} {KEY_PREFIX}/{directory}{REL}".encode()
            assert (target, accept, response.status, data) == (target, accept, 200, body)
            assert response.headers["Content-Type"] == CONTENT_TYPE[fmt]
            assert response.headers["Vary"] == "Accept"
            assert response.headers["X-Mediaproxy"] == "bucket"
    never_negotiated = [
        (f"{URL_PREFIX}/{REL}", original),
        (f"{URL_PREFIX}/{REL}?store=default&image-type=image", original),
        (f"{URL_PREFIX}/cache/{HASH}/{REL}.webp", f"webp {KEY_PREFIX}/cache/{HASH}/{REL}".encode()),
    ]
    for target, body in never_negotiated:
        for accept in (CHROME, WEBP_ONLY, "*/*"):
            response, data = await stack.get(f"{nginx.url}{target}", accept)
            assert (target, accept, response.status, data) == (target, accept, 200, body)
            assert "Vary" not in response.headers
    assert stack.seen() == []
    # A query only mediaproxy reads (`wid%74h` is width there) goes to it with the answer.
    target = f"{URL_PREFIX}/{REL}?wid%74h=240&height=300"
    response, data = await stack.get(f"{nginx.url}{target}", CHROME)
    assert (response.status, data) == (200, f"avif {KEY_PREFIX}/cache/240x300/{REL}".encode())
    assert (response.headers["Vary"], response.headers["X-Mediaproxy"]) == ("Accept", "storage")
    assert stack.seen() == [f"GET {target} 200 image/avif"]


async def test_magento2_missing_variants_reach_mediaproxy_once_then_the_bucket(
    stack: Stack,
) -> None:
    stack.put(f"{KEY_PREFIX}/{REL}", images.jpeg(1000, 800))
    nginx = stack.nginx(MAGENTO2, MAGENTO2_MAP)
    targets = [
        f"{URL_PREFIX}/{REL}?width=240&height=300&store={store}&image-type={image_type}"
        for store in ("default", "fr")
        for image_type in ("image", "small_image", "thumbnail")
    ]
    accepts = [CHROME, FIREFOX, SAFARI, "image/avif"]
    requests = [(target, accept) for target in targets for accept in accepts]
    answers = await asyncio.gather(*(stack.get(f"{nginx.url}{t}", a) for t, a in requests))
    assert {(response.status, kind(data)) for response, data in answers} == {(200, "avif")}
    assert len({data for _, data in answers}) == 1
    assert {response.headers["Vary"] for response, _ in answers} == {"Accept"}
    [line] = stack.seen()
    assert line in {f"GET {target} 200 image/avif" for target in targets}
    hashed = f"{URL_PREFIX}/cache/{HASH}/{REL}"
    response, webp = await stack.get(f"{nginx.url}{hashed}", WEBP_ONLY)
    assert (response.headers["X-Mediaproxy"], kind(webp)) == ("render", "webp")
    assert stack.seen()[1:] == [f"GET {hashed} 200 image/webp"]
    await stack.settle()
    stored = {f"{KEY_PREFIX}/cache/240x300/{REL}.avif", f"{KEY_PREFIX}/cache/{HASH}/{REL}.webp"}
    assert stored <= set(stack.keys(f"{KEY_PREFIX}/cache/"))
    for target, accept, body in (
        (f"{URL_PREFIX}/{REL}?{QUERY}", FIREFOX, answers[0][1]),
        (f"{URL_PREFIX}/cache/240x300/{REL}", CHROME, answers[0][1]),
        (hashed, "image/avif;q=0,image/webp", webp),
    ):
        response, data = await stack.get(f"{nginx.url}{target}", accept)
        assert (target, data, response.headers["X-Mediaproxy"]) == (target, body, "bucket")
        assert response.headers["Vary"] == "Accept"
    assert len(stack.seen()) == 2


async def test_magento2_private_variant_caches_one_entry_per_answer(stack: Stack) -> None:
    stack.put(f"{KEY_PREFIX}/{REL}", images.jpeg(1000, 800))
    nginx = stack.nginx(MAGENTO2_PRIVATE, MAGENTO2_MAP)
    hashed = f"{URL_PREFIX}/cache/{HASH}/{REL}"
    steps = [  # target, Accept, the entry that answers it, whether mediaproxy is asked
        (hashed, CHROME, "hash avif", True),
        (hashed, FIREFOX, "hash avif", False),
        (f"{hashed}?v=2", "image/avif", "hash avif", False),
        (hashed, WEBP_ONLY, "hash webp", True),
        (hashed, "*/*", "hash jpeg", True),
        (hashed, OLD_SAFARI, "hash jpeg", False),
        (f"{URL_PREFIX}/{REL}?{QUERY}", CHROME, "240x300 avif", True),
        (f"{URL_PREFIX}/{REL}?width=240&height=300&store=fr", SAFARI, "240x300 avif", False),
        (f"{URL_PREFIX}/cache/240x300/{REL}", FIREFOX, "240x300 avif", False),
        (f"{URL_PREFIX}/{REL}?{QUERY}", None, "240x300 jpeg", True),
        (f"{URL_PREFIX}/{REL}", CHROME, "original", True),
        (f"{URL_PREFIX}/{REL}?store=default", WEBP_ONLY, "original", False),
    ]
    bodies: dict[str, bytes] = {}
    for target, accept, entry, asked in steps:
        response, data = await stack.get(f"{nginx.url}{target}", accept)
        status = "MISS" if asked else "HIT"
        assert (target, accept, response.status, response.headers["X-Cache-Status"]) == (
            target,
            accept,
            200,
            status,
        )
        fmt = entry.rsplit(" ", 1)[-1] if entry != "original" else "jpeg"
        assert kind(data) == fmt
        assert response.headers.get("Vary") == (None if entry == "original" else "Accept")
        assert bodies.setdefault(entry, data) == data
    assert [line.rsplit(" ", 2)[0] for line in stack.seen()] == [
        f"GET {target}" for target, _, _, asked in steps if asked
    ]
    assert [line.rsplit(" ", 1)[1] for line in stack.seen()] == [
        "image/avif",
        "image/webp",
        "-",
        "image/avif",
        "-",
        "-",
    ]


def between(text: str, start: str, end: str) -> str:
    found = re.search(re.escape(start) + r".*?" + re.escape(end), text, re.DOTALL)
    assert found is not None, start
    return found.group(0)


def test_every_template_reads_accept_the_same_way() -> None:
    texts = {name: (TEMPLATES / name).read_text(encoding="utf-8") for name in TEMPLATE_NAMES}
    blocks = {
        name: between(text, "map $http_accept $mediaproxy_accept_head", "$mediaproxy_answer {")
        + between(text, "map $mediaproxy_suffix $mediaproxy_accept {", "}")
        + between(text, 'map "$mediaproxy_negotiable:$mediaproxy_formats"', "}")
        for name, text in texts.items()
    }
    assert len(set(blocks.values())) == 1
    for name, text in texts.items():
        assert re.search(r'proxy_cache_key "[^"\n]* \$mediaproxy_suffix";', text), name
        assert "proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;" in text, name
        assert "proxy_set_header Accept $mediaproxy_accept;" in text, name
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    assert "## Formats (WebP/AVIF)" in readme
