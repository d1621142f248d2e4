"""`delete`: remove originals and every configured size of them, saying what went.

Meant for a handful of paths at a time, so each path is checked with a HEAD per key
(original plus one per size, concurrently) to report exactly what existed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TextIO

from bulk.engine import storage_reason
from layouts import SiteLayout
from storage import Storage, StorageError


def keys_of(layout: SiteLayout, rel: str) -> list[str]:
    """The original and every size of it."""
    return [layout.original_key(rel), *layout.size_keys(rel).values()]


async def delete_rels(
    storage: Storage, layout: SiteLayout, rels: Sequence[str], out: TextIO, err: TextIO
) -> bool:
    """Delete each rel's keys; print `deleted KEY` per object. False when some rel had
    nothing to delete or storage failed."""
    ok = True
    for rel in rels:
        keys = keys_of(layout, rel)
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
            err.write(
                f"{keys[0]}\tnothing to delete (give the path after {layout.originals_prefix})\n"
            )
            ok = False
        for key in existing:
            out.write(f"deleted {key}\n")
    return ok
