"""What a bulk run has to do: originals found by listing, minus what already exists.

Everything is decided from paginated listings (`{site}/full/` once, then `{site}/{dim}/`
once per size, concurrently), never a HEAD per object: for 400k originals and nine sizes
that is a few thousand list calls instead of four million HEADs. The diff is a bitmask per
original, so memory stays at one string and one int per original however many sizes exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from config import SiteSettings, SizeSpec
from proxy.bulk.report import Report
from proxy.bulk.shard import ALL, Shard
from proxy.errors import BadPath
from proxy.keys import FULL, parse_rel
from proxy.storage import Storage
from resize import is_image_name


@dataclass(frozen=True)
class Job:
    """One original and the sizes to make of it.

    `local` (migrate) is a file to upload as the original first; without it the original
    is downloaded from storage. An empty `specs` only uploads.
    """

    site: SiteSettings
    rel: str
    specs: tuple[SizeSpec, ...]
    local: Path | None = None

    @property
    def key(self) -> str:
        return f"{self.site.name}/{FULL}/{self.rel}"

    def sized_key(self, spec: SizeSpec) -> str:
        return f"{self.site.name}/{spec.text}/{self.rel}"


def valid_rel(rel: str) -> bool:
    try:
        return parse_rel(rel) == rel
    except BadPath:
        return False


async def list_originals(
    storage: Storage, site: SiteSettings, report: Report, shard: Shard = ALL
) -> list[str]:
    """The rels of the site's image originals in `shard`, in listing (key) order."""
    prefix = f"{site.name}/{FULL}/"
    rels = []
    async for item in storage.list(prefix):
        rel = item.key[len(prefix) :]
        if not (is_image_name(rel) and valid_rel(rel)):
            report.ignored += 1
        elif shard.owns(item.key):
            rels.append(rel)
    return rels


async def missing_sizes(
    storage: Storage,
    site: SiteSettings,
    rels: Sequence[str],
    specs: Sequence[SizeSpec],
    report: Report,
) -> list[Job]:
    """A job per original of `rels` lacking any of `specs`; counts the present ones skipped."""
    index = {rel: n for n, rel in enumerate(rels)}
    present = [0] * len(rels)

    async def scan(bit: int, spec: SizeSpec) -> None:
        prefix = f"{site.name}/{spec.text}/"
        async for item in storage.list(prefix):
            n = index.get(item.key[len(prefix) :])
            if n is not None:
                present[n] |= 1 << bit

    await asyncio.gather(*(scan(bit, spec) for bit, spec in enumerate(specs)))
    jobs = []
    for rel, mask in zip(rels, present, strict=True):
        todo = tuple(spec for bit, spec in enumerate(specs) if not mask >> bit & 1)
        report.skipped += len(specs) - len(todo)
        if todo:
            jobs.append(Job(site, rel, todo))
    return jobs


async def plan_site(
    storage: Storage,
    site: SiteSettings,
    specs: Sequence[SizeSpec],
    report: Report,
    *,
    overwrite: bool = False,
    shard: Shard = ALL,
) -> list[Job]:
    """Every job of one site: all `specs` of each original with `overwrite`, else the diff."""
    rels = await list_originals(storage, site, report, shard)
    if overwrite:
        return [Job(site, rel, tuple(specs)) for rel in rels]
    return await missing_sizes(storage, site, rels, specs, report)
