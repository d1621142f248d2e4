"""The one base of every error a user may see: a status and a short public reason.

Each package raises its own subclasses (resize.ImageError 413/415/422, layouts.LayoutError
400/404, storage.StorageError 502/504, rendering.RenderingError 404/503, proxy's 400-413),
none of them knows HTTP, and proxy.guard answers any Problem with its status and
reason; a bulk tool writes the reason to its error log. Internal text (libvips', botocore's)
stays in `__cause__`, for logs only. Imports nothing.
"""

from __future__ import annotations


class Problem(Exception):
    status = 500
    default_reason = "internal error"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or self.default_reason
        super().__init__(self.reason)
