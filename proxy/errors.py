"""Errors that reach the client, each with its HTTP status and a short public reason.

    HTTPProblem                      status + reason, rendered by proxy.middleware
    ├── BadRequest         400       a request the API cannot take (bad argument, size as target)
    ├── NotFound           404       unknown site, size or object
    ├── Unauthorized       401       missing or wrong upload key
    ├── Forbidden          403       client address not allowed to write
    ├── PayloadTooLarge    413       upload body over the byte limit

The other packages raise their own families, each with a `status` and a public `reason`
and no HTTP code: resize.ImageError (413/415/422), layouts.LayoutError (400/404),
storage.StorageError (502/504), rendering.RenderingError (404 no original, 503 busy).
proxy.middleware turns all of them into responses.
"""

from __future__ import annotations


class HTTPProblem(Exception):
    status = 500
    default_reason = "internal error"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or self.default_reason
        super().__init__(self.reason)


class BadRequest(HTTPProblem):
    status = 400
    default_reason = "bad request"


class Unauthorized(HTTPProblem):
    status = 401
    default_reason = "missing or wrong upload key"


class Forbidden(HTTPProblem):
    status = 403
    default_reason = "address not allowed to write"


class NotFound(HTTPProblem):
    status = 404
    default_reason = "not found"


class PayloadTooLarge(HTTPProblem):
    status = 413
    default_reason = "body too large"
