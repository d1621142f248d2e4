"""A Magento 2 site (SPEC §9) served, pre-generated, migrated, uploaded and deleted, next to a
mventory site in the same process, over both storage backends.

The hash table is computed from the view.xml fixtures (Blank, Magento_Catalog,
Magento_Swatches, then Luma: Magento's merge order) with a crypt key from the environment,
exactly as a shop would configure it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bulk import MigrateOptions, PregenOptions, Run, migrate, pregen
from cli.main import main
from config import Settings, load_settings
from layouts import Router
from layouts.magento2.layout import Magento2Layout
from proxy.services import SERVICES
from storage import Storage
from tests import images
from tests.serving import UPLOAD_KEY, Client, MakeClient, dims, puts, raw_get, stored_bytes

FIXTURES = Path(__file__).parent / "fixtures" / "magento2"
VIEW_XML = ["blank_view.xml", "catalog_view.xml", "swatches_view.xml", "luma_view_mageos.xml"]
CRYPT_KEY = "0123456789abcdef0123456789abcdef"
PREFIX = "media/catalog/product"
ORIGINAL = f"{PREFIX}/a/b/ab.jpg"
AUTH = {"Authorization": f"Bearer {UPLOAD_KEY}"}
MakeM2 = Callable[..., Awaitable[Client]]


def m2_settings(tmp_path: Path, extra: str = "", **site: str) -> Settings:
    views = ", ".join(f'"{FIXTURES / name}"' for name in VIEW_XML)
    lines = "".join(f"{key} = {value}\n" for key, value in site.items())
    toml = f"""
[sites.t1]
sizes = "300x, 70x70"
[sites.m2]
layout = "magento2"
view_xml = [{views}]
crypt_key_env = "SHOP_CRYPT_KEY"
upload_keys = ["{UPLOAD_KEY}"]
{lines}
{extra}
"""
    path = tmp_path / "mediaproxy.toml"
    path.write_text(toml)
    return load_settings(path, {"SHOP_CRYPT_KEY": CRYPT_KEY})


def layout_of(settings: Settings) -> Magento2Layout:
    layout = Router.from_settings(settings).layouts["m2"]
    assert isinstance(layout, Magento2Layout)
    return layout


@pytest.fixture
def make_m2(make_client: MakeClient, tmp_path: Path) -> MakeM2:
    async def make(extra: str = "", **site: str) -> Client:
        return await make_client(settings=m2_settings(tmp_path, extra, **site))

    return make


def expected_size(sw: int, sh: int, w: int, h: int, frame: bool) -> tuple[int, int]:
    """SPEC §3 for a set with both sides (aspect kept, constrain on), written out again."""
    if frame:
        return w, h
    dw, dh = (sw, sh) if w >= sw and h >= sh else (w, h)
    if sw * h >= w * sh:
        return dw, (2 * dw * sh + sw) // (2 * sw)
    return (2 * dh * sw + sh) // (2 * sh), dh


async def storage_calls(client: Client) -> float:
    text = await (await client.get("/metrics")).text()
    counts = re.findall(r'^mediaproxy_storage_seconds_count\{op="\w+"\} (\S+)$', text, re.M)
    return sum(float(count) for count in counts)


async def settle(client: Client) -> None:
    await client.app[SERVICES].tasks.drain(10)


def test_the_luma_table_has_magentos_hashes(tmp_path: Path) -> None:
    layout = layout_of(m2_settings(tmp_path))
    assert len(layout.table) == 21
    # Luma's product_page_image_medium (and product_page_main_image): 700x700, framed.
    entry = next(e for e in layout.table.values() if "product_page_image_medium" in e.image_ids)
    assert (entry.params.width, entry.params.height, entry.params.keep_frame) == (700, 700, True)
    assert layout.size_named(entry.hash) is not None


async def test_every_hash_renders_to_its_size_under_magentos_key(
    make_m2: MakeM2, storage: Storage, tmp_path: Path
) -> None:
    await storage.put(ORIGINAL, images.jpeg(1000, 800), content_type="image/jpeg")
    client = await make_m2()
    layout = layout_of(m2_settings(tmp_path))
    for digest, entry in layout.table.items():
        response = await client.get(f"/{PREFIX}/cache/{digest}/a/b/ab.jpg")
        assert response.status == 200, digest
        assert response.headers["Content-Type"] == "image/jpeg"
        params = entry.params
        if params.width is None or params.height is None:  # not resized: Magento re-encodes
            expected = (1000, 800)
        else:
            expected = expected_size(1000, 800, params.width, params.height, params.keep_frame)
        body = await response.read()
        assert dims(body) == expected, entry.image_ids
    await settle(client)
    for digest in layout.table:
        stored = await stored_bytes(storage, f"{PREFIX}/cache/{digest}/a/b/ab.jpg")
        assert stored is not None, digest


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/{PREFIX}/cache/{'0' * 32}/a/b/ab.jpg", 404),  # a hash not in the table
        (f"/{PREFIX}/cache/zz/a/b/ab.jpg", 400),  # not a hash at all
        (f"/{PREFIX}/cache/123x456/a/b/ab.jpg", 404),  # a size not in the table
        (f"/{PREFIX}/a/b/ab.jpg?width=241&height=300", 404),
        (f"/{PREFIX}/a/b/ab.jpg?width=abc&height=300", 400),
        (f"/{PREFIX}/a/b/ab.jpg?width=-1", 400),
        (f"/{PREFIX}/cache/a/b/ab.jpg", 400),  # cache/ is never an original, `a` no hash
        (f"/{PREFIX}/placeholder/default/x.jpg", 404),
        (f"/{PREFIX}/a/../b/ab.jpg", 400),
        (f"/{PREFIX}/a/%2e%2e/ab.jpg", 400),
    ],
)
async def test_bad_and_unknown_targets_never_reach_storage(
    make_m2: MakeM2, path: str, status: int
) -> None:
    client = await make_m2()
    before = await storage_calls(client)
    assert client.port is not None
    answer, body = await raw_get(client.port, path)  # byte for byte: no client normalises it
    assert answer == status
    assert len(body) < 200
    assert await storage_calls(client) == before


async def test_query_url_is_stored_under_its_derived_key(make_m2: MakeM2, storage: Storage) -> None:
    await storage.put(ORIGINAL, images.jpeg(1000, 800), content_type="image/jpeg")
    client = await make_m2()
    target = f"/{PREFIX}/a/b/ab.jpg?width=240&height=300&store=default&image-type=small_image"
    response = await client.get(target)
    assert response.status == 200
    assert dims(await response.read()) == (240, 300)  # small_image is framed in Luma
    await settle(client)
    assert await stored_bytes(storage, f"{PREFIX}/cache/240x300/a/b/ab.jpg") is not None
    # the derived key is a URL too (nginx asks the bucket for it), and store= is ignored
    again = await client.get(f"/{PREFIX}/cache/240x300/a/b/ab.jpg")
    assert again.status == 200
    other_store = await client.get(f"/{PREFIX}/a/b/ab.jpg?store=fr&height=300&width=240")
    assert await other_store.read() == await again.read()


async def test_original_is_served_as_stored(make_m2: MakeM2, storage: Storage) -> None:
    data = images.jpeg(640, 480)
    await storage.put(ORIGINAL, data, content_type="image/jpeg")
    client = await make_m2()
    for target in (f"/{PREFIX}/a/b/ab.jpg", f"/{PREFIX}/a/b/ab.jpg?store=default"):
        response = await client.get(target)
        assert response.status == 200
        assert await response.read() == data


async def test_placeholder_per_image_type(
    make_m2: MakeM2, storage: Storage, tmp_path: Path
) -> None:
    placeholder = f"{PREFIX}/placeholder/default/small_image.jpg"
    await storage.put(placeholder, images.jpeg(500, 500), content_type="image/jpeg")
    client = await make_m2(placeholders='{ small_image = "placeholder/default/small_image.jpg" }')
    layout = layout_of(m2_settings(tmp_path))
    small = next(e for e in layout.table.values() if "small_image" in e.image_types)
    response = await client.get(f"/{PREFIX}/cache/{small.hash}/n/o/none.jpg")
    assert response.status == 404
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert dims(await response.read()) == (small.params.width, small.params.height)
    await settle(client)
    assert await stored_bytes(storage, f"{PREFIX}/cache/{small.hash}/n/o/none.jpg") is None
    # an image type without a placeholder: a plain 404
    other = next(e for e in layout.table.values() if "small_image" not in e.image_types)
    plain = await client.get(f"/{PREFIX}/cache/{other.hash}/n/o/none.jpg")
    assert plain.status == 404
    assert plain.headers["Content-Type"].startswith("text/plain")


async def test_thirty_concurrent_misses_store_once(
    make_m2: MakeM2, storage: Storage, tmp_path: Path
) -> None:
    await storage.put(ORIGINAL, images.jpeg(1200, 900), content_type="image/jpeg")
    client = await make_m2(render_siblings="false")  # counts its PUTs
    digest = next(iter(layout_of(m2_settings(tmp_path)).table))
    before = await puts(client)
    url = f"/{PREFIX}/cache/{digest}/a/b/ab.jpg"
    responses = await asyncio.gather(*(client.get(url) for _ in range(30)))
    bodies = {await response.read() for response in responses}
    assert {response.status for response in responses} == {200}
    assert len(bodies) == 1
    await settle(client)
    assert await puts(client) - before == 1


async def test_a_mventory_site_serves_alongside(make_m2: MakeM2, storage: Storage) -> None:
    await storage.put("t1/full/a/b/ab.jpg", images.jpeg(600, 400), content_type="image/jpeg")
    await storage.put(ORIGINAL, images.jpeg(600, 400), content_type="image/jpeg")
    client = await make_m2()
    assert dims(await (await client.get("/t1/300x/a/b/ab.jpg")).read()) == (300, 200)
    query = await client.get(f"/{PREFIX}/a/b/ab.jpg?width=240&height=300")
    assert query.status == 200
    index = await (await client.get("/")).text()
    assert "m2" in index
    assert "t1" in index


async def test_upload_and_delete_cover_every_hash(
    make_m2: MakeM2, storage: Storage, tmp_path: Path
) -> None:
    layout = layout_of(m2_settings(tmp_path, url_format='"both"'))
    client = await make_m2(url_format='"both"')
    response = await client.put(f"/{PREFIX}/n/e/new.jpg", data=images.jpeg(800, 600), headers=AUTH)
    assert response.status == 201
    answer = await response.json()
    assert answer["errors"] == {}
    assert set(answer["sizes"]) == set(layout.table) | set(layout.query_sizes)
    for key in answer["sizes"].values():
        assert await stored_bytes(storage, key) is not None, key
    deleted = await client.delete(f"/{PREFIX}/n/e/new.jpg", headers=AUTH)
    assert deleted.status == 204
    keys = [f"{PREFIX}/n/e/new.jpg", *answer["sizes"].values()]
    assert [await stored_bytes(storage, key) for key in keys] == [None] * len(keys)


async def listed(storage: Storage, prefix: str) -> set[str]:
    return {item.key async for item in storage.list(prefix)}


async def test_pregen_makes_originals_times_hashes_then_nothing(
    storage: Storage, tmp_path: Path
) -> None:
    settings = m2_settings(tmp_path)
    rels = ["a/b/ab.jpg", "c/d/cd.png", "e/f/ef.jpg"]
    for rel in rels:
        data = images.png(300, 200) if rel.endswith("png") else images.jpeg(300, 200)
        await storage.put(f"{PREFIX}/{rel}", data, content_type="image/jpeg")
    # not originals: Magento's own cache and placeholders
    await storage.put(f"{PREFIX}/cache/{'1' * 32}/a/b/ab.jpg", b"x", content_type="image/jpeg")
    await storage.put(f"{PREFIX}/placeholder/x.jpg", images.jpeg(50, 50), content_type="image/jpeg")
    table = layout_of(settings).table
    report = await pregen(storage, settings, PregenOptions(sites=("m2",), jobs=2))
    assert report.failures == []
    assert report.made == len(rels) * len(table)
    made = await listed(storage, f"{PREFIX}/cache/")
    assert made >= {f"{PREFIX}/cache/{digest}/{rel}" for digest in table for rel in rels}
    again = await pregen(storage, settings, PregenOptions(sites=("m2",), jobs=2))
    assert (again.made, again.skipped) == (0, len(rels) * len(table))


async def test_migrate_from_a_magento2_media_tree(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "pub" / "media" / "catalog" / "product"
    files = {"a/b/ab.jpg": images.jpeg(300, 200), "x/y/xy.jpg": images.jpeg(200, 300)}
    for rel, data in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)
    cached = source / "cache" / ("2" * 32) / "a" / "b" / "ab.jpg"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"a Magento-made size")
    placeholder = source / "placeholder" / "default" / "small_image.jpg"
    placeholder.parent.mkdir(parents=True)
    placeholder.write_bytes(images.jpeg(100, 100))
    settings = m2_settings(
        tmp_path, placeholders='{ small_image = "placeholder/default/small_image.jpg" }'
    )
    table = layout_of(settings).table
    report = await migrate(storage, settings, MigrateOptions("m2", source, jobs=2), Run("migrate"))
    assert report.failures == []
    assert report.uploaded == 3  # two originals and the placeholder
    for rel, data in files.items():
        assert await stored_bytes(storage, f"{PREFIX}/{rel}") == data
        for digest in table:
            assert await stored_bytes(storage, f"{PREFIX}/cache/{digest}/{rel}") is not None
    assert await stored_bytes(storage, f"{PREFIX}/placeholder/default/small_image.jpg") is not None
    assert await stored_bytes(storage, f"{PREFIX}/cache/{'2' * 32}/a/b/ab.jpg") is None


def test_config_check_names_every_magento2_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<view><media>")
    path = tmp_path / "mediaproxy.toml"
    path.write_text(
        f"""
[sites.media]
sizes = "300x"
[sites.m2]
layout = "magento2"
view_xml = ["{broken.name}"]
crypt_key_env = "NOT_SET_ANYWHERE"
magento_version = "2.5"
sizes = "300x"
[sites.m2.hashes]
"abc" = {{ width = 1 }}
"{"a" * 32}" = {{ width = 240, angle = 90 }}
"""
    )
    assert main(["--config", str(path), "config", "check"]) == 2
    err = capsys.readouterr().err
    for problem in [
        "sites.m2.crypt_key_env: environment variable 'NOT_SET_ANYWHERE' is not set",
        "sites.m2.magento_version: one of",
        "sites.m2.sizes: unknown key for layout 'magento2'",
        "sites.m2.hashes.abc: a hash is 32 lowercase hex characters",
        f"sites.m2.hashes.{'a' * 32}.angle: not supported",
        "sites.m2.url_prefix: '/media/catalog/product' hides the mventory site 'media'",
    ]:
        assert problem in err


def test_config_check_reads_the_view_xml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<view><media>")
    path = tmp_path / "mediaproxy.toml"
    path.write_text(
        '[sites.m2]\nlayout = "magento2"\nview_xml = ["broken.xml"]\nmagento_version = "2.4.8"\n'
    )
    assert main(["--config", str(path), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "sites.m2.view_xml:" in err
    assert "broken.xml" in err
