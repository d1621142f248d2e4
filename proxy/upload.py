"""The write API: PUT an original (and get every size), DELETE an original and its sizes.

A synchronous upload renders every size in memory first and only then writes anything,
so a corrupt or unsupported body leaves the bucket untouched. Renders for uploads run in
the shared pool at a lower priority than reads and at most `server.max_upload_workers`
at a time, so a burst of uploads cannot starve visitors.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes

from aiohttp import web

from config import SiteSettings
from proxy.auth import authorize
from proxy.errors import BadPath, NotFound, PayloadTooLarge
from proxy.keys import MediaPath, parse_path
from proxy.pool import Priority
from proxy.services import SERVICES, Services
from resize import Rendered, is_image_name, probe, render_sizes

log = logging.getLogger("mediaproxy.upload")
SIZE_MODES = {"sync", "background", "none"}


async def handle_put(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with asyncio.timeout(services.settings.server.request_timeout):
        return await _put(request, services)


async def _put(request: web.Request, services: Services) -> web.Response:
    path, site = _writable(request, services)
    mode = request.query.get("sizes", site.upload_sizes)
    if mode not in SIZE_MODES:
        raise BadPath("sizes must be one of sync, background, none")
    body = await _read_body(request, services.settings.resize.max_source_bytes)
    if not is_image_name(path.rel):
        await _store(services, path, body, _content_type(request, path))
        return web.json_response({"original": path.key, "sizes": {}, "errors": {}}, status=201)
    info = probe(body, services.limits)
    if mode == "sync":
        rendered = await _render(services, site, body)
        await _store(services, path, body, info.format.content_type)
        errors = await _store_sizes(services, path, rendered)
        return _result(path, site, errors, 201)
    await _store(services, path, body, info.format.content_type)
    if mode == "background":
        services.tasks.spawn(_background(services, site, path, body), name=f"sizes {path.key}")
        return _result(path, site, {}, 202)
    return web.json_response({"original": path.key, "sizes": {}, "errors": {}}, status=201)


async def handle_delete(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with asyncio.timeout(services.settings.server.request_timeout):
        return await _delete(request, services)


async def _delete(request: web.Request, services: Services) -> web.Response:
    path, site = _writable(request, services)
    keys = [path.key] + [path.sized(spec.text).key for spec in site.sizes]
    found = await asyncio.gather(*(services.storage.head(key) for key in keys))
    services.cache.purge(keys)
    if not any(found):
        raise NotFound("no such image")
    await services.storage.delete(keys)
    services.cache.purge(keys)
    return web.Response(status=204)


def _writable(request: web.Request, services: Services) -> tuple[MediaPath, SiteSettings]:
    path = parse_path(request.raw_path)
    site = services.settings.sites.get(path.site)
    if site is None:
        raise NotFound("unknown site")
    authorize(request, site, services.settings.server.trusted_proxies)
    if not path.is_original:
        raise BadPath("write originals to /{site}/full/{path}; sizes are derived")
    return path, site


async def _read_body(request: web.Request, limit: int) -> bytes:
    """Read at most `limit` bytes, refusing as soon as the body is known to be larger."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over the {limit} byte limit")
    chunks, total = [], 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"body over the {limit} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _content_type(request: web.Request, path: MediaPath) -> str:
    declared = request.headers.get("Content-Type", "")
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(path.rel)[0] or "application/octet-stream"


async def _render(
    services: Services, site: SiteSettings, body: bytes, priority: Priority = Priority.UPLOAD
) -> dict[str, Rendered]:
    options, limits = services.options_for(site), services.limits
    async with services.upload_slots:
        return await services.pool.run(
            lambda: render_sizes(body, site.sizes, options, limits), priority
        )


async def _store(services: Services, path: MediaPath, body: bytes, content_type: str) -> None:
    services.cache.purge([path.key])
    await services.storage.put(
        path.key,
        body,
        content_type=content_type,
        cache_control=services.settings.cache.cache_control,
    )


async def _store_sizes(
    services: Services, path: MediaPath, rendered: dict[str, Rendered]
) -> dict[str, str]:
    """Write every size; return the reason per size that could not be stored."""

    async def store(text: str, image: Rendered) -> str | None:
        key = path.sized(text).key
        services.cache.purge([key])
        try:
            await services.storage.put(
                key,
                image.data,
                content_type=image.content_type,
                cache_control=services.settings.cache.cache_control,
            )
        except Exception as error:
            services.metrics.store_errors.inc()
            log.warning("upload: could not store %s", key, exc_info=True)
            return getattr(error, "reason", "store failed")
        services.cache.purge([key])
        return None

    outcomes = await asyncio.gather(*(store(text, img) for text, img in rendered.items()))
    return {text: reason for text, reason in zip(rendered, outcomes, strict=True) if reason}


async def _background(services: Services, site: SiteSettings, path: MediaPath, body: bytes) -> None:
    try:
        rendered = await _render(services, site, body, Priority.BACKGROUND)
    except Exception:
        log.warning("upload: sizes of %s could not be rendered", path.key, exc_info=True)
        return
    await _store_sizes(services, path, rendered)


def _result(
    path: MediaPath, site: SiteSettings, errors: dict[str, str], status: int
) -> web.Response:
    sizes = {spec.text: path.sized(spec.text).key for spec in site.sizes}
    return web.json_response(
        {"original": path.key, "sizes": sizes, "errors": errors}, status=status
    )
