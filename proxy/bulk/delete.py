"""`delete`: remove originals and every configured size of them, saying what went.

Meant for a handful of paths at a time, so each path is checked with a HEAD per key
(original plus one per size, concurrently) to report exactly what existed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TextIO

from config import SiteSettings
from proxy.bulk.engine import storage_reason
from proxy.errors import StorageError
from proxy.keys import FULL
from proxy.storage import Storage


def keys_of(site: SiteSettings, rel: str) -> list[str]:
    return [f"{site.name}/{FULL}/{rel}"] + [f"{site.name}/{spec.text}/{rel}" for spec in site.sizes]


async def delete_rels(
    storage: Storage, site: SiteSettings, rels: Sequence[str], out: TextIO, err: TextIO
) -> bool:
    """Delete each rel's keys; print `deleted KEY` per object. False when some rel had
    nothing to delete or storage failed."""
    ok = True
    for rel in rels:
        keys = keys_of(site, rel)
        try:
            found = await asyncio.gather(*(storage.head(key) for key in keys))
            existing = [key for key, meta in zip(keys, found, strict=True) if meta is not None]
            if existing:
                await storage.delete(keys)  # all of them: a size stored meanwhile goes too
        except StorageError as error:
            err.write(f"{keys[0]}\t{storage_reason(error)}\n")
            ok = False
            continue
        if not existing:
            err.write(f"{keys[0]}\tnothing to delete (give the path after {site.name}/full/)\n")
            ok = False
        for key in existing:
            out.write(f"deleted {key}\n")
    return ok
