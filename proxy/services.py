"""Everything a request handler needs, built once per app and reached by one typed key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from config import Settings
from layouts import ImageRequest, Router
from proxy.cache import CachedObject, MemoryCache, Ticket
from proxy.locks import OriginalLocks
from proxy.responses import etag_of, now
from proxy.tasks import BackgroundTasks
from rendering import Origin, Renderer, ResizePool, limits_of
from resize import Limits, Rendered
from storage import Storage
from telemetry import InstrumentedStorage, Metrics

log = logging.getLogger("mediaproxy.store")
BACKGROUND_STORES = 1  # stores of siblings at once: each costs the event loop a request
KEEP_DECODES = 60.0  # seconds decodes kept for siblings serve when memory_ttl is 0 (no bound)


@dataclass
class Services:
    settings: Settings
    router: Router
    storage: Storage
    metrics: Metrics
    pool: ResizePool
    cache: MemoryCache
    limits: Limits
    renderer: Renderer[CachedObject, Ticket] = field(init=False)
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    upload_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    originals: OriginalLocks = field(default_factory=OriginalLocks)
    checks: dict[str, _Check] = field(default_factory=dict)
    background_stores: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(BACKGROUND_STORES)
    )

    def __post_init__(self) -> None:
        self.renderer = Renderer(
            self.storage,
            self.pool,
            self.limits,
            self.metrics,
            self.publish,
            self.cache.ticket,
            known=lambda key: self.cache.get(key) is not None,
            keep_for=self.settings.cache.memory_ttl or KEEP_DECODES,
            keep_bytes=self.settings.resize.sibling_memory,
        )

    @classmethod
    def build(
        cls,
        settings: Settings,
        storage: Storage,
        clock: Callable[[], float] = time.monotonic,
        router: Router | None = None,
    ) -> Services:
        """`clock` drives memory-cache expiry (tests pass a fake one); `router` is the
        sites' layouts if the caller built them already."""
        metrics = Metrics()
        cache = settings.cache
        return cls(
            settings=settings,
            router=router or Router.from_settings(settings),
            storage=InstrumentedStorage(storage, metrics),
            metrics=metrics,
            pool=ResizePool(
                settings.resize.worker_count, settings.resize.queue, settings.resize.decode_memory
            ),
            cache=MemoryCache(cache.memory_bytes, cache.max_item_bytes, cache.memory_ttl, clock),
            limits=limits_of(settings),
            upload_slots=asyncio.Semaphore(settings.server.max_upload_workers),
        )

    def publish(
        self, request: ImageRequest, rendered: Rendered, origin: Origin[Ticket]
    ) -> CachedObject:
        """Keep a fresh rendering in memory and store it back in the background.

        Until the store lands, the memory copy answers repeats, so the visitor never
        waits for the PUT; a failed store is logged and counted, the image still served.
        The memory copy is dated from when its original was read (see proxy.cache).
        """
        item = CachedObject(
            body=rendered.data,
            content_type=rendered.content_type,
            etag=etag_of(rendered.data),
            last_modified=now(),
            cache_control=self.settings.cache.cache_control,
        )
        if origin.current:  # else the original changed meanwhile: answer, keep nothing
            self.cache.put(request.key, item, origin.stamp)
            store = self._store(request.key, item, origin)
            self.tasks.spawn(store, name=f"store {request.key}", keys=[request.key])
        return item

    async def _store(self, key: str, item: CachedObject, origin: Origin[Ticket]) -> None:
        """Store a rendering, then make sure its original is still the one it came from.

        In this process, a write of the original invalidates renders under way and waits
        for stores like this one before writing sizes itself. Another replica cannot: if it
        replaced or deleted the original after we read it, our store may have landed after
        its writes. Reading the original's ETag *after* our store lands closes that race:
        if it changed, the size is deleted again and the next request renders it anew.
        Stores of background renders (siblings) go BACKGROUND_STORES at a time, so a burst
        of them cannot crowd the event loop or the storage connections of visitors.
        """
        try:
            async with self.background_stores if origin.background else contextlib.nullcontext():
                await self.storage.put(
                    key,
                    item.body,
                    content_type=item.content_type,
                    cache_control=item.cache_control,
                )
            if await self._still(origin):
                return
            self.metrics.stale_stores.inc()
            self.cache.purge([key])
            await self.storage.delete([key])
        except Exception:
            self.metrics.store_errors.inc()
            log.warning("could not store %s; it was still served", key, exc_info=True)

    async def _still(self, origin: Origin[Ticket]) -> bool:
        """Whether `origin`'s original still has the ETag it was rendered from, read after
        the caller's store landed. Stores of one original that land while a read of it is
        in flight share the next one (sent after they landed), so a batch of sizes, or a
        run of siblings, costs a HEAD or two instead of one each."""
        check = self.checks.get(origin.key)
        if check is None or check.sent:
            previous, check = check, _Check()
            self.checks[origin.key] = check
            check.task = asyncio.create_task(self._check(origin.key, check, previous))
            check.task.add_done_callback(_seen)
        assert check.task is not None
        return await asyncio.shield(check.task) == origin.etag

    async def _check(self, key: str, check: _Check, previous: _Check | None) -> str | None:
        try:
            if previous is not None and previous.task is not None:
                await asyncio.wait([previous.task])
            check.sent = True
            current = await self.storage.head(key)
            return current.etag if current is not None else None
        finally:
            if self.checks.get(key) is check:
                del self.checks[key]


def _seen(task: asyncio.Task[str | None]) -> None:
    """Its sharers may all be gone (shutdown): a failure is theirs to log, not asyncio's."""
    if not task.cancelled():
        task.exception()


@dataclass(eq=False)
class _Check:
    """One HEAD of an original that the stores landed before it is sent may share."""

    sent: bool = False
    task: asyncio.Task[str | None] | None = None


SERVICES = web.AppKey("services", Services)
