"""Everything a request handler needs, built once per app and reached by one typed key."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web

from config import Settings, SiteSettings
from proxy.cache import CachedObject, MemoryCache
from proxy.keys import MediaPath
from proxy.metrics import Metrics
from proxy.pool import ResizePool
from proxy.renderer import Renderer
from proxy.responses import etag_of, now
from proxy.storage import Storage
from proxy.tasks import BackgroundTasks
from resize import Limits, Rendered, RenderOptions

log = logging.getLogger("mediaproxy.store")


@dataclass
class Services:
    settings: Settings
    storage: Storage
    metrics: Metrics
    pool: ResizePool
    renderer: Renderer
    cache: MemoryCache
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    upload_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    @property
    def limits(self) -> Limits:
        return limits_of(self.settings)

    @staticmethod
    def options_for(site: SiteSettings) -> RenderOptions:
        return RenderOptions(
            quality=site.quality,
            frame=site.frame,
            upscale=site.upscale,
            background=site.background,
        )

    def publish(self, path: MediaPath, rendered: Rendered) -> CachedObject:
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
        self.cache.put(path.key, item)
        self.tasks.spawn(self._store(path.key, item), name=f"store {path.key}")
        return item

    async def _store(self, key: str, item: CachedObject) -> None:
        try:
            await self.storage.put(
                key, item.body, content_type=item.content_type, cache_control=item.cache_control
            )
        except Exception:
            self.metrics.store_errors.inc()
            log.warning("could not store %s; it was still served", key, exc_info=True)


def limits_of(settings: Settings) -> Limits:
    resize = settings.resize
    return Limits(max_bytes=resize.max_source_bytes, max_pixels=resize.max_source_pixels)


SERVICES = web.AppKey("services", Services)
