"""WebP and AVIF negotiated from Accept (SPEC §10), over both storage backends."""

from __future__ import annotations

import asyncio

import pytest

from proxy.negotiation import choose
from storage import Storage
from tests import images
from tests.serving import UPLOAD_KEY, Client, MakeClient, puts, stored_bytes
from tests.test_formats import decode

FORMATS = 'formats = ["webp", "avif"]\n'
AUTH = {"Authorization": f"Bearer {UPLOAD_KEY}"}
CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (CHROME, "avif"),
        ("image/webp,*/*", "webp"),
        ("image/avif;q=0, image/webp;q=0.5", "webp"),
        ("image/avif;q=0.0,image/webp;q=0", None),
        ("*/*", None),
        ("image/*", None),
        ("", None),
        ("IMAGE/AVIF", "avif"),
        ("image/avif;q=abc", None),
        ("text/html, image/png", None),
    ],
)
def test_accept_picks_one_of_three_answers(accept: str, expected: str | None) -> None:
    assert choose(accept, ("avif", "webp")) == expected


def test_a_site_enabling_only_webp_never_answers_avif() -> None:
    assert choose(CHROME, ("webp",)) == "webp"
    assert choose("image/avif", ("webp",)) is None


async def settle(client: Client) -> None:
    from proxy.services import SERVICES

    await client.app[SERVICES].tasks.drain(10)


@pytest.mark.parametrize(
    ("accept", "content_type", "suffix"),
    [
        (CHROME, "image/avif", ".avif"),
        ("image/webp,*/*;q=0.8", "image/webp", ".webp"),
        ("image/avif;q=0,image/webp", "image/webp", ".webp"),
        ("*/*", "image/jpeg", ""),
        (None, "image/jpeg", ""),
    ],
)
async def test_accept_matrix(
    make_client: MakeClient,
    storage: Storage,
    accept: str | None,
    content_type: str,
    suffix: str,
) -> None:
    await storage.put("t1/full/a/b/ab.jpg", images.jpeg(640, 480), content_type="image/jpeg")
    client = await make_client(site=FORMATS)
    headers = {"Accept": accept} if accept is not None else {}
    first = await client.get("/t1/300x/a/b/ab.jpg", headers=headers)
    assert first.status == 200
    assert first.headers["Content-Type"] == content_type
    assert first.headers["Vary"] == "Accept"
    body = await first.read()
    assert (decode(body).width, decode(body).height) == (300, 225)
    await settle(client)
    assert await stored_bytes(storage, f"t1/300x/a/b/ab.jpg{suffix}") == body
    others = {".avif", ".webp", ""} - {suffix}
    assert [await stored_bytes(storage, f"t1/300x/a/b/ab.jpg{s}") for s in sorted(others)] == [
        None
    ] * 2
    # from memory, and revalidated: the same answer, still varying on Accept
    again = await client.get("/t1/300x/a/b/ab.jpg", headers=headers)
    assert (await again.read(), again.headers["Vary"]) == (body, "Accept")
    etag = again.headers["ETag"]
    not_modified = await client.get(
        "/t1/300x/a/b/ab.jpg", headers=headers | {"If-None-Match": etag}
    )
    assert (not_modified.status, not_modified.headers["Vary"]) == (304, "Accept")


async def test_a_site_without_formats_never_writes_variants(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put("t1/full/a/b/ab.jpg", images.jpeg(640, 480), content_type="image/jpeg")
    client = await make_client()
    response = await client.get("/t1/300x/a/b/ab.jpg", headers={"Accept": CHROME})
    assert response.headers["Content-Type"] == "image/jpeg"
    assert "Vary" not in response.headers
    await settle(client)
    keys = {item.key async for item in storage.list("t1/300x/")}
    assert keys == {"t1/300x/a/b/ab.jpg"}


async def test_originals_are_never_converted(make_client: MakeClient, storage: Storage) -> None:
    data = images.jpeg(640, 480)
    await storage.put("t1/full/a/b/ab.jpg", data, content_type="image/jpeg")
    client = await make_client(site=FORMATS)
    response = await client.get("/t1/full/a/b/ab.jpg", headers={"Accept": CHROME})
    assert (await response.read(), response.headers["Content-Type"]) == (data, "image/jpeg")
    assert "Vary" not in response.headers


async def test_png_alpha_survives_in_both_variants(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put(
        "t1/full/p/n/pn.png", images.png(400, 300, alpha=True), content_type="image/png"
    )
    client = await make_client(site=FORMATS)
    for accept in ("image/avif", "image/webp"):
        body = await (await client.get("/t1/300x/p/n/pn.png", headers={"Accept": accept})).read()
        image = decode(body)
        assert image.hasalpha()
        assert image.getpoint(0, 0)[3] == 0  # the transparent left quarter stays transparent


async def test_thirty_concurrent_misses_of_a_variant_store_once(
    make_client: MakeClient, storage: Storage
) -> None:
    await storage.put("t1/full/a/b/ab.jpg", images.jpeg(900, 700), content_type="image/jpeg")
    client = await make_client(site=f"{FORMATS}\nrender_siblings = false")  # counts its PUTs
    before = await puts(client)
    responses = await asyncio.gather(
        *(client.get("/t1/300x/a/b/ab.jpg", headers={"Accept": "image/webp"}) for _ in range(30))
    )
    assert {r.status for r in responses} == {200}
    assert len({await r.read() for r in responses}) == 1
    await settle(client)
    assert await puts(client) - before == 1


async def test_placeholders_are_negotiated_too(make_client: MakeClient, storage: Storage) -> None:
    await storage.put("t1/full/small_image.jpg", images.jpeg(400, 400), content_type="image/jpeg")
    client = await make_client(site=FORMATS)
    response = await client.get("/t1/300x/n/o/none.jpg", headers={"Accept": "image/webp"})
    assert response.status == 404
    assert (response.headers["Content-Type"], response.headers["Vary"]) == ("image/webp", "Accept")


async def test_upload_writes_every_variant_and_delete_removes_them(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client(site=FORMATS)
    answer = await client.put("/t1/full/u/p/up.jpg", data=images.jpeg(800, 600), headers=AUTH)
    assert answer.status == 201
    sizes = (await answer.json())["sizes"]
    assert sizes["300x.webp"] == "t1/300x/u/p/up.jpg.webp"
    assert sizes["70x70.avif"] == "t1/70x70/u/p/up.jpg.avif"
    assert len(sizes) == 9 * 3
    for key in sizes.values():
        data = await stored_bytes(storage, key)
        assert data is not None, key
        decode(data)
    assert (await client.delete("/t1/full/u/p/up.jpg", headers=AUTH)).status == 204
    assert [await stored_bytes(storage, key) for key in sizes.values()] == [None] * len(sizes)


async def test_a_name_shaped_like_a_variant_is_a_plain_file_and_never_overwrites_one(
    make_client: MakeClient, storage: Storage
) -> None:
    client = await make_client(site=FORMATS)
    photo = await client.put("/t1/full/s/h/shirt.jpg", data=images.jpeg(600, 400), headers=AUTH)
    assert photo.status == 201
    variant = "t1/300x/s/h/shirt.jpg.webp"
    made = await stored_bytes(storage, variant)
    assert made is not None
    # Another upload whose name is that variant's name under full/: stored as it is,
    # no sizes of its own (they would be shirt.jpg's variants)
    other = await client.put(
        "/t1/full/s/h/shirt.jpg.webp", data=images.webp(400, 600), headers=AUTH
    )
    assert (other.status, (await other.json())["sizes"]) == (201, {})
    assert await stored_bytes(storage, variant) == made
    webp = await client.get("/t1/300x/s/h/shirt.jpg", headers={"Accept": "image/webp"})
    assert (decode(await webp.read()).width, decode(await webp.read()).height) == (300, 200)
    assert (await client.delete("/t1/full/s/h/shirt.jpg.webp", headers=AUTH)).status == 204
    assert await stored_bytes(storage, variant) == made
    assert await stored_bytes(storage, "t1/full/s/h/shirt.jpg") is not None


@pytest.mark.parametrize("name", ["photo.jfif", "photo.jpe", "photo", "notes.txt"])
async def test_a_size_of_a_name_that_is_no_image_is_415_and_never_stored(
    make_client: MakeClient, storage: Storage, name: str
) -> None:
    client = await make_client(site=FORMATS)
    stored = await client.put(f"/t1/full/j/f/{name}", data=images.jpeg(300, 200), headers=AUTH)
    assert (stored.status, (await stored.json())["sizes"]) == (201, {})
    answer = await client.get(f"/t1/70x70/j/f/{name}")
    assert answer.status == 415
    assert "sizes are made of .jpg, .jpeg, .png, .gif and .webp originals" in await answer.text()
    assert await stored_bytes(storage, f"t1/70x70/j/f/{name}") is None


async def test_the_index_page_lists_sizes_not_variants(make_client: MakeClient) -> None:
    client = await make_client(site=FORMATS)
    page = await (await client.get("/")).text()
    assert "<td>9: 300x, 300x300, 70x70," in page
    assert "each also as avif and webp by Accept" in page
    assert "300x.webp" not in page


async def test_strict_mode_answers_the_source_format_until_the_variant_exists(
    make_client: MakeClient, storage: Storage
) -> None:
    jpeg = images.jpeg(300, 200)
    await storage.put("t1/300x/s/j/sj.jpg", jpeg, content_type="image/jpeg")
    client = await make_client(site=FORMATS, RESIZE_DYNAMIC="false")
    for _ in range(2):  # from storage, then from memory
        answer = await client.get("/t1/300x/s/j/sj.jpg", headers={"Accept": "image/webp"})
        assert (answer.status, answer.headers["Content-Type"]) == (200, "image/jpeg")
        assert answer.headers["Vary"] == "Accept"
        assert answer.headers["Cache-Control"] == "public, max-age=300"  # a stand-in
        assert await answer.read() == jpeg
    assert (await client.get("/t1/300x/s/j/sj.jpg.webp")).status == 404  # asked by name
    webp = images.webp(300, 200)
    await storage.put("t1/300x/s/j/sj.jpg.webp", webp, content_type="image/webp")
    answer = await client.get("/t1/300x/s/j/sj.jpg", headers={"Accept": "image/webp"})
    assert (answer.headers["Content-Type"], await answer.read()) == ("image/webp", webp)
    assert answer.headers["Cache-Control"] == "public, max-age=31536000"
    plain = await client.get("/t1/300x/s/j/sj.jpg", headers={"Accept": "*/*"})
    assert plain.headers["Cache-Control"] == "public, max-age=31536000"  # not the stand-in's
    await settle(client)
    assert [o.key async for o in storage.list("t1/300x/")] == [
        "t1/300x/s/j/sj.jpg",
        "t1/300x/s/j/sj.jpg.webp",
    ]
