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

from layouts import ImageRequest
from proxy.auth import authorize
from proxy.errors import BadRequest, NotFound, PayloadTooLarge
from proxy.services import SERVICES, Services
from rendering import Priority
from resize import Rendered, is_image_name, probe, render_many

log = logging.getLogger("mediaproxy.upload")
SIZE_MODES = {"sync", "background", "none"}


async def handle_put(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with asyncio.timeout(services.settings.server.request_timeout):
        return await _put(request, services)


async def _put(request: web.Request, services: Services) -> web.Response:
    image = _writable(request, services)
    mode = request.query.get("sizes", image.site.upload_sizes)
    if mode not in SIZE_MODES:
        raise BadRequest("sizes must be one of sync, background, none")
    body = await _read_body(request, services.settings.resize.max_source_bytes)
    if not is_image_name(image.rel):
        await _store(services, image, body, _content_type(request, image))
        return web.json_response({"original": image.key, "sizes": {}, "errors": {}}, status=201)
    info = probe(body, services.limits)
    if mode == "sync":
        rendered = await _render(services, image, body)
        await _store(services, image, body, info.format.content_type)
        errors = await _store_sizes(services, image, rendered)
        return _result(image, errors, 201)
    await _store(services, image, body, info.format.content_type)
    if mode == "background":
        services.tasks.spawn(_background(services, image, body), name=f"sizes {image.key}")
        return _result(image, {}, 202)
    return web.json_response({"original": image.key, "sizes": {}, "errors": {}}, status=201)


async def handle_delete(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with asyncio.timeout(services.settings.server.request_timeout):
        return await _delete(request, services)


async def _delete(request: web.Request, services: Services) -> web.Response:
    image = _writable(request, services)
    keys = [image.key, *image.layout.size_keys(image.rel).values()]
    found = await asyncio.gather(*(services.storage.head(key) for key in keys))
    services.cache.purge(keys)
    if not any(found):
        raise NotFound("no such image")
    await services.storage.delete(keys)
    services.cache.purge(keys)
    return web.Response(status=204)


def _writable(request: web.Request, services: Services) -> ImageRequest:
    image = services.router.parse(request.raw_path, request.headers.get("Host"))
    authorize(request, image.site, services.settings.server.trusted_proxies)
    if image.size is not None:
        raise BadRequest("write originals, not sizes: sizes are derived from them")
    return image


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


def _content_type(request: web.Request, image: ImageRequest) -> str:
    declared = request.headers.get("Content-Type", "")
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(image.rel)[0] or "application/octet-stream"


async def _render(
    services: Services, image: ImageRequest, body: bytes, priority: Priority = Priority.UPLOAD
) -> dict[str, Rendered]:
    sizes, limits = image.layout.sizes, services.limits
    params = [size.params for size in sizes]
    async with services.upload_slots:
        rendered = await services.pool.run(lambda: render_many(body, params, limits), priority)
    return {size.key(image.rel): out for size, out in zip(sizes, rendered, strict=True)}


async def _store(services: Services, image: ImageRequest, body: bytes, content_type: str) -> None:
    services.cache.purge([image.key])
    await services.storage.put(
        image.key,
        body,
        content_type=content_type,
        cache_control=services.settings.cache.cache_control,
    )


async def _store_sizes(
    services: Services, image: ImageRequest, rendered: dict[str, Rendered]
) -> dict[str, str]:
    """Write every size (by key); return the reason per size name that was not stored."""
    names = {key: name for name, key in image.layout.size_keys(image.rel).items()}

    async def store(key: str, out: Rendered) -> str | None:
        services.cache.purge([key])
        try:
            await services.storage.put(
                key,
                out.data,
                content_type=out.content_type,
                cache_control=services.settings.cache.cache_control,
            )
        except Exception as error:
            services.metrics.store_errors.inc()
            log.warning("upload: could not store %s", key, exc_info=True)
            return getattr(error, "reason", "store failed")
        services.cache.purge([key])
        return None

    outcomes = await asyncio.gather(*(store(key, out) for key, out in rendered.items()))
    return {names[key]: reason for key, reason in zip(rendered, outcomes, strict=True) if reason}


async def _background(services: Services, image: ImageRequest, body: bytes) -> None:
    try:
        rendered = await _render(services, image, body, Priority.BACKGROUND)
    except Exception:
        log.warning("upload: sizes of %s could not be rendered", image.key, exc_info=True)
        return
    await _store_sizes(services, image, rendered)


def _result(image: ImageRequest, errors: dict[str, str], status: int) -> web.Response:
    sizes = image.layout.size_keys(image.rel)
    return web.json_response(
        {"original": image.key, "sizes": sizes, "errors": errors}, status=status
    )
