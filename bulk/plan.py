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

# Why a name with an image suffix is no original (layouts/segments.py SEGMENT), for logs.
INVALID_PATH = (
    "not a valid image path: each segment is ASCII letters, digits, '.', '_' and '-', "
    "not starting with '.' or '-'; rename it"
)


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
    for prefix in await original_prefixes(storage, layout):
        async for item in storage.list(prefix):
            rel = layout.original_rel(item.key)
            if rel is None:
                report.ignored += 1
            elif shard.owns(item.key):
                rels.append(rel)
    return rels


async def original_prefixes(storage: Storage, layout: SiteLayout) -> list[str]:
    """Where to list a site's originals: its prefix, or (when some directories below it
    hold no originals, like Magento 2's cache/) each other directory below it, in order.
    Originals are always dispersed into a/b/ directories, so none is missed."""
    prefix = layout.originals_prefix
    if not layout.not_originals:
        return [prefix]
    names = await storage.subdirectories(prefix)
    return [f"{prefix}{name}/" for name in names if name not in layout.not_originals]


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
    by_prefix: dict[str, list[tuple[int, str]]] = {}
    for bit, size in enumerate(sizes):  # a size and its format variants share one listing
        by_prefix.setdefault(size.prefix, []).append((bit, size.suffix))

    async def scan(prefix: str, members: list[tuple[int, str]]) -> None:
        async for item in storage.list(prefix):
            name = item.key[len(prefix) :]
            for bit, suffix in members:
                if name.endswith(suffix):
                    n = index.get(name[: len(name) - len(suffix)])
                    if n is not None:
                        present[n] |= 1 << bit

    await asyncio.gather(*(scan(prefix, members) for prefix, members in by_prefix.items()))
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
