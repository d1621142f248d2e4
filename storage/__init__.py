"""Where objects live: one narrow `Storage` interface, a local-file and an S3 backend.

Everything above this package (serving, uploads, pregen, the demo) talks to `Storage`
only, and opens it with `open_storage(settings.storage)`, which picks the backend from
the configured URL (config.storageurl).
"""

from __future__ import annotations

import asyncio
import os

from aiobotocore.session import AioSession

from config import StorageSettings
from config.storageurl import FileLocation, parse_storage_url

from .base import (
    Body,
    BytesBody,
    GetStatus,
    ListedObject,
    ObjectMeta,
    Storage,
    StoredObject,
    etag_matches,
)
from .errors import StorageError, StorageTimeout, UnusableStorage
from .files import FileStorage
from .s3 import S3Storage

__all__ = [
    "Body",
    "BytesBody",
    "FileStorage",
    "GetStatus",
    "ListedObject",
    "ObjectMeta",
    "S3Storage",
    "Storage",
    "StorageError",
    "StorageTimeout",
    "StoredObject",
    "UnusableStorage",
    "etag_matches",
    "open_storage",
    "storage_problem",
]


async def open_storage(
    settings: StorageSettings, *, max_connections: int = 0, session: AioSession | None = None
) -> Storage:
    """Open the backend `settings.url` names; UnusableStorage (a ValueError) naming the
    problem if it names none or its directory cannot be used. `max_connections` raises
    the configured pool size (the bulk tools run more lanes than a server); `session`
    shares an AioSession with other clients (the event worker's SQS client). Close the
    result with `await .close()`."""
    problem = await asyncio.to_thread(storage_problem, settings)  # a few stat calls
    if problem is not None:
        raise UnusableStorage(problem)
    location = parse_storage_url(settings.url)
    if isinstance(location, FileLocation):
        root = location.root.absolute()
        try:
            return await asyncio.to_thread(FileStorage, root)
        except OSError as error:
            reason = error.strerror or str(error)
            raise UnusableStorage(
                f"storage url {settings.url!r}: {root} is not a usable directory ({reason})"
            ) from error
    return await S3Storage.open(
        location.bucket,
        location.prefix,
        endpoint_url=settings.endpoint_url or None,
        region=settings.region,
        max_connections=max(settings.max_connections, max_connections),
        timeout=settings.timeout,
        session=session,
    )


def storage_problem(settings: StorageSettings) -> str | None:
    """Why `open_storage` would refuse `settings.url`, checked without writing anything
    (a missing directory may be made, as open_storage does); None when it would open. A
    bucket is not contacted: `/readyz` and the commands' first call say if it answers."""
    try:
        location = parse_storage_url(settings.url)
    except ValueError as error:
        return str(error)
    if not isinstance(location, FileLocation):
        return None
    root = location.root.absolute()
    existing = next(path for path in (root, *root.parents) if path.exists() or path == path.parent)
    if not existing.is_dir():
        return f"storage url {settings.url!r}: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"storage url {settings.url!r}: {existing} is not writable"
    return None
