"""One place where failures become short responses: no traceback ever reaches a client.

Every route handler is registered through `guarded`, a plain wrapper rather than an
aiohttp middleware: the middleware chain (ours plus the one aiohttp adds to track the
current app) cost ~5 % of a memory hit's request rate. A catch-all route answers the
methods no route serves, so nothing reaches aiohttp's own error pages.

Every 5xx is logged with the request's method and path and its cause (the backend's own
error for a storage failure), at most one line per kind of cause every few seconds, with
a count of the ones left out, so an outage is visible without flooding the log.

Requests aiohttp cannot parse (a request line over 8 KiB, raw non-ASCII in the query) are
answered 400 by aiohttp itself, before any route; it logs each with a traceback at ERROR,
which `quiet_bad_requests` drops: the access log has the 400 line already.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from problems import Problem
from proxy.errors import Unauthorized
from proxy.responses import add_vary
from proxy.services import SERVICES
from rendering import Busy
from storage import StorageTimeout

log = logging.getLogger("mediaproxy")
LOG_EVERY_SECONDS = 10.0


class _BadRequestTraces(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, HttpProcessingError) and 400 <= error.code < 500)


_BAD_REQUEST_TRACES = _BadRequestTraces()


def quiet_bad_requests() -> None:
    """Drop aiohttp's tracebacks for requests a client got wrong (see the module docstring)."""
    logging.getLogger("aiohttp.server").addFilter(_BAD_REQUEST_TRACES)  # once: same object


class ServerErrorLog:
    """5xx causes, one line per kind every `interval` seconds (see the module docstring)."""

    MAX_KINDS = 256

    def __init__(
        self, interval: float = LOG_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval, self._clock = interval, clock
        self._kinds: dict[tuple[int, str], tuple[float, int]] = {}

    def record(self, request: web.Request, status: int, error: BaseException) -> None:
        cause = error.__cause__ or error
        kind = (status, type(cause).__name__)
        now = self._clock()
        last, left_out = self._kinds.get(kind, (float("-inf"), 0))
        if now - last < self._interval:
            self._kinds[kind] = (last, left_out + 1)
            return
        if len(self._kinds) >= self.MAX_KINDS and kind not in self._kinds:
            self._kinds.clear()
        self._kinds[kind] = (now, 0)
        more = f" (and {left_out} more like it since)" if left_out else ""
        log.error(
            "%d for %s %s: %s: %s%s",
            status,
            request.method,
            request.raw_path,
            type(cause).__name__,
            cause,
            more,
            exc_info=cause if status == 500 else None,
        )


ERROR_LOG = web.AppKey("error_log", ServerErrorLog)


def error_response(request: web.Request, status: int, reason: str) -> web.Response:
    """Plain text for image URLs (browsers, CDNs); JSON for the write API and JSON clients."""
    wants_json = request.method in {"PUT", "DELETE", "POST"} or "json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        body = json.dumps({"error": reason, "status": status})
        return web.Response(status=status, text=body, content_type="application/json")
    return web.Response(status=status, text=reason + "\n", content_type="text/plain")


def guarded(handler: Handler, *, counted: bool = True) -> Handler:
    """`handler` with every failure turned into a short response; `counted` requests go
    into the request metrics (the service's own endpoints do not: scrapes and probes
    would drown the real traffic)."""

    async def guard(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ConnectionError:
            raise  # the client is gone: there is nobody to answer
        except Exception as error:
            response = _failure_response(request, error)
        services = request.app[SERVICES]
        if services.router.negotiates:
            add_vary(request, response)
        if counted:
            services.metrics.count_request(request.method, response.status)
        return response

    return guard


async def method_not_allowed(request: web.Request) -> web.StreamResponse:
    response = error_response(request, 405, "method not allowed")
    response.headers["Allow"] = "GET, HEAD, PUT, DELETE"
    return response


def _failure_response(request: web.Request, error: Exception) -> web.Response:
    if isinstance(error, Problem):
        response = error_response(request, error.status, error.reason)
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="mediaproxy"'
        if isinstance(error, Busy):
            request.app[SERVICES].metrics.busy.inc()
        if error.status == 503:  # overload: the client should come back shortly
            response.headers["Retry-After"] = "1"
        if error.status >= 500:
            request.app[ERROR_LOG].record(request, error.status, error)
        return response
    if isinstance(error, TimeoutError):
        response = error_response(request, StorageTimeout.status, "timed out")
        request.app[ERROR_LOG].record(request, response.status, error)
        return response
    if isinstance(error, web.HTTPException):
        return error_response(request, error.status, error.reason)
    request.app[ERROR_LOG].record(request, 500, error)
    return error_response(request, 500, "internal error")
