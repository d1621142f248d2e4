"""Bringing one original's sizes in line with the original as it is in storage now.

Events arrive late, twice, and out of order, and several workers may hold events of the
same original at once (a replace right after an upload, a delete racing a create). S3's
`sequencer` orders events of one key, but comparing it needs state shared by every
worker, and not every S3-compatible store (nor moto) sends one. So the event only says
*which* original to look at; what to do is decided by the original itself:

    original present  → render the wanted sizes from the bytes just read and put them;
                        then HEAD it again: another ETag (or gone) means it changed while
                        we wrote, so the puts may be stale → go round again
    original missing  → delete every size (both Magento 2 URL formats); then HEAD it
                        again: back meanwhile → go round again

Each round ends by looking at the original *after* its writes, so whichever worker writes
last also looks last, and the sizes end as the last state of the original, whatever the
order of events. An event that is already outdated before anything is written (its ETag
is not the original's any more, or a removal whose original is back) is *superseded*: a
later event of the same original exists and does the work, so this one writes nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from bulk.events.messages import Change, Kind
from layouts import ImageRequest, Size
from rendering import Priority, ResizePool
from resize import Limits, Rendered, SourceTooLarge, render_many
from storage import GetStatus, ObjectMeta, Storage
from telemetry import Metrics

ROUNDS = 3  # an original replaced more often than this while we write: retry later


class Outcome(Enum):
    RENDERED = "rendered"
    DELETED = "deleted"
    SUPERSEDED = "superseded"
    IGNORED = "ignored"


class Unsettled(Exception):
    """The original kept changing under the worker: the message is retried later."""


@dataclass(frozen=True)
class Settled:
    outcome: Outcome
    written: int = 0  # sizes put, or keys deleted


class Settler:
    """Settles originals on one storage, rendering in `pool` within `limits`."""

    def __init__(
        self,
        storage: Storage,
        pool: ResizePool,
        limits: Limits,
        cache_control: str,
        metrics: Metrics,
    ) -> None:
        self._storage, self._pool, self._limits = storage, pool, limits
        self._cache_control, self._metrics = cache_control, metrics

    async def settle(self, image: ImageRequest, change: Change) -> Settled:
        """Make `image`'s sizes match its original (see the module docstring). Raises
        ImageError (corrupt, too large), StorageError or Unsettled: the caller retries."""
        sizes = _wanted(image, change.sizes)
        if change.kind is Kind.CREATED and not sizes:
            return Settled(Outcome.IGNORED)  # pregen named sizes no longer configured
        for round_ in range(ROUNDS):
            found = await self._storage.get(image.key)
            if found.status is not GetStatus.OK or found.meta is None or found.body is None:
                if round_ == 0 and change.kind is Kind.CREATED and change.etag:
                    return Settled(Outcome.SUPERSEDED)  # deleted since: its removal follows
                keys = list(image.layout.size_keys(image.rel).values())
                await self._storage.delete(keys)
                if await self._storage.head(image.key) is None:
                    return Settled(Outcome.DELETED, len(keys))
                continue
            if round_ == 0 and _outdated(change, found.meta):
                await found.body.close()
                return Settled(Outcome.SUPERSEDED)
            if found.meta.size > self._limits.max_bytes:
                await found.body.close()
                raise SourceTooLarge(
                    f"source is {found.meta.size} bytes, over the {self._limits.max_bytes} limit"
                )
            data = await found.body.read()
            await self._put_all(image.rel, sizes, await self._render(data, sizes))
            after = await self._storage.head(image.key)
            if after is not None and after.etag == found.meta.etag:
                return Settled(Outcome.RENDERED, len(sizes))
        raise Unsettled(f"the original changed {ROUNDS} times while its sizes were written")

    async def _render(self, data: bytes, sizes: Sequence[Size]) -> list[Rendered]:
        params = [size.params for size in sizes]
        limits = self._limits

        def work() -> list[Rendered]:
            started = time.perf_counter()
            rendered = render_many(data, params, limits)
            self._metrics.resize_seconds.observe(time.perf_counter() - started)
            return rendered

        rendered = await self._pool.run(work, Priority.BACKGROUND)
        self._metrics.renders.inc()
        self._metrics.rendered_sizes.inc(len(rendered))
        return rendered

    async def _put_all(self, rel: str, sizes: Sequence[Size], rendered: list[Rendered]) -> None:
        """Put every size; all puts end before the first failure is raised, so a retry
        never races a put still in flight from this round."""
        results = await asyncio.gather(
            *(
                self._storage.put(
                    size.key(rel),
                    out.data,
                    content_type=out.content_type,
                    cache_control=self._cache_control,
                )
                for size, out in zip(sizes, rendered, strict=True)
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result


def _wanted(image: ImageRequest, names: Sequence[str] | None) -> tuple[Size, ...]:
    """Every size the layout makes, or (pregen --enqueue) the named ones still configured."""
    if names is None:
        return image.layout.sizes
    found = (image.layout.size_named(name) for name in names)
    return tuple(size for size in found if size is not None)


def _outdated(change: Change, meta: ObjectMeta) -> bool:
    """Whether the original changed after this event (so a later event covers it)."""
    if change.kind is Kind.REMOVED:
        return True  # it is there again: re-created after this removal
    return change.etag is not None and change.etag != meta.etag.strip('"')
