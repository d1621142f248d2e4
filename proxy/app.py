"""The aiohttp application: factory, routes, and one cleanup context for its resources."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from config import Settings
from proxy import health, serve, upload
from proxy.cache import MemoryCache
from proxy.instrumented import InstrumentedStorage
from proxy.metrics import Metrics
from proxy.middleware import problems
from proxy.pool import ResizePool
from proxy.renderer import Renderer
from proxy.services import SERVICES, Services, limits_of
from proxy.storage import Storage, open_storage
from resize import configure_libvips

log = logging.getLogger("mediaproxy")
DRAIN_SECONDS = 30.0


def create_app(settings: Settings, storage: Storage | None = None) -> web.Application:
    """Build the app; `storage` injects an open backend (tests), else it is opened from config.

    An injected storage stays the caller's to close.
    """
    app = web.Application(middlewares=[problems], client_max_size=settings.resize.max_source_bytes)
    app.cleanup_ctx.append(_lifetime(settings, storage))
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/{path:.*}", serve.handle_read)
    app.router.add_put("/{path:.*}", upload.handle_put)
    app.router.add_delete("/{path:.*}", upload.handle_delete)
    return app


def _lifetime(
    settings: Settings, injected: Storage | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        configure_libvips()
        storage = injected or await open_storage(
            settings.storage.url,
            endpoint_url=settings.storage.endpoint_url or None,
            region=settings.storage.region,
            max_connections=settings.storage.max_connections,
            timeout=settings.storage.timeout,
        )
        services = build_services(settings, storage)
        app[SERVICES] = services
        try:
            yield
        finally:
            await services.renderer.close()
            try:
                await services.tasks.drain(DRAIN_SECONDS)
            except TimeoutError:
                log.error("%d background stores still pending at shutdown", len(services.tasks))
            services.pool.close()
            if injected is None:
                await storage.close()

    return lifetime


def build_services(settings: Settings, storage: Storage) -> Services:
    metrics = Metrics()
    instrumented = InstrumentedStorage(storage, metrics)
    pool = ResizePool(settings.resize.worker_count, settings.resize.queue)
    return Services(
        settings=settings,
        storage=instrumented,
        metrics=metrics,
        pool=pool,
        renderer=Renderer(instrumented, pool, limits_of(settings), metrics),
        cache=MemoryCache(settings.cache.memory_bytes, settings.cache.max_item_bytes),
        upload_slots=asyncio.Semaphore(settings.server.max_upload_workers),
    )
