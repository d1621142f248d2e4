"""`migrate`: copy a Magento `media/catalog/product` tree into `{site}/full/`, then make sizes.

    SRC_DIR/a/b/file.jpg               → {site}/full/a/b/file.jpg
    SRC_DIR/placeholder/[*/]{name}     → {site}/full/{name}   (the site's `placeholder`)
    SRC_DIR/cache/, placeholder/, .*   → skipped (Magento's own resized copies, dot files)

Local files are only ever read. Each file is one job for the engine: read, upload as the
original (overwriting, unless `missing_only`), render every size from the bytes already in
memory, put them. With `missing_only`, originals already stored are not uploaded again but
their missing sizes are still made (from the stored copy), so re-running an interrupted
`migrate --missing-only` finishes both halves of the work.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from config import Settings, SiteSettings
from proxy.bulk.engine import Engine
from proxy.bulk.plan import Job, missing_sizes, valid_rel
from proxy.bulk.report import Report
from proxy.bulk.run import Run
from proxy.keys import FULL
from proxy.storage import Storage
from resize import is_image_name

SKIPPED_DIRS = ("cache", "placeholder")  # at the top of SRC_DIR


@dataclass(frozen=True)
class MigrateOptions:
    site: str
    source: Path
    missing_only: bool = False
    sizes: bool = True
    jobs: int = 0  # 0: one per CPU

    @property
    def workers(self) -> int:
        return self.jobs or len(os.sched_getaffinity(0))


@dataclass
class Scan:
    """What a tree holds: uploadable files by rel, names refused, files that are no image."""

    files: dict[str, Path]
    refused: list[tuple[str, str]]
    ignored: int = 0


def scan_tree(root: Path) -> Scan:
    """Walk `root` in sorted order (see the module docstring for what is skipped)."""
    scan = Scan({}, [])
    for directory, subdirs, names in os.walk(root):
        here = Path(directory).relative_to(root)
        subdirs[:] = sorted(
            name
            for name in subdirs
            if not name.startswith(".") and not (here == Path() and name in SKIPPED_DIRS)
        )
        for name in sorted(names):
            rel = (here / name).as_posix()
            if name.startswith("."):
                continue
            if not is_image_name(name):
                scan.ignored += 1
            elif not valid_rel(rel):
                scan.refused.append(
                    (
                        str(Path(directory, name)),
                        "not a valid image path: "
                        "segments are letters, digits, '.', '_', '-', not "
                        "starting with '.', '_' or '-'",
                    )
                )
            else:
                scan.files[rel] = Path(directory, name)
    return scan


def find_placeholder(root: Path, name: str) -> Path | None:
    """Magento 1 keeps `placeholder/default/{name}`, others `placeholder/{name}` or deeper
    (`placeholder/stores/1/{name}`): the shallowest match wins, then the first by name."""
    base = root / "placeholder"
    if not base.is_dir():
        return None
    found = [
        path
        for path in base.rglob(name)
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(base).parts)
    ]
    found.sort(key=lambda path: (len(path.parts), path.name != name, str(path)))
    return found[0] if found else None


def looks_like_media_root(root: Path) -> bool:
    """`media/` given instead of `media/catalog/product`: everything would land one level off."""
    return (root / "catalog" / "product").is_dir()


async def plan_migrate(
    storage: Storage, site: SiteSettings, options: MigrateOptions, run: Run
) -> list[Job]:
    scan = await asyncio.to_thread(scan_tree, options.source)
    if site.placeholder:
        path = await asyncio.to_thread(find_placeholder, options.source, site.placeholder)
        if path is not None:
            scan.files[site.placeholder] = path
    run.report.ignored += scan.ignored
    for key, reason in scan.refused:
        run.fail(key, reason)
    specs = site.sizes if options.sizes else ()
    if not options.missing_only:
        return [Job(site, rel, specs, path) for rel, path in scan.files.items()]
    prefix = f"{site.name}/{FULL}/"
    stored = {item.key[len(prefix) :] async for item in storage.list(prefix)}
    present = [rel for rel in scan.files if rel in stored]
    run.report.skipped += len(present)
    work = [Job(site, rel, specs, path) for rel, path in scan.files.items() if rel not in stored]
    if specs:
        work += await missing_sizes(storage, site, present, specs, run.report)
    return work


async def migrate(
    storage: Storage, settings: Settings, options: MigrateOptions, run: Run | None = None
) -> Report:
    """Upload the tree and make the sizes; failures are recorded, never raised."""
    run = run or Run("migrate")
    site = settings.sites[options.site]
    work = await plan_migrate(storage, site, options, run)
    uploads = sum(job.local is not None for job in work)
    run.notice(
        f"site {site.name}: {uploads} files to upload, {len(work) - uploads} stored "
        f"originals missing sizes, {run.report.skipped} objects present"
    )
    run.report.planned = len(work)
    run.report.planned_sizes = sum(len(job.specs) for job in work)
    await Engine(storage, settings, run, jobs=options.workers).execute(work)
    run.report.finished = time.monotonic()
    return run.report
