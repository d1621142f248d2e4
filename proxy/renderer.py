"""Producing resized images on a miss, with every form of duplicate work folded away.

Requests for sizes of one original that arrive while its render is still pending (the
source downloading, or the job waiting for a thread) join one *batch*: one download, one
decode per shrink-on-load factor, every joined size derived from it. The same mechanism
is the single-flight for one key: a request for a size already pending awaits the same
future until the result is published (in memory, with its store under way), even after
the batch stopped taking members. A batch stops taking members the moment a thread
starts it; requests for other sizes then open the next batch, which reuses the download.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from config import SizeSpec
from proxy.cache import CachedObject
from proxy.errors import NotFound
from proxy.keys import MediaPath
from proxy.metrics import Metrics
from proxy.pool import Priority, Reservation, ResizePool
from proxy.storage import GetStatus, Storage
from resize import Limits, Rendered, RenderOptions, SourceTooLarge, render_sizes

Publish = Callable[[MediaPath, Rendered], CachedObject]


@dataclass
class _Batch:
    original: MediaPath
    options: RenderOptions
    specs: dict[str, SizeSpec] = field(default_factory=dict)
    futures: dict[str, asyncio.Future[CachedObject]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: bool = False

    def join(self, spec: SizeSpec) -> asyncio.Future[CachedObject] | None:
        """The future for `spec` in this batch, or None once a thread has taken it."""
        with self.lock:
            if self.started:
                return None
            if spec.text not in self.futures:
                self.specs[spec.text] = spec
                self.futures[spec.text] = asyncio.get_running_loop().create_future()
            return self.futures[spec.text]

    def take(self) -> list[SizeSpec]:
        with self.lock:
            self.started = True
            return list(self.specs.values())


class Renderer:
    def __init__(
        self, storage: Storage, pool: ResizePool, limits: Limits, metrics: Metrics
    ) -> None:
        self._storage = storage
        self._pool = pool
        self._limits = limits
        self._metrics = metrics
        self._open: dict[tuple[MediaPath, RenderOptions], _Batch] = {}
        self._pending: dict[tuple[MediaPath, str, RenderOptions], asyncio.Future[CachedObject]] = {}
        self._running: set[asyncio.Task[None]] = set()
        # Sources held at once: one rendering and one downloaded next per thread. Batches
        # queued beyond that wait without holding their original's bytes (memory bound).
        self._in_memory = asyncio.Semaphore(2 * pool.workers)
        self._downloads: dict[MediaPath, asyncio.Task[bytes]] = {}
        self._download_users: Counter[MediaPath] = Counter()

    async def render(
        self, original: MediaPath, spec: SizeSpec, options: RenderOptions, publish: Publish
    ) -> CachedObject:
        """`spec` of `original`, rendered and published; NotFound when there is no original."""
        pending = self._pending.get((original, spec.text, options))
        if pending is not None:  # the same key, already in a batch (even a started one)
            self._metrics.coalesced.inc()
            return await asyncio.shield(pending)
        batch = self._open.get((original, options))
        future = batch.join(spec) if batch is not None else None
        if future is not None:
            self._metrics.coalesced.inc()
        else:
            reservation = self._pool.reserve()
            batch = _Batch(original, options)
            self._open[(original, options)] = batch
            future = batch.join(spec)
            assert future is not None
            task = asyncio.create_task(self._run(batch, reservation, publish))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        pending_key = (original, spec.text, options)
        self._pending[pending_key] = future
        future.add_done_callback(lambda _: self._pending.pop(pending_key, None))
        return await asyncio.shield(future)

    async def _run(self, batch: _Batch, reservation: Reservation, publish: Publish) -> None:
        try:
            async with self._in_memory:
                source = await self._source(batch.original)
                results = await self._pool.run(lambda: self._render(batch, source), Priority.READ)
        except asyncio.CancelledError:
            for future in batch.futures.values():
                future.cancel()
            raise
        except Exception as error:
            self._fail(batch, error)
        else:
            for text, rendered in results.items():
                item = publish(batch.original.sized(text), rendered)
                if not batch.futures[text].done():
                    batch.futures[text].set_result(item)
        finally:
            reservation.release()
            self._release_source(batch.original)
            if self._open.get((batch.original, batch.options)) is batch:
                del self._open[(batch.original, batch.options)]

    async def _source(self, original: MediaPath) -> bytes:
        """The original's bytes, downloaded once for every batch that needs them meanwhile.

        A product page asking for four sizes can split into two batches (the first one
        started before the last request arrived); they still share one download.
        """
        self._download_users[original] += 1
        if original not in self._downloads:
            self._downloads[original] = asyncio.create_task(self._download(original))
        return await asyncio.shield(self._downloads[original])

    def _release_source(self, original: MediaPath) -> None:
        self._download_users[original] -= 1
        if self._download_users[original] <= 0:
            del self._download_users[original]
            download = self._downloads.pop(original, None)
            if download is not None and download.done() and not download.cancelled():
                download.exception()  # retrieved: every user saw it already

    async def _download(self, original: MediaPath) -> bytes:
        found = await self._storage.get(original.key)
        if found.status is not GetStatus.OK or found.body is None or found.meta is None:
            raise NotFound("no such image")
        if found.meta.size > self._limits.max_bytes:
            await found.body.close()
            raise SourceTooLarge("source image is over the byte limit")
        return await found.body.read()

    def _render(self, batch: _Batch, source: bytes) -> dict[str, Rendered]:
        """Runs in a pool thread."""
        started = time.perf_counter()
        results = render_sizes(source, batch.take(), batch.options, self._limits)
        self._metrics.resize_seconds.observe(time.perf_counter() - started)
        self._metrics.renders.inc()
        self._metrics.rendered_sizes.inc(len(results))
        return results

    @staticmethod
    def _fail(batch: _Batch, error: Exception) -> None:
        for future in batch.futures.values():
            if not future.done():
                future.set_exception(error)
                future.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def close(self) -> None:
        """Let renders already under way finish (their results are being stored)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
