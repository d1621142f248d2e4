"""The service's own pages: an index, liveness, readiness and metrics (SPEC §8)."""

from __future__ import annotations

from html import escape

from aiohttp import web

from config import DEMO_SAMPLE, DEMO_SITE
from proxy.services import SERVICES
from storage import StorageError


async def index(request: web.Request) -> web.Response:
    """What a person opening the bare address sees: what this is and what to try."""
    services = request.app[SERVICES]
    rows, demo = [], services.settings.embedded
    for name, layout in services.router.layouts.items():
        base = [size for size in layout.sizes if not size.suffix]  # variants are no URLs
        sizes = ", ".join(size.name for size in base[:12])
        more = f" and {len(base) - 12} more" if len(base) > 12 else ""
        if layout.formats:
            more += f"; each also as {' and '.join(layout.formats)} by Accept"
        # A first run's seeded sample is there to click; elsewhere the URLs show shapes.
        linked = demo and name == DEMO_SITE
        rel = DEMO_SAMPLE if linked else "a/b/example.jpg"
        paths = [layout.original_key(rel)] + [size.key(rel) for size in base[:1]]
        urls = "<br>".join(_url(f"/{path}", linked) for path in paths)
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{escape(layout.site.layout)}</td>"
            f"<td>{len(base)}: {escape(sizes + more)}</td><td>{urls}</td></tr>"
        )
    page = (
        "<!doctype html><meta charset=utf-8><title>mediaproxy</title>"
        "<h1>mediaproxy</h1><p>Image origin for Magento shops: serves originals and every "
        "configured size from storage, rendering a missing size once with libvips.</p>"
        f"<p>Storage: <code>{escape(services.storage.describe)}</code>; dynamic resizing "
        f"{'on' if services.settings.resize.dynamic else 'off (strict)'}.</p>"
        "<table border=1 cellpadding=4><tr><th>site</th><th>layout</th><th>sizes</th>"
        f"<th>URLs</th></tr>{''.join(rows)}</table>"
        '<p><a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · '
        '<a href="/metrics">/metrics</a></p>'
    )
    return web.Response(text=page, content_type="text/html")


def _url(path: str, linked: bool) -> str:
    code = f"<code>{escape(path)}</code>"
    return f'<a href="{escape(path)}">{code}</a>' if linked else code


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
