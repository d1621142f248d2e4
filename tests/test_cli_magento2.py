"""The bulk commands on a Magento 2 site against a real moto S3: what `url_format` makes,
`--sizes` of the other format refused before anything is planned, `delete` refusing what
is no original's path. Luma's hash table from the view.xml fixtures and a crypt key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from cli.main import main
from config import load_settings
from layouts import Router
from layouts.magento2.layout import Magento2Layout
from proxy.app import create_app
from tests import images
from tests.conftest import RawS3

FIXTURES = Path(__file__).parent / "fixtures" / "magento2"
VIEW_XML = ["blank_view.xml", "catalog_view.xml", "swatches_view.xml", "luma_view_mageos.xml"]
CRYPT_KEY = "0123456789abcdef0123456789abcdef"
PREFIX = "media/catalog/product"
ORIGINAL = f"{PREFIX}/a/b/ab.jpg"
AppClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
MakeConfig = Callable[[str], Path]


@pytest.fixture
def config(
    tmp_path: Path,
    s3_bucket: str,
    moto_endpoint: str,
    s3_raw: RawS3,
    monkeypatch: pytest.MonkeyPatch,
) -> MakeConfig:
    """`make(url_format)`: site m2 (Luma) on the test bucket, holding one original."""
    monkeypatch.setenv("SHOP_CRYPT_KEY", CRYPT_KEY)
    s3_raw.put(s3_bucket, ORIGINAL, images.jpeg(300, 200))

    def make(url_format: str) -> Path:
        views = ", ".join(f'"{FIXTURES / name}"' for name in VIEW_XML)
        path = tmp_path / "mediaproxy.toml"
        path.write_text(
            f'[storage]\nurl = "s3://{s3_bucket}"\nendpoint_url = "{moto_endpoint}"\n'
            f'[sites.m2]\nlayout = "magento2"\nview_xml = [{views}]\n'
            f'crypt_key_env = "SHOP_CRYPT_KEY"\nurl_format = "{url_format}"\n'
        )
        return path

    return make


def cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def layout(config: Path) -> Magento2Layout:
    found = Router.from_settings(load_settings(config)).layouts["m2"]
    assert isinstance(found, Magento2Layout)
    return found


def cache_directories(s3_raw: RawS3, bucket: str) -> set[str]:
    return {key.split("/")[4] for key in s3_raw.list(bucket, f"{PREFIX}/cache/")}


@pytest.mark.parametrize("url_format", ["query", "both"])
def test_query_sizes_never_copy_the_original_to_cache_x(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, url_format: str
) -> None:
    path = config(url_format)
    site = layout(path)
    # Luma's product_page_image_large has neither side: its query URL is the original itself.
    assert any(e.params.width is None and e.params.height is None for e in site.table.values())

    assert cli(path, "pregen", "--site", "m2", "--jobs", "1") == 0
    made = cache_directories(s3_raw, s3_bucket)
    assert "x" not in made
    hashes = set(site.table) if url_format == "both" else set()
    assert made == hashes | set(site.query_sizes)
    assert len(site.query_sizes) == 20  # Luma's 20 WxH with a side


async def test_a_query_url_without_width_or_height_is_still_the_original(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, aiohttp_client: AppClient
) -> None:
    path = config("query")
    client = await aiohttp_client(create_app(load_settings(path), router=Router([layout(path)])))
    original = s3_raw.get(s3_bucket, ORIGINAL)[0]
    for query in ("", "?width=&height=", "?store=default&image-type=image"):
        response = await client.get(f"/{ORIGINAL}{query}")
        assert response.status == 200, query
        assert await response.read() == original
    assert (await client.get(f"/{ORIGINAL}?width=240&height=300")).status == 200
    assert (await client.get(f"/{PREFIX}/cache/x/a/b/ab.jpg")).status == 404  # no such size


@pytest.mark.parametrize(
    ("url_format", "wanted"),
    [
        ("hash", ["240x300"]),
        ("hash", ["30x20", "--overwrite"]),
        ("query", ["HASH"]),
        ("query", ["240x300, HASH"]),
    ],
)
def test_sizes_of_the_other_url_format_are_a_usage_error(
    config: MakeConfig,
    s3_raw: RawS3,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
    url_format: str,
    wanted: list[str],
) -> None:
    path = config(url_format)
    digest = next(iter(layout(path).table))
    sizes, *flags = (arg.replace("HASH", digest) for arg in wanted)
    assert cli(path, "pregen", "--site", "m2", "--sizes", sizes, *flags) == 2
    captured = capsys.readouterr()
    other = sizes.replace("240x300, ", "")  # only the sizes this url_format does not make
    assert f"mediaproxy pregen: --sizes {other}: site 'm2' has url_format = \"{url_format}\"" in (
        captured.err
    )
    assert 'or set url_format = "both" in [sites.m2]' in captured.err
    assert "pregen done" not in captured.err  # nothing planned
    assert s3_raw.list(s3_bucket) == [ORIGINAL]


def test_a_size_of_neither_format_is_named_first(
    config: MakeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(config("hash"), "pregen", "--site", "m2", "--sizes", "240x300, 1x1") == 2
    assert "size '1x1' is not configured for site 'm2'" in capsys.readouterr().err


@pytest.mark.parametrize(("url_format", "name"), [("hash", "HASH"), ("query", "240x300")])
def test_sizes_of_the_sites_url_format_are_made(
    config: MakeConfig, s3_raw: RawS3, s3_bucket: str, url_format: str, name: str
) -> None:
    path = config(url_format)
    name = name.replace("HASH", next(iter(layout(path).table)))
    assert cli(path, "pregen", "--site", "m2", "--sizes", name, "--jobs", "1") == 0
    assert set(s3_raw.list(s3_bucket)) == {ORIGINAL, f"{PREFIX}/cache/{name}/a/b/ab.jpg"}


@pytest.mark.parametrize(
    "rel", ["cache/30x20/a/b/ab.jpg", "placeholder/default/image.jpg", "watermark/w.png"]
)
def test_delete_refuses_what_never_holds_originals_before_deleting_anything(
    config: MakeConfig,
    s3_raw: RawS3,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
    rel: str,
) -> None:
    path = config("both")
    s3_raw.put(s3_bucket, f"{PREFIX}/{rel}", images.jpeg(30, 20))
    before = sorted(s3_raw.list(s3_bucket))

    assert cli(path, "delete", "--site", "m2", "a/b/ab.jpg", rel) == 2
    top = rel.split("/")[0]
    err = capsys.readouterr().err
    assert f"mediaproxy delete: {rel}: {top}/ never holds originals" in err
    assert f"REL is a path below {PREFIX}/" in err
    assert sorted(s3_raw.list(s3_bucket)) == before
