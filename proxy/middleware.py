"""One place where failures become short responses: no traceback ever reaches a client."""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from layouts import LayoutError
from proxy.errors import HTTPProblem, Unauthorized
from proxy.services import SERVICES
from rendering import Busy, RenderingError
from resize import ImageError
from storage import StorageError, StorageTimeout

# Every family that carries a `status` and a public `reason` (see proxy.errors).
PUBLIC_ERRORS = (HTTPProblem, LayoutError, ImageError, StorageError, RenderingError)

log = logging.getLogger("mediaproxy")
OWN_ENDPOINTS = frozenset({"/", "/healthz", "/readyz", "/metrics"})


def error_response(request: web.Request, status: int, reason: str) -> web.Response:
    """Plain text for image URLs (browsers, CDNs); JSON for the write API and JSON clients."""
    wants_json = request.method in {"PUT", "DELETE", "POST"} or "json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        body = json.dumps({"error": reason, "status": status})
        return web.Response(status=status, text=body, content_type="application/json")
    return web.Response(status=status, text=reason + "\n", content_type="text/plain")


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    services = request.app[SERVICES]
    response: web.StreamResponse
    try:
        response = await handler(request)
    except PUBLIC_ERRORS as problem:
        response = error_response(request, problem.status, problem.reason)
        if isinstance(problem, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="mediaproxy"'
        if isinstance(problem, Busy):
            services.metrics.busy.inc()
            response.headers["Retry-After"] = "1"
    except TimeoutError:
        response = error_response(request, StorageTimeout.status, "timed out")
    except web.HTTPException as http_error:
        response = error_response(request, http_error.status, http_error.reason)
    except Exception:
        log.exception("unexpected error serving %s %s", request.method, request.raw_path)
        response = error_response(request, 500, "internal error")
    if request.path not in OWN_ENDPOINTS:  # scrapes and probes would drown the real traffic
        services.metrics.count_request(request.method, response.status)
    return response
