"""The aiohttp application: factory, routes, and one cleanup context for its resources."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvloop
from aiohttp import web

from config import Settings
from layouts import Router
from proxy import health, reads, writes
from proxy.accesslog import AccessLogger
from proxy.guard import (
    ERROR_LOG,
    ServerErrorLog,
    guarded,
    method_not_allowed,
    quiet_bad_requests,
)
from proxy.services import SERVICES, Services
from resize import configure_libvips
from storage import Storage, open_storage

log = logging.getLogger("mediaproxy")
DRAIN_SECONDS = 30.0


def create_app(
    settings: Settings,
    storage: Storage | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    router: Router | None = None,
) -> web.Application:
    """Build the app; `storage` injects an open backend (tests), else it is opened from config.

    An injected storage stays the caller's to close; `router` is the sites' layouts, when
    the caller built them already (else built from settings). `clock` drives the memory cache's
    expiry and the error log's rate limit (tests pass a fake one).
    """
    quiet_bad_requests()
    app = web.Application(client_max_size=settings.resize.max_source_bytes)
    app[ERROR_LOG] = ServerErrorLog(clock=clock)
    app.cleanup_ctx.append(_lifetime(settings, storage, clock, router))
    app.router.add_get("/", guarded(health.index, counted=False))
    app.router.add_get("/healthz", guarded(health.healthz, counted=False))
    app.router.add_get("/readyz", guarded(health.readyz, counted=False))
    app.router.add_get("/metrics", guarded(health.metrics, counted=False))
    app.router.add_get("/{path:.*}", guarded(reads.handle_read))
    app.router.add_put("/{path:.*}", guarded(writes.handle_put))
    app.router.add_delete("/{path:.*}", guarded(writes.handle_delete))
    app.router.add_route("*", "/{path:.*}", guarded(method_not_allowed))
    return app


def run_server(settings: Settings, host: str, port: int, router: Router | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then drain: renders finish, background stores land."""
    web.run_app(
        create_app(settings, router=router),
        host=host,
        port=port,
        loop=uvloop.new_event_loop(),
        access_log_class=AccessLogger,
        access_log=logging.getLogger("aiohttp.access") if settings.server.access_log else None,
        print=None,
        **connection_options(settings),
    )


def connection_options(settings: Settings) -> dict[str, Any]:
    """How the server treats connections, for run_app and web.AppRunner alike.

    aiohttp closes a connection that has no complete request `keepalive_timeout` seconds
    after it opened or after its last response, so this one setting bounds both idle
    keep-alive connections and clients sending their headers slowly (slowloris). A client
    that disconnects cancels its handler, so a render nobody waits for any more is dropped
    (writes run to their end regardless: proxy.writes).
    """
    return {"keepalive_timeout": settings.server.keepalive_timeout, "handler_cancellation": True}


def _lifetime(
    settings: Settings, injected: Storage | None, clock: Callable[[], float], router: Router | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        configure_libvips()
        storage = injected or await open_storage(settings.storage)
        services = Services.build(settings, storage, clock, router)
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
