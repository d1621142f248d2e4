"""GET/HEAD of images: memory → storage → render on a miss → placeholder (SPEC §4).

The request timeout bounds the work (storage lookups, renders); a large object's body is
streamed after it, so a slow client is not cut off by it. A client that stops reading is:
each chunk must go out within `server.send_timeout`, or the connection is dropped.

Every read that may fill the memory cache takes a ticket first (proxy.cache), so bytes
read before an upload or delete purged the key are never cached after it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from aiohttp import web

from layouts import ImageRequest
from proxy import negotiation, responses
from proxy.cache import Ticket
from proxy.errors import NotFound
from proxy.services import SERVICES, Services
from rendering import OriginalMissing
from storage import Body, GetStatus, ObjectMeta, StorageError

STREAM_CHUNK = 256 * 1024
log = logging.getLogger("mediaproxy")


class _Stream:
    """A stored object too large for memory, to be streamed once the lookup is done."""

    def __init__(self, body: Body, headers: dict[str, str], size: int) -> None:
        self.body, self.headers, self.size = body, headers, size


async def handle_read(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    direct = services.router.direct_key(request.raw_path)
    if direct is not None:
        cached = services.cache.get(direct)
        if cached is not None:
            services.metrics.memory_hits.inc()
            return responses.from_cached(request, cached, "memory")
    asked = services.router.parse(request.raw_path, request.headers.get("Host"))
    image = negotiate(request, asked)
    if direct is None:
        cached = services.cache.get(image.key)
        if cached is not None:
            services.metrics.memory_hits.inc()
            return responses.from_cached(request, cached, "memory")
    async with asyncio.timeout(services.settings.server.request_timeout):
        found = await _from_storage(request, services, image, services.cache.ticket())
        if found is None:
            if image.size is None:
                raise NotFound("no such image")
            if not services.settings.resize.dynamic and image is not asked:
                found = await _in_source_format(request, services, asked)
            if found is None:
                return await _render_miss(request, services, image)
    if isinstance(found, _Stream):
        return await _stream(request, found, services.settings.server.send_timeout)
    return found


def negotiate(request: web.Request, image: ImageRequest) -> ImageRequest:
    """The variant of a size the client's Accept picks (SPEC §10), marking the request so
    every answer to it, 304s and placeholders included, carries `Vary: Accept`."""
    size, layout = image.size, image.layout
    if size is None or not layout.formats or size.suffix:
        return image
    request[responses.VARY_ACCEPT] = True
    fmt = negotiation.choose(request.headers.get("Accept", ""), layout.formats)
    return image if fmt is None else layout.request(image.rel, layout.variant(size, fmt))


async def _from_storage(
    request: web.Request, services: Services, image: ImageRequest, ticket: Ticket
) -> web.StreamResponse | _Stream | None:
    if request.method == "HEAD":
        meta = await services.storage.head(image.key)
        if meta is None:
            return None
        meta = _with_default_cache_control(meta, services)
        services.metrics.storage_hits.inc()
        headers = responses.meta_headers(meta, "storage")
        if responses.not_modified(request, meta.etag, meta.last_modified):
            return responses.not_modified_response(headers)
        return web.Response(headers=headers | {"Content-Length": str(meta.size)})
    found = await services.storage.get(
        image.key, if_none_match=request.headers.get("If-None-Match")
    )
    if found.status is GetStatus.NOT_MODIFIED:
        revalidated = await _not_modified(request, services, image)
        if revalidated is not None:
            return revalidated
        found = await services.storage.get(image.key)  # it changed after the 304
    if found.status is GetStatus.NOT_FOUND or found.meta is None or found.body is None:
        return None
    services.metrics.storage_hits.inc()
    meta = _with_default_cache_control(found.meta, services)
    headers = responses.meta_headers(meta, "storage")
    if responses.not_modified(request, meta.etag, meta.last_modified):
        await found.body.close()
        return responses.not_modified_response(headers)
    if meta.size <= services.settings.cache.max_item_bytes:
        item = responses.cached_from_meta(meta, await found.body.read())
        services.cache.put(image.key, item, ticket)
        return responses.from_cached(request, item, "storage")
    return _Stream(found.body, headers, meta.size)


async def _not_modified(
    request: web.Request, services: Services, image: ImageRequest
) -> web.Response | None:
    """The 304 with the stored ETag, Cache-Control and Last-Modified (S3 answers a
    conditional GET with the ETag alone), or None if the object changed since."""
    meta = await services.storage.head(image.key)
    if meta is None or not responses.not_modified(request, meta.etag, meta.last_modified):
        return None
    services.metrics.storage_hits.inc()
    meta = _with_default_cache_control(meta, services)
    return responses.not_modified_response(responses.meta_headers(meta, "storage"))


async def _in_source_format(
    request: web.Request, services: Services, asked: ImageRequest
) -> web.StreamResponse | _Stream | None:
    """Strict mode, a negotiated variant not made yet (formats turned on before pregen
    ran again): the size in its source format, as nginx's `try_files` would answer. With
    the placeholders' short Cache-Control: a CDN keeps it as the answer for that Accept,
    and the variant comes once pregen has made it."""
    cached = services.cache.get(asked.key)
    if cached is not None:
        services.metrics.memory_hits.inc()
        found: web.StreamResponse | _Stream | None = responses.from_cached(
            request, cached, "memory"
        )
    else:
        found = await _from_storage(request, services, asked, services.cache.ticket())
    if found is not None:
        headers = found.headers
        headers["Cache-Control"] = services.settings.cache.placeholder_cache_control
    return found


def _with_default_cache_control(meta: ObjectMeta, services: Services) -> ObjectMeta:
    """Objects written by other tools may lack Cache-Control; give them the configured one."""
    if meta.cache_control:
        return meta
    return replace(meta, cache_control=services.settings.cache.cache_control)


async def _stream(request: web.Request, stream: _Stream, send_timeout: float) -> web.StreamResponse:
    """Send a large body. Once the headers are out no error response is possible, so a
    client that takes over `send_timeout` to accept a chunk, a client gone, or storage
    failing mid-body all end the same way: the connection is dropped."""
    response = web.StreamResponse(headers=stream.headers)
    response.content_length = stream.size
    responses.add_vary(request, response)
    try:
        await response.prepare(request)
        async for chunk in stream.body.iter_chunks(STREAM_CHUNK):
            async with asyncio.timeout(send_timeout):
                await response.write(chunk)
        await response.write_eof()
    except (TimeoutError, ConnectionError, StorageError) as error:
        if isinstance(error, StorageError):
            log.warning("storage failed while streaming %s", request.raw_path, exc_info=True)
        if request.transport is not None:
            request.transport.abort()
    finally:
        await stream.body.close()
    return response


async def _render_miss(
    request: web.Request, services: Services, image: ImageRequest
) -> web.StreamResponse:
    if not services.settings.resize.dynamic:
        return await _placeholder(request, services, image, render=False)
    cached = services.cache.get(image.key)  # rendered while we looked in storage
    if cached is not None:
        services.metrics.memory_hits.inc()  # every answer counts once in cache_total
        services.metrics.coalesced.inc()
        return responses.from_cached(request, cached, "memory")
    services.metrics.misses.inc()
    try:
        item = await services.renderer.render(image)
    except OriginalMissing:
        return await _placeholder(request, services, image, render=True)
    return responses.from_cached(request, item, "render")


async def _placeholder(
    request: web.Request, services: Services, image: ImageRequest, *, render: bool
) -> web.StreamResponse:
    """The size's placeholder at the requested size, never stored under the requested key."""
    if image.size is None or image.size.placeholder is None:
        raise NotFound("no such image")
    placeholder = image.sibling(image.size.placeholder)
    item = services.cache.get(placeholder.key)
    if item is None:
        ticket = services.cache.ticket()
        found = await services.storage.get(placeholder.key)
        if found.status is GetStatus.OK and found.meta is not None and found.body is not None:
            item = responses.cached_from_meta(found.meta, await found.body.read())
            services.cache.put(placeholder.key, item, ticket)
        elif render:
            try:
                item = await services.renderer.render(placeholder)
            except OriginalMissing:
                raise NotFound("no such image") from None
        else:
            raise NotFound("no such image")
    item = responses.with_cache_control(item, services.settings.cache.placeholder_cache_control)
    status = image.site.placeholder_status
    return responses.from_cached(request, item, "placeholder", status=status)
