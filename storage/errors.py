"""Why storage could not answer, as a status the HTTP layer or a bulk tool can report.

    StorageError        502   the backend failed (refused, 5xx, bad credentials...)
    └── StorageTimeout  504   the backend did not answer within `storage.timeout`

The backend's own exception stays in `__cause__` for logs; `reason` is public.
"""

from __future__ import annotations


class StorageError(Exception):
    status = 502
    default_reason = "storage unavailable"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or self.default_reason
        super().__init__(self.reason)


class StorageTimeout(StorageError):
    status = 504
    default_reason = "storage timed out"
