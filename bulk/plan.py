"""What a bulk run has to do: originals found by listing, minus what already exists.

Everything is decided from paginated listings (the site's originals once, then each
size's prefix once, concurrently), never a HEAD per object: for 400k originals and nine
sizes that is a few thousand list calls instead of four million HEADs. The diff is a
bitmask per original, so memory stays at one string and one int per original however
many sizes exist. Keys come from the layout (`originals_prefix + rel`, `size.prefix + rel`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bulk.report import Report
from bulk.shard import ALL, Shard
from layouts import SiteLayout, Size
from storage import Storage


@dataclass(frozen=True)
class Job:
    """One original and the sizes to make of it.

    `local` (migrate) is a file to upload as the original first; without it the original
    is downloaded from storage. An empty `sizes` only uploads.
    """

    layout: SiteLayout
    rel: str
    sizes: tuple[Size, ...]
    local: Path | None = None

    @property
    def key(self) -> str:
        return self.layout.original_key(self.rel)


async def list_originals(
    storage: Storage, layout: SiteLayout, report: Report, shard: Shard = ALL
) -> list[str]:
    """The rels of the site's image originals in `shard`, in listing (key) order."""
    rels = []
    async for item in storage.list(layout.originals_prefix):
        rel = layout.original_rel(item.key)
        if rel is None:
            report.ignored += 1
        elif shard.owns(item.key):
            rels.append(rel)
    return rels


async def missing_sizes(
    storage: Storage,
    layout: SiteLayout,
    rels: Sequence[str],
    sizes: Sequence[Size],
    report: Report,
) -> list[Job]:
    """A job per original of `rels` lacking any of `sizes`; counts the present ones skipped."""
    index = {rel: n for n, rel in enumerate(rels)}
    present = [0] * len(rels)

    async def scan(bit: int, size: Size) -> None:
        async for item in storage.list(size.prefix):
            n = index.get(item.key[len(size.prefix) :])
            if n is not None:
                present[n] |= 1 << bit

    await asyncio.gather(*(scan(bit, size) for bit, size in enumerate(sizes)))
    jobs = []
    for rel, mask in zip(rels, present, strict=True):
        todo = tuple(size for bit, size in enumerate(sizes) if not mask >> bit & 1)
        report.skipped += len(sizes) - len(todo)
        if todo:
            jobs.append(Job(layout, rel, todo))
    return jobs


async def plan_site(
    storage: Storage,
    layout: SiteLayout,
    sizes: Sequence[Size],
    report: Report,
    *,
    overwrite: bool = False,
    shard: Shard = ALL,
) -> list[Job]:
    """Every job of one site: all `sizes` of each original with `overwrite`, else the diff."""
    rels = await list_originals(storage, layout, report, shard)
    if overwrite:
        return [Job(layout, rel, tuple(sizes)) for rel in rels]
    return await missing_sizes(storage, layout, rels, sizes, report)
