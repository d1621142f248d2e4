"""Why a request target names no image, as a status without HTTP code.

    LayoutError        base: a public `reason` and a `status`
    ├── BadPath        400  the target is malformed (bad segment, escape, length, number)
    ├── UnknownImage   404  well-formed, but no configured site, size or hash has it
    └── NotAnImage     415  a size of a name that is no image original (`notes.txt`)

Raised before any storage call: an unconfigured size or hash is the DoS guard.
"""

from __future__ import annotations

from problems import Problem


class LayoutError(Problem):
    status = 400
    default_reason = "bad path"


class BadPath(LayoutError):
    status = 400


class UnknownImage(LayoutError):
    status = 404
    default_reason = "not found"


class NotAnImage(LayoutError):
    status = 415
    default_reason = "sizes are made of .jpg, .jpeg, .png, .gif and .webp originals only"
