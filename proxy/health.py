"""Liveness, readiness and metrics endpoints (SPEC §8)."""

from __future__ import annotations

from aiohttp import web

from proxy.errors import StorageError
from proxy.services import SERVICES


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    """Ready only when storage answers: a replica that cannot read the bucket takes no traffic."""
    try:
        await request.app[SERVICES].storage.ping()
    except StorageError as error:
        return web.Response(status=503, text=f"storage: {error.reason}\n")
    return web.Response(text="ready\n")


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    services.metrics.queue_depth.set(services.pool.depth)
    return web.Response(
        body=services.metrics.exposition(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )
