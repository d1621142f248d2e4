"""The write API: PUT an original (and get every size), DELETE an original and its sizes.

A synchronous upload probes and renders every size in the pool first and only then
writes anything, so a corrupt or unsupported body leaves the bucket untouched. Renders for
uploads run in the shared pool at a lower priority than reads and at most
`server.max_upload_workers` at a time, so a burst of uploads cannot starve visitors. The
writes themselves, which must leave no old size behind, are proxy.replacing's.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes

from aiohttp import web

from layouts import ImageRequest
from proxy.auth import authorize
from proxy.errors import BadRequest, NotFound, PayloadTooLarge
from proxy.replacing import (
    Written,
    remove_original,
    replace_original,
    run_to_the_end,
    store_sizes,
)
from proxy.services import SERVICES, Services
from rendering import Priority, decode_cost
from resize import Rendered, SourceInfo, is_image_name, probe, render_many

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
        content_type = _content_type(request, image)
        await run_to_the_end(services, image, replace_original(services, image, body, content_type))
        return web.json_response({"original": image.key, "sizes": {}, "errors": {}}, status=201)
    info, rendered = await _prepare(services, image, body, render=mode == "sync")
    later = mode == "background"
    write = replace_original(
        services, image, body, info.format.content_type, rendered, keep_claim=later
    )
    errors, written = await run_to_the_end(services, image, write)
    if later:
        job = _background(services, image, body, written)
        services.tasks.spawn(job, name=f"sizes {image.key}")
        return _result(image, {}, 202)
    if mode == "none":
        return web.json_response({"original": image.key, "sizes": {}, "errors": {}}, status=201)
    return _result(image, errors, 201)


async def handle_delete(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with asyncio.timeout(services.settings.server.request_timeout):
        image = _writable(request, services)
        if not await run_to_the_end(services, image, remove_original(services, image)):
            raise NotFound("no such image")
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


async def _prepare(
    services: Services,
    image: ImageRequest,
    body: bytes,
    *,
    render: bool,
    priority: Priority = Priority.UPLOAD,
) -> tuple[SourceInfo, dict[str, Rendered] | None]:
    """Probe the body (and render every size) in the pool: never on the event loop."""
    sizes, limits = image.layout.sizes, services.limits
    params = [size.params for size in sizes]

    def work() -> tuple[SourceInfo, list[Rendered]]:
        info = probe(body, limits)
        return info, render_many(body, params, limits) if render else []

    cost = decode_cost(body) if render else 0
    async with services.upload_slots:
        info, outputs = await services.pool.run(work, priority, cost)
    if not render:
        return info, None
    return info, {size.key(image.rel): out for size, out in zip(sizes, outputs, strict=True)}


async def _background(
    services: Services, image: ImageRequest, body: bytes, written: Written
) -> None:
    """Render and store the sizes of an upload answered 202. Its old sizes are deleted
    already (requests meanwhile render from the new original); a later write of the same
    original takes the claim away, and this one then stores nothing."""
    token = written.token
    try:
        _, rendered = await _prepare(
            services, image, body, render=True, priority=Priority.BACKGROUND
        )
        assert rendered is not None
        async with services.originals.hold(image.original):
            if services.originals.owns(image.original, token):
                await store_sizes(services, image, rendered, written.etag)
    except Exception:
        log.warning("upload: sizes of %s could not be rendered", image.key, exc_info=True)
    finally:
        services.originals.release(image.original, token)


def _result(image: ImageRequest, errors: dict[str, str], status: int) -> web.Response:
    sizes = image.layout.size_keys(image.rel)
    return web.json_response(
        {"original": image.key, "sizes": sizes, "errors": errors}, status=status
    )
