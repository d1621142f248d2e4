"""Running jobs on every core: downloads and puts on the event loop, renders in threads.

Each job is one original: fetch it once (download, or read the local file and upload it
for `migrate`), render all of its sizes in one `render_many` call (one decode per
shrink-on-load factor), put each size as one whole object. libvips releases the GIL, so a
pool of `jobs` threads keeps that many cores rendering, while twice as many lanes keep the next
originals downloading and the last ones uploading meanwhile; at most one original per lane
is in memory.

Stopping (`run.stop`, the first Ctrl-C) takes no new original and skips renders not yet
started; renders under way finish and their sizes are stored. Cancelling the coroutine
abandons in-flight puts, which is safe too: a put is one request (S3) or a rename (files),
so an object is either all there or not there, and the next run's diff redoes it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import mimetypes
import os
import stat
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bulk.plan import Job
from bulk.run import Run
from config import Settings
from rendering import limits_of
from resize import ImageError, Rendered, SourceTooLarge, configure_libvips, render_many, sniff
from storage import GetStatus, Storage, StorageError

log = logging.getLogger("mediaproxy.bulk")
LANES_PER_JOB = 2
CHANGED_MEANWHILE = (
    "the original was replaced or deleted while its sizes were made: they were removed "
    "again (its writer makes the new ones; run again to be sure)"
)


def connections_for(jobs: int) -> int:
    """Storage connections that let every lane work at once: one GET, then ~9 PUTs."""
    return LANES_PER_JOB * max(1, jobs) * 10


class Engine:
    def __init__(self, storage: Storage, settings: Settings, run: Run, *, jobs: int) -> None:
        self._storage, self._run = storage, run
        self._jobs = max(1, jobs)
        self._limits = limits_of(settings)
        self._cache_control = settings.cache.cache_control

    async def execute(self, work: Sequence[Job]) -> None:
        """Do every job (until stopped); failures are recorded in the run, never raised."""
        configure_libvips()
        self._run.progress.start()
        self._run.working = True
        pool = ThreadPoolExecutor(self._jobs, thread_name_prefix="bulk-render")
        queue = iter(work)
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(LANES_PER_JOB * self._jobs, len(work))):
                    group.create_task(self._lane(queue, pool))
        finally:
            # Renders already running finish in their threads; queued ones are dropped.
            pool.shutdown(wait=False, cancel_futures=True)
            self._run.progress.clear()

    async def _lane(self, queue: Iterator[Job], pool: ThreadPoolExecutor) -> None:
        for job in queue:
            if self._run.stopping:
                self._run.report.interrupted = True
                return
            await self._one(job, pool)

    async def _one(self, job: Job, pool: ThreadPoolExecutor) -> None:
        try:
            source = await (self._upload(job) if job.local is not None else self._download(job))
            if source is None:
                return
            if job.sizes:
                if self._run.stopping:
                    self._run.report.interrupted = True
                    return
                await self._make(job, *source, pool)
        except ImageError as error:
            self._run.fail(job.key, error.reason)
        except StorageError as error:
            self._run.fail(job.key, storage_reason(error))
        except OSError as error:  # reading the local file (storage errors are StorageError)
            self._run.fail(job.key, f"cannot read {job.local}: {error.strerror or error}")
        except Exception as error:  # a bug or a libvips surprise must not end the run
            log.exception("unexpected failure on %s", job.key)
            self._run.fail(job.key, f"unexpected {type(error).__name__}: {error}")
        self._run.report.originals += 1
        self._run.progress.advance()

    async def _download(self, job: Job) -> tuple[bytes, str] | None:
        """The original's bytes and ETag, or None when it is gone."""
        found = await self._storage.get(job.key)
        if found.status is not GetStatus.OK or found.meta is None or found.body is None:
            self._run.report.ignored += 1  # deleted since the listing: nothing to make
            return None
        if found.meta.size > self._limits.max_bytes:
            await found.body.close()
            raise SourceTooLarge(
                f"source is {found.meta.size} bytes, over the {self._limits.max_bytes} limit"
            )
        return await found.body.read(), found.meta.etag

    async def _upload(self, job: Job) -> tuple[bytes, str]:
        assert job.local is not None
        data = await asyncio.to_thread(read_regular, job.local)
        fmt = sniff(data)
        content_type = fmt.content_type if fmt else _guess_type(job.rel)
        stored = await self._storage.put(
            job.key, data, content_type=content_type, cache_control=self._cache_control
        )
        self._run.report.uploaded += 1
        self._run.report.bytes_written += len(data)
        return data, stored.etag

    async def _make(self, job: Job, data: bytes, etag: str, pool: ThreadPoolExecutor) -> None:
        """Render and store the job's sizes from `data`, the original with `etag`. If the
        original has changed once they landed (an upload or delete through a server, which
        takes no lock of ours), they are deleted again: its writer makes the new ones, and
        a size of the old picture must not stay under its key."""
        # The layout's own parameters, so a key's bytes equal what serving renders on demand.
        params = [size.params for size in job.sizes]
        loop = asyncio.get_running_loop()
        rendered = await loop.run_in_executor(pool, render_many, data, params, self._limits)
        keys = [size.key(job.rel) for size in job.sizes]
        stored = await asyncio.gather(
            *(self._put(key, out) for key, out in zip(keys, rendered, strict=True))
        )
        written = [key for key, ok in zip(keys, stored, strict=True) if ok]
        if not written:
            return
        now = await self._storage.head(job.key)
        if now is None or now.etag != etag:
            await self._storage.delete(written)
            self._run.report.made -= len(written)
            self._run.fail(job.key, CHANGED_MEANWHILE)

    async def _put(self, key: str, image: Rendered) -> bool:
        try:
            await self._storage.put(
                key, image.data, content_type=image.content_type, cache_control=self._cache_control
            )
        except StorageError as error:
            self._run.fail(key, storage_reason(error))
            return False
        self._run.report.made += 1
        self._run.report.bytes_written += len(image.data)
        return True


def storage_reason(error: StorageError) -> str:
    """The public reason plus the backend's own words: an operator reads this log."""
    cause = error.__cause__
    detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return f"storage: {error.reason}{detail}"[:500]


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file. Non-blocking open and a check of what was opened: a
    file swapped for a FIFO after migrate's scan must not block a thread forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return file.read()


def _guess_type(rel: str) -> str:
    return mimetypes.guess_type(rel)[0] or "application/octet-stream"
