"""Errors that reach the client, each with its HTTP status and a short public reason.

    HTTPProblem                      status + reason, rendered by proxy.middleware
    ├── BadPath            400       path does not name a key
    ├── NotFound           404       unknown site, size or object
    ├── Unauthorized       401       missing or wrong upload key
    ├── Forbidden          403       client address not allowed to write
    ├── PayloadTooLarge    413       upload body over the byte limit
    ├── Busy               503       resize queue full (sent with Retry-After)
    └── StorageError       502       storage failing
        └── StorageTimeout 504       storage too slow

resize.errors.ImageError (413/415/422) is the other family the middleware knows; the
two never share a base so that resize/ stays free of HTTP concerns.
"""

from __future__ import annotations


class HTTPProblem(Exception):
    status = 500
    default_reason = "internal error"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or self.default_reason
        super().__init__(self.reason)


class BadPath(HTTPProblem):
    status = 400
    default_reason = "bad path"


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


class Busy(HTTPProblem):
    status = 503
    default_reason = "resize queue full, retry shortly"


class StorageError(HTTPProblem):
    status = 502
    default_reason = "storage unavailable"


class StorageTimeout(StorageError):
    status = 504
    default_reason = "storage timed out"
