"""Errors that reach the client, each with its HTTP status and a short public reason.

    HTTPProblem                      status + reason, rendered by proxy.guard
    ├── BadRequest         400       a request the API cannot take (bad argument, size as target)
    ├── NotFound           404       unknown site, size or object
    ├── Unauthorized       401       missing or wrong upload key
    ├── Forbidden          403       client address not allowed to write
    ├── PayloadTooLarge    413       upload body over the byte limit

All of them, and the other packages' own families, are `problems.Problem`s: proxy.guard
turns any Problem into a response with its status and reason.
"""

from __future__ import annotations

from problems import Problem


class HTTPProblem(Problem):
    status = 500
    default_reason = "internal error"


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
