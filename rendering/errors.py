"""Why a render was not done, as a status the HTTP layer or a bulk tool can report.

    RenderingError       base: a public `reason` and a `status`, no HTTP code
    ├── OriginalMissing  404  the original of the requested size is not in storage
    └── Busy             503  every resize thread is busy and the queue is full

Image problems (413/415/422) are resize.ImageError; storage problems storage.StorageError.
"""

from __future__ import annotations

from problems import Problem


class RenderingError(Problem):
    status = 500
    default_reason = "render failed"


class OriginalMissing(RenderingError):
    status = 404
    default_reason = "no such image"


class Busy(RenderingError):
    status = 503
    default_reason = "resize queue full, retry shortly"
