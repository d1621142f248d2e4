"""Producing resized images on a miss, with every form of duplicate work folded away.

Requests for sizes of one original that arrive while its render is still pending (the
source downloading, or the job waiting for a thread) join one *batch*: one download, one
decode per shrink-on-load factor, every joined size derived from it. The same mechanism
is the single flight for one key: a request for a size already pending awaits the same
future until the result is published (in memory, with its store under way), even after
the batch stopped taking members. A batch stops taking members the moment a thread
starts it; requests for other sizes then open the next batch, which reuses the download.

Three rules keep that sharing safe:

- Every future of a batch is resolved on every path (rendered, failed, publish raising,
  cancelled), so no key can be left pending for later requests to wait on.
- `invalidate(original)` (an upload or delete replaced it) marks the download in use
  stale. A batch publishes only if its download was never marked, checked on the event
  loop right before publishing; otherwise it downloads again and renders again. If the
  original changes during every one of a few attempts, the last result still answers
  its waiters, flagged (`Origin.current`) so that it is neither cached nor stored.
- A batch whose every waiter has gone before a thread took it is dropped, not rendered.

A first render of an original may also keep its decode for the original's other sizes
(rendering.siblings): they are rendered in the background, and a batch of sizes that
decode covers renders from it meanwhile, with no download and no decode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Generic, TypeVar

from layouts import ImageRequest
from rendering.batch import Batch, Download, Origin, Source, retrieve
from rendering.downloads import Downloads
from rendering.errors import OriginalMissing
from rendering.pool import Priority, Reservation, ResizePool
from rendering.siblings import Siblings, candidates, kept_shrinks
from resize import Decoder, Limits, Rendered
from storage import Storage
from telemetry import Metrics

T = TypeVar("T")
S = TypeVar("S")
STALE_ATTEMPTS = 3  # downloads per batch while the original keeps changing under it
Publish = Callable[[ImageRequest, Rendered, Origin[S]], T]
Results = tuple[dict[str, Rendered], Decoder | None, list[ImageRequest]]  # and siblings


class Renderer(Generic[T, S]):
    """Renders sizes of originals in storage; `publish` turns each result into what the
    waiters receive (and stores it), on the event loop. `stamp` is called as each
    download of an original starts and its value reaches `publish` in the `Origin`;
    `known(key)` says a key is at hand already (in memory), so no sibling renders it;
    decodes kept for siblings (`keep_bytes` at most) serve for `keep_for` seconds after
    their download."""

    def __init__(
        self,
        storage: Storage,
        pool: ResizePool,
        limits: Limits,
        metrics: Metrics,
        publish: Publish[S, T],
        stamp: Callable[[], S],
        known: Callable[[str], bool] = lambda key: False,
        keep_for: float = 10.0,
        keep_bytes: int = 64 << 20,
    ) -> None:
        self._pool, self._limits = pool, limits
        self._metrics, self._publish = metrics, publish
        self._open: dict[str, Batch[T]] = {}
        self._pending: dict[str, Batch[T]] = {}
        self._running: set[asyncio.Task[None]] = set()
        # Sources held at once: one rendering and one downloaded next per thread. Batches
        # queued beyond that wait without holding their original's bytes (memory bound).
        self._in_memory = asyncio.Semaphore(2 * pool.workers)
        self._downloads: Downloads[S] = Downloads(storage, limits, stamp)
        busy = lambda key: key in self._pending or known(key)  # noqa: E731
        self.siblings: Siblings[T, S] = Siblings(
            storage, pool, metrics, publish, busy, keep_for, keep_bytes
        )

    async def render(self, request: ImageRequest) -> T:
        """The size `request` names, rendered and published; OriginalMissing without one."""
        assert request.size is not None, "only sizes are rendered"
        batch = self._pending.get(request.key)
        if batch is not None:  # the same key, already in a batch (even a started one)
            self._metrics.coalesced.inc()
        else:
            batch = self._join(request)
        future = batch.futures[request.key]
        batch.waiters += 1
        try:
            return await asyncio.shield(future)
        finally:
            batch.waiters -= 1
            if batch.waiters == 0 and not future.done():
                self._drop(batch)

    def invalidate(self, original: str) -> None:
        """`original` was replaced or deleted: nothing read before now may be published.

        Call it after the write to storage; renders under way download again.
        """
        self._downloads.invalidate(original)
        self.siblings.discard(original)

    async def close(self) -> None:
        """Let renders already under way finish (their results are being stored); drop
        siblings still to come."""
        await self.siblings.close()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _join(self, request: ImageRequest) -> Batch[T]:
        batch = self._open.get(request.original)
        if batch is not None and batch.join(request) is not None:
            self._metrics.coalesced.inc()
        else:
            reservation = self._pool.reserve()
            batch = Batch(request.original)
            self._open[request.original] = batch
            batch.join(request)
            batch.task = task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            # A callback, not a `finally`: a task cancelled before it ever ran runs no code.
            task.add_done_callback(lambda _: self._finished(batch, reservation, task))
        key, joined = request.key, batch
        self._pending[key] = batch
        batch.futures[key].add_done_callback(lambda _: self._unpend(key, joined))
        return batch

    def _unpend(self, key: str, batch: Batch[T]) -> None:
        if self._pending.get(key) is batch:
            del self._pending[key]

    def _drop(self, batch: Batch[T]) -> None:
        """Every waiter left before a thread took the batch: skip its work entirely."""
        if not batch.drop():
            return
        self._metrics.dropped_renders.inc()
        if self._open.get(batch.original) is batch:
            del self._open[batch.original]
        for key in batch.futures:
            self._unpend(key, batch)
        if batch.task is not None:
            batch.task.cancel()

    async def _run(self, batch: Batch[T]) -> None:
        download: Download[S] | None = None
        try:
            if await self._from_kept(batch):
                return
            async with self._in_memory:
                for attempt in range(1, STALE_ATTEMPTS + 1):
                    download = self._downloads.take(batch.original)
                    done = await self._attempt(batch, download, last=attempt == STALE_ATTEMPTS)
                    if not download.stale:
                        break
                    self._metrics.stale_renders.inc()
                    if done is not None:  # the last attempt: answer, but keep nothing
                        break
                    self._downloads.release(batch.original, download)
                    download = None
            assert download is not None
            assert done is not None
            source, (results, decoder, siblings) = done
            origin = Origin(batch.original, source.etag, download.stamp, not download.stale)
            self._publish_all(batch, results, origin)
            if decoder is not None and siblings:
                self.siblings.adopt(decoder, siblings, origin)
        except Exception as error:
            batch.settle(error)
        finally:
            if download is not None:
                self._downloads.release(batch.original, download)

    def _finished(
        self, batch: Batch[T], reservation: Reservation, task: asyncio.Task[None]
    ) -> None:
        reservation.release()
        self._running.discard(task)
        if self._open.get(batch.original) is batch:
            del self._open[batch.original]
        if task.cancelled():
            for future in batch.futures.values():
                future.cancel()
        batch.settle(OriginalMissing("render abandoned"))  # a safety net: all set already

    async def _attempt(
        self, batch: Batch[T], download: Download[S], *, last: bool
    ) -> tuple[Source, Results] | None:
        """Render from `download`; None if it went stale before now, unless `last`."""
        assert download.task is not None
        try:
            source = await asyncio.shield(download.task)
            if download.stale and not last:
                return None
            offered = []
            if (
                self.siblings.memory
                and not self._pool.under_pressure
                and (self.siblings.kept(batch.original) is None)
            ):
                offered = candidates(list(batch.members.values()))
            results = await self._pool.run(
                lambda: self._render(batch, source.data, offered),
                Priority.READ,
                source.cost,
            )
        except Exception:
            if download.stale and not last:  # what failed was the old original: try again
                return None
            raise
        return None if download.stale and not last else (source, results)

    def _publish_all(
        self, batch: Batch[T], results: dict[str, Rendered], origin: Origin[S]
    ) -> None:
        for key, rendered in results.items():
            future = batch.futures[key]
            try:
                item = self._publish(batch.members[key], rendered, origin)
            except Exception as error:
                future.set_exception(error)
                future.add_done_callback(retrieve)
            else:
                future.set_result(item)

    async def _from_kept(self, batch: Batch[T]) -> bool:
        """Render the batch from decodes kept for siblings, with no download, when they
        cover every member; whether it was (published, or dropped by its waiters)."""
        kept = self.siblings.kept(batch.original)
        asked = [request.size.params for request in batch.members.values() if request.size]
        if kept is None or not kept.decoder.covers(asked):
            return False
        results = await self._pool.run(lambda: self._render_kept(batch, kept.decoder))
        if results is None or kept.stale:  # not covered, or the original changed meanwhile
            return False
        self._publish_all(batch, results, replace(kept.origin, background=False))
        return True

    def _render_kept(self, batch: Batch[T], decoder: Decoder) -> dict[str, Rendered] | None:
        """Runs in a pool thread."""
        members = batch.take()
        params = [request.size.params for request in members if request.size is not None]
        results = decoder.render_kept(params)
        if results is None:
            return None
        self._metrics.rendered_sizes.inc(len(results))
        return {request.key: out for request, out in zip(members, results, strict=True)}

    def _render(self, batch: Batch[T], source: bytes, offered: list[ImageRequest]) -> Results:
        """Runs in a pool thread: the members, and which of the `offered` siblings share
        a decode with them (that decode is then kept for them)."""
        started = time.perf_counter()
        members = batch.take()
        if not members:
            return {}, None, []
        params = [request.size.params for request in members if request.size is not None]
        decoder = Decoder(source, self._limits)
        keep, siblings = kept_shrinks(decoder, members, offered) if offered else (set(), [])
        results = decoder.render(params, keep)
        self._metrics.resize_seconds.observe(time.perf_counter() - started)
        self._metrics.renders.inc()
        self._metrics.rendered_sizes.inc(len(results))
        outputs = {request.key: out for request, out in zip(members, results, strict=True)}
        return outputs, decoder, siblings
