"""Everything a request handler needs, built once per app and reached by one typed key."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web

from config import Settings
from layouts import ImageRequest, Router
from proxy.cache import CachedObject, MemoryCache
from proxy.responses import etag_of, now
from proxy.tasks import BackgroundTasks
from rendering import Renderer, ResizePool, limits_of
from resize import Limits, Rendered
from storage import Storage
from telemetry import InstrumentedStorage, Metrics

log = logging.getLogger("mediaproxy.store")


@dataclass
class Services:
    settings: Settings
    router: Router
    storage: Storage
    metrics: Metrics
    pool: ResizePool
    cache: MemoryCache
    limits: Limits
    renderer: Renderer[CachedObject] = field(init=False)
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    upload_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    def __post_init__(self) -> None:
        self.renderer = Renderer(self.storage, self.pool, self.limits, self.metrics, self.publish)

    @classmethod
    def build(cls, settings: Settings, storage: Storage) -> Services:
        metrics = Metrics()
        return cls(
            settings=settings,
            router=Router.from_settings(settings),
            storage=InstrumentedStorage(storage, metrics),
            metrics=metrics,
            pool=ResizePool(settings.resize.worker_count, settings.resize.queue),
            cache=MemoryCache(settings.cache.memory_bytes, settings.cache.max_item_bytes),
            limits=limits_of(settings),
            upload_slots=asyncio.Semaphore(settings.server.max_upload_workers),
        )

    def publish(self, request: ImageRequest, rendered: Rendered) -> CachedObject:
        """Keep a fresh rendering in memory and store it back in the background.

        Until the store lands, the memory copy answers repeats, so the visitor never
        waits for the PUT; a failed store is logged and counted, the image still served.
        """
        item = CachedObject(
            body=rendered.data,
            content_type=rendered.content_type,
            etag=etag_of(rendered.data),
            last_modified=now(),
            cache_control=self.settings.cache.cache_control,
        )
        self.cache.put(request.key, item)
        self.tasks.spawn(self._store(request.key, item), name=f"store {request.key}")
        return item

    async def _store(self, key: str, item: CachedObject) -> None:
        try:
            await self.storage.put(
                key, item.body, content_type=item.content_type, cache_control=item.cache_control
            )
        except Exception:
            self.metrics.store_errors.inc()
            log.warning("could not store %s; it was still served", key, exc_info=True)


SERVICES = web.AppKey("services", Services)
