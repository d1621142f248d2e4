"""A Magento 2 bench site: Luma's hash table, and originals under Magento's own keys.

The table is computed the way a shop configures it (SPEC §9): the view.xml files of
tests/fixtures/magento2 in Magento's merge order (Blank, Magento_Catalog, Magento_Swatches,
Luma) and a crypt key from the environment. That gives 21 distinct parameter sets: 20
framed sizes from 30x20 to 700x700, and one with no width or height, which Magento's
resize service re-encodes at the original's own size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from bench import stage
from bench.corpus import Original
from config import Settings, load_settings
from layouts import Router
from resize import RenderParams
from storage import FileStorage, Storage

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "magento2"
VIEW_XML = ("blank_view.xml", "catalog_view.xml", "swatches_view.xml", "luma_view_mageos.xml")
SITE = "m2"
KEY_PREFIX = "media/catalog/product"
CRYPT_ENV = "BENCH_CRYPT_KEY"
CRYPT_KEY = "0123456789abcdef0123456789abcdef"  # any key: it only names the directories


def write_config(path: Path, storage_url: str, *, endpoint_url: str = "") -> Path:
    """A TOML config with one magento2 site (Luma's table) on `storage_url`."""
    views = ", ".join(f'"{FIXTURES / name}"' for name in VIEW_XML)
    path.write_text(
        f'[storage]\nurl = "{storage_url}"\nendpoint_url = "{endpoint_url}"\n'
        f'[sites.{SITE}]\nlayout = "magento2"\nview_xml = [{views}]\n'
        f'crypt_key_env = "{CRYPT_ENV}"\n'
    )
    return path


def load(path: Path) -> Settings:
    return load_settings(path, {CRYPT_ENV: CRYPT_KEY})


def table_params(settings: Settings) -> list[RenderParams]:
    """The parameter set of every size pregen makes on the site, in the site's order."""
    return [size.params for size in Router.from_settings(settings).layouts[SITE].sizes]


async def put_originals(storage: Storage, originals: Sequence[Original]) -> None:
    """Every original under `media/catalog/product/{a}/{b}/{file}`, eight at a time."""
    gate = asyncio.Semaphore(8)

    async def put(original: Original) -> None:
        async with gate:
            key = f"{KEY_PREFIX}/{original.rel}"
            await storage.put(key, original.data, content_type="image/jpeg")

    await asyncio.gather(*(put(o) for o in originals))


def stage_files(root: Path, originals: Sequence[Original]) -> str:
    """A file storage under `root` holding the originals; returns its storage URL."""
    asyncio.run(put_originals(FileStorage(root), originals))
    return stage.file_url(root)


def stage_s3(endpoint: str, originals: Sequence[Original]) -> str:
    """The bench bucket on `endpoint` holding the originals; returns its storage URL."""
    stage.create_bucket(endpoint)

    async def go() -> None:
        storage = await stage.open_s3(endpoint)
        try:
            await put_originals(storage, originals)
        finally:
            await storage.close()

    asyncio.run(go())
    return f"s3://{stage.BUCKET}"
