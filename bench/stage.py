"""Setting the scene: a config file, a storage holding the originals, the sizes to ask for.

Originals are written through the project's own storage classes (as `migrate` would), so
the file backend has its metadata sidecars and S3 its content types: the servers then
read them the way production does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import botocore.session

from bench.corpus import Original
from config import SizeSpec, parse_sizes
from storage import FileStorage, S3Storage, Storage

SEEDS = ("300x", "300x300", "70x70", "170x170", "215x170", "65x65", "310x", "210x", "90x")
SIZES = (*SEEDS, "1200x")  # what the bench sites are configured with (issue 6)
PAGE = ("300x300", "215x170", "170x170", "70x70")  # one product page: main, box, thumbs
BUCKET = "bench"
REGION = "us-east-1"


def specs(texts: Sequence[str]) -> tuple[SizeSpec, ...]:
    return parse_sizes(list(texts))


def write_config(
    path: Path,
    storage_url: str,
    *,
    endpoint_url: str = "",
    memory_bytes: int | None = None,
    sites: Sequence[str] = ("t1",),
    siblings: bool | None = None,
) -> Path:
    """A TOML config in `path`: defaults everywhere except storage, cache and sites, and
    `render_siblings` when `siblings` is given."""
    lines = ["[storage]", f'url = "{storage_url}"', f'endpoint_url = "{endpoint_url}"']
    if memory_bytes is not None:
        lines += ["[cache]", f"memory_bytes = {memory_bytes}"]
    for site in sites:
        lines += [f"[sites.{site}]", f'sizes = "{", ".join(SIZES)}"']
        if siblings is not None:
            lines.append(f"render_siblings = {str(siblings).lower()}")
    path.write_text("\n".join(lines) + "\n")
    return path


def file_url(root: Path) -> str:
    return f"file:{root}"


def create_bucket(endpoint: str, bucket: str = BUCKET) -> None:
    session = botocore.session.get_session()
    client: Any = session.create_client("s3", region_name=REGION, endpoint_url=endpoint)
    try:
        client.create_bucket(Bucket=bucket)
    finally:
        client.close()


async def open_s3(endpoint: str, bucket: str = BUCKET) -> S3Storage:
    return await S3Storage.open(
        bucket, "", endpoint_url=endpoint, region=REGION, max_connections=64, timeout=60.0
    )


async def put_originals(
    storage: Storage, site: str, originals: Sequence[Original], concurrency: int = 8
) -> None:
    """Store every original under `{site}/full/{rel}`."""
    gate = asyncio.Semaphore(concurrency)

    async def put(original: Original) -> None:
        async with gate:
            key = f"{site}/full/{original.rel}"
            await storage.put(key, original.data, content_type="image/jpeg")

    await asyncio.gather(*(put(o) for o in originals))


def stage_files(root: Path, sites: Mapping[str, Sequence[Original]]) -> str:
    """A file storage under `root` with each site's originals; returns its storage URL."""

    async def go() -> None:
        storage = FileStorage(root)
        for site, originals in sites.items():
            await put_originals(storage, site, originals)

    asyncio.run(go())
    return file_url(root)


def stage_s3(endpoint: str, sites: Mapping[str, Sequence[Original]]) -> str:
    """The bench bucket on `endpoint` with each site's originals; returns its storage URL."""
    create_bucket(endpoint)

    async def go() -> None:
        storage = await open_s3(endpoint)
        try:
            for site, originals in sites.items():
                await put_originals(storage, site, originals)
        finally:
            await storage.close()

    asyncio.run(go())
    return f"s3://{BUCKET}"
