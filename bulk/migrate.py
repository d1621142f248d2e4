"""`migrate`: copy a Magento `media/catalog/product` tree into a site, then make its sizes.

    SRC_DIR/a/b/file.jpg               → the original a/b/file.jpg ({site}/full/a/b/file.jpg,
                                         or media/catalog/product/a/b/file.jpg in Magento 2)
    SRC_DIR/{placeholder}              → the site's placeholders, where the layout names them
                                         with a path (Magento 2: placeholder/default/x.jpg);
    SRC_DIR/placeholder/[*/]{name}     → a bare placeholder name (mventory: {site}/full/{name})
    SRC_DIR/cache/, placeholder/,
    watermark/, .*                     → skipped (Magento's own resized copies, dot files)
    a FIFO, socket or device, an
    invalid path                       → refused: a line in the error log, never opened

Local files are only ever read. Each file is one job for the engine: read, upload as the
original (overwriting, unless `missing_only`), render every size from the bytes already in
memory, put them. With `missing_only`, originals already stored are not uploaded again but
their missing sizes are still made (from the stored copy), so re-running an interrupted
`migrate --missing-only` finishes both halves of the work.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from bulk.engine import Engine
from bulk.plan import INVALID_PATH, Job, missing_sizes, original_prefixes
from bulk.report import Report
from bulk.run import Run
from config import Settings
from layouts import Router, SiteLayout, valid_rel
from resize import is_image_name
from storage import Storage

SKIPPED_DIRS = ("cache", "placeholder", "watermark")  # at the top of SRC_DIR


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
            if name.startswith("."):
                continue
            if not is_image_name(name):
                scan.ignored += 1
                continue
            path, rel = Path(directory, name), (here / name).as_posix()
            reason = not_a_file(path) or (None if valid_rel(rel) else INVALID_PATH)
            if reason:
                scan.refused.append((str(path), reason))
            else:
                scan.files[rel] = path
    return scan


def not_a_file(path: Path) -> str | None:
    """Why `path` is no regular file (nor a symlink to one), or None. Only `stat` is
    called: opening a FIFO blocks until a writer comes, which may be never."""
    try:
        mode = path.stat().st_mode
    except OSError as error:  # a dangling symlink, or gone since the walk listed it
        return f"cannot read: {error.strerror or error}"
    if stat.S_ISREG(mode):
        return None
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"not a regular file ({kind}): not read"


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


def placeholder_files(layout: SiteLayout, root: Path) -> dict[str, Path]:
    """The site's placeholders found in the tree, by rel."""
    found = {}
    for rel in {size.placeholder for size in layout.sizes if size.placeholder}:
        if "/" in rel:
            path: Path | None = root / rel if (root / rel).is_file() else None
        else:
            path = find_placeholder(root, rel)
        if path is not None:
            found[rel] = path
    return found


def looks_like_media_root(root: Path) -> bool:
    """`media/` given instead of `media/catalog/product`: everything would land one level off."""
    return (root / "catalog" / "product").is_dir()


async def plan_migrate(
    storage: Storage, layout: SiteLayout, options: MigrateOptions, run: Run
) -> list[Job]:
    scan = await asyncio.to_thread(scan_tree, options.source)
    scan.files |= await asyncio.to_thread(placeholder_files, layout, options.source)
    run.report.ignored += scan.ignored
    for key, reason in scan.refused:
        run.fail(key, reason)
    sizes = layout.sizes if options.sizes else ()
    if not options.missing_only:
        return [Job(layout, rel, sizes, path) for rel, path in scan.files.items()]
    prefix = layout.originals_prefix
    stored = {
        item.key[len(prefix) :]
        for listed in await original_prefixes(storage, layout)
        async for item in storage.list(listed)
    }
    present = [rel for rel in scan.files if rel in stored]
    run.report.skipped += len(present)
    work = [Job(layout, rel, sizes, path) for rel, path in scan.files.items() if rel not in stored]
    if sizes:
        work += await missing_sizes(storage, layout, present, sizes, run.report)
    return work


async def migrate(
    storage: Storage,
    settings: Settings,
    options: MigrateOptions,
    run: Run | None = None,
    *,
    router: Router | None = None,
) -> Report:
    """Upload the tree and make the sizes; failures are recorded, never raised.
    `router`: the sites' layouts, already built from `settings` (default: built here)."""
    run = run or Run("migrate")
    if router is None:
        router = Router.from_settings(settings)
    layout = router.layouts[options.site]
    work = await plan_migrate(storage, layout, options, run)
    uploads = sum(job.local is not None for job in work)
    run.notice(
        f"site {options.site}: {uploads} files to upload, {len(work) - uploads} stored "
        f"originals missing sizes, {run.report.skipped} objects present"
    )
    run.report.planned = len(work)
    run.report.planned_sizes = sum(len(job.sizes) for job in work)
    await Engine(storage, settings, run, jobs=options.workers).execute(work)
    run.report.finished = time.monotonic()
    return run.report
