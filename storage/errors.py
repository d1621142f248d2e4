"""Why storage could not answer, as a status the HTTP layer or a bulk tool can report.

    StorageError        502   the backend failed (refused, 5xx, bad credentials...)
    └── StorageTimeout  504   the backend did not answer within `storage.timeout`

The backend's own exception stays in `__cause__` for logs; `reason` is public.
`UnusableStorage` is another matter: the configured storage cannot be opened at all (a
config problem, exit 2), raised by `open_storage` only.
"""

from __future__ import annotations

from problems import Problem


class StorageError(Problem):
    status = 502
    default_reason = "storage unavailable"


class StorageTimeout(StorageError):
    status = 504
    default_reason = "storage timed out"


class UnusableStorage(ValueError):
    """`storage.url` names a backend that cannot be opened (the message says why)."""
