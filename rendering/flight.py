"""Producing resized images on a miss, with every form of duplicate work folded away.

Requests for sizes of one original that arrive while its render is still pending (the
source downloading, or the job waiting for a thread) join one *batch*: one download, one
decode per shrink-on-load factor, every joined size derived from it. The same mechanism
is the single flight for one key: a request for a size already pending awaits the same
future until the result is published (in memory, with its store under way), even after
the batch stopped taking members. A batch stops taking members the moment a thread
starts it; requests for other sizes then open the next batch, which reuses the download.

Every future of a batch is resolved on every path (rendered, failed, publish raising,
cancelled), so no key can be left pending for later requests to wait on.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from layouts import ImageRequest
from rendering.errors import OriginalMissing
from rendering.pool import Priority, Reservation, ResizePool
from resize import Limits, Rendered, SourceTooLarge, render_many
from storage import GetStatus, Storage
from telemetry import Metrics

T = TypeVar("T")
Publish = Callable[[ImageRequest, Rendered], T]


@dataclass
class _Batch(Generic[T]):
    original: str
    members: dict[str, ImageRequest] = field(default_factory=dict)
    futures: dict[str, asyncio.Future[T]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: bool = False

    def join(self, request: ImageRequest) -> asyncio.Future[T] | None:
        """The future for `request` in this batch, or None once a thread has taken it."""
        with self.lock:
            if self.started:
                return None
            if request.key not in self.futures:
                self.members[request.key] = request
                self.futures[request.key] = asyncio.get_running_loop().create_future()
            return self.futures[request.key]

    def take(self) -> list[ImageRequest]:
        with self.lock:
            self.started = True
            return list(self.members.values())

    def settle(self, error: BaseException) -> None:
        """Fail every future still pending (waiters that left never see it logged)."""
        for future in self.futures.values():
            if not future.done():
                future.set_exception(error)
                future.add_done_callback(_retrieve)


class Renderer(Generic[T]):
    """Renders sizes of originals in storage; `publish` turns each result into what the
    waiters receive (and stores it), on the event loop."""

    def __init__(
        self,
        storage: Storage,
        pool: ResizePool,
        limits: Limits,
        metrics: Metrics,
        publish: Publish[T],
    ) -> None:
        self._storage, self._pool, self._limits = storage, pool, limits
        self._metrics, self._publish = metrics, publish
        self._open: dict[str, _Batch[T]] = {}
        self._pending: dict[str, asyncio.Future[T]] = {}
        self._running: set[asyncio.Task[None]] = set()
        # Sources held at once: one rendering and one downloaded next per thread. Batches
        # queued beyond that wait without holding their original's bytes (memory bound).
        self._in_memory = asyncio.Semaphore(2 * pool.workers)
        self._downloads: dict[str, asyncio.Task[bytes]] = {}
        self._download_users: Counter[str] = Counter()

    async def render(self, request: ImageRequest) -> T:
        """The size `request` names, rendered and published; OriginalMissing without one."""
        assert request.size is not None, "only sizes are rendered"
        pending = self._pending.get(request.key)
        if pending is not None:  # the same key, already in a batch (even a started one)
            self._metrics.coalesced.inc()
            return await asyncio.shield(pending)
        batch = self._open.get(request.original)
        future = batch.join(request) if batch is not None else None
        if future is not None:
            self._metrics.coalesced.inc()
        else:
            reservation = self._pool.reserve()
            batch = _Batch(request.original)
            self._open[request.original] = batch
            future = batch.join(request)
            assert future is not None
            task = asyncio.create_task(self._run(batch, reservation))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        key = request.key
        self._pending[key] = future
        future.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(future)

    async def _run(self, batch: _Batch[T], reservation: Reservation) -> None:
        downloading = False
        try:
            async with self._in_memory:
                downloading = True
                source = await self._source(batch.original)
                results = await self._pool.run(lambda: self._render(batch, source), Priority.READ)
            for key, rendered in results.items():
                request = batch.members[key]
                try:
                    item = self._publish(request, rendered)
                except Exception as error:
                    batch.futures[key].set_exception(error)
                    batch.futures[key].add_done_callback(_retrieve)
                else:
                    batch.futures[key].set_result(item)
        except asyncio.CancelledError:
            for future in batch.futures.values():
                future.cancel()
            raise
        except Exception as error:
            batch.settle(error)
        finally:
            batch.settle(OriginalMissing("render abandoned"))  # a safety net: all set above
            reservation.release()
            if downloading:
                self._release_source(batch.original)
            if self._open.get(batch.original) is batch:
                del self._open[batch.original]

    async def _source(self, original: str) -> bytes:
        """The original's bytes, downloaded once for every batch that needs them meanwhile.

        A product page asking for four sizes can split into two batches (the first one
        started before the last request arrived); they still share one download.
        """
        self._download_users[original] += 1
        if original not in self._downloads:
            self._downloads[original] = asyncio.create_task(self._download(original))
        return await asyncio.shield(self._downloads[original])

    def _release_source(self, original: str) -> None:
        self._download_users[original] -= 1
        if self._download_users[original] <= 0:
            del self._download_users[original]
            download = self._downloads.pop(original, None)
            if download is not None and download.done() and not download.cancelled():
                download.exception()  # retrieved: every user saw it already

    async def _download(self, original: str) -> bytes:
        found = await self._storage.get(original)
        if found.status is not GetStatus.OK or found.body is None or found.meta is None:
            raise OriginalMissing()
        if found.meta.size > self._limits.max_bytes:
            await found.body.close()
            raise SourceTooLarge("source image is over the byte limit")
        return await found.body.read()

    def _render(self, batch: _Batch[T], source: bytes) -> dict[str, Rendered]:
        """Runs in a pool thread."""
        started = time.perf_counter()
        members = batch.take()
        params = [request.size.params for request in members if request.size is not None]
        results = render_many(source, params, self._limits)
        self._metrics.resize_seconds.observe(time.perf_counter() - started)
        self._metrics.renders.inc()
        self._metrics.rendered_sizes.inc(len(results))
        return {request.key: out for request, out in zip(members, results, strict=True)}

    async def close(self) -> None:
        """Let renders already under way finish (their results are being stored)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
