"""GET/HEAD of images: memory → storage → render on a miss → placeholder (SPEC §4)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from aiohttp import web

from config import SiteSettings, SizeSpec
from proxy import responses
from proxy.errors import NotFound
from proxy.keys import MediaPath, parse_path
from proxy.services import SERVICES, Services
from proxy.storage import Body, GetStatus, ObjectMeta

STREAM_CHUNK = 256 * 1024


async def handle_read(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    # Memory hits first, keyed by the raw path: only validated keys are ever cached, and no
    # raw path that parsing would change (%-escapes, `..`, `//`) can equal one of them.
    cached = services.cache.get(request.raw_path.partition("?")[0][1:])
    if cached is not None:
        services.metrics.memory_hits.inc()
        return responses.from_cached(request, cached, "memory")
    path = parse_path(request.raw_path)
    site = services.settings.sites.get(path.site)
    if site is None:
        raise NotFound("unknown site")
    spec = None if path.is_original else site.size(path.dim)
    if not path.is_original and spec is None:
        raise NotFound("unknown size")
    async with asyncio.timeout(services.settings.server.request_timeout):
        stored = await _from_storage(request, services, path)
        if stored is not None:
            return stored
        if spec is None:
            raise NotFound("no such image")
        return await _render_miss(request, services, site, path, spec)


async def _from_storage(
    request: web.Request, services: Services, path: MediaPath
) -> web.StreamResponse | None:
    if request.method == "HEAD":
        meta = await services.storage.head(path.key)
        if meta is None:
            return None
        meta = _with_default_cache_control(meta, services)
        services.metrics.storage_hits.inc()
        headers = responses.meta_headers(meta, "storage")
        if responses.not_modified(request, meta.etag, meta.last_modified):
            return responses.not_modified_response(headers)
        return web.Response(headers=headers | {"Content-Length": str(meta.size)})
    found = await services.storage.get(path.key, if_none_match=request.headers.get("If-None-Match"))
    if found.status is GetStatus.NOT_FOUND:
        return None
    services.metrics.storage_hits.inc()
    if found.status is GetStatus.NOT_MODIFIED or found.meta is None or found.body is None:
        etag = request.headers.get("If-None-Match", "")
        return web.Response(status=304, headers={"ETag": etag, "X-Mediaproxy": "storage"})
    meta = _with_default_cache_control(found.meta, services)
    headers = responses.meta_headers(meta, "storage")
    if responses.not_modified(request, meta.etag, meta.last_modified):
        await found.body.close()
        return responses.not_modified_response(headers)
    if meta.size <= services.settings.cache.max_item_bytes:
        item = responses.cached_from_meta(meta, await found.body.read())
        services.cache.put(path.key, item)
        return responses.from_cached(request, item, "storage")
    return await _stream(request, found.body, headers, meta.size)


def _with_default_cache_control(meta: ObjectMeta, services: Services) -> ObjectMeta:
    """Objects written by other tools may lack Cache-Control; give them the configured one."""
    if meta.cache_control:
        return meta
    return replace(meta, cache_control=services.settings.cache.cache_control)


async def _stream(
    request: web.Request, body: Body, headers: dict[str, str], size: int
) -> web.StreamResponse:
    response = web.StreamResponse(headers=headers)
    response.content_length = size
    try:
        await response.prepare(request)
        async for chunk in body.iter_chunks(STREAM_CHUNK):
            await response.write(chunk)
    finally:
        await body.close()
    await response.write_eof()
    return response


async def _render_miss(
    request: web.Request, services: Services, site: SiteSettings, path: MediaPath, spec: SizeSpec
) -> web.StreamResponse:
    if not services.settings.resize.dynamic:
        return await _placeholder(request, services, site, spec, render=False)
    cached = services.cache.get(path.key)  # rendered while we looked in storage
    if cached is not None:
        services.metrics.coalesced.inc()
        return responses.from_cached(request, cached, "memory")
    services.metrics.misses.inc()
    options = services.options_for(site)
    try:
        item = await services.renderer.render(path.original, spec, options, services.publish)
    except NotFound:
        return await _placeholder(request, services, site, spec, render=True)
    return responses.from_cached(request, item, "render")


async def _placeholder(
    request: web.Request, services: Services, site: SiteSettings, spec: SizeSpec, *, render: bool
) -> web.StreamResponse:
    """The site's placeholder at the requested size, never stored under the requested key."""
    if site.placeholder is None:
        raise NotFound("no such image")
    path = MediaPath(site.name, spec.text, site.placeholder)
    item = services.cache.get(path.key)
    if item is None:
        found = await services.storage.get(path.key)
        if found.status is GetStatus.OK and found.meta is not None and found.body is not None:
            item = responses.cached_from_meta(found.meta, await found.body.read())
            services.cache.put(path.key, item)
        elif render:
            options = services.options_for(site)
            item = await services.renderer.render(path.original, spec, options, services.publish)
        else:
            raise NotFound("no such image")
    item = responses.with_cache_control(item, services.settings.cache.placeholder_cache_control)
    return responses.from_cached(request, item, "placeholder", status=site.placeholder_status)
