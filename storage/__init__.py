"""Where objects live: one narrow `Storage` interface, a local-file and an S3 backend.

Everything above this package (serving, uploads, pregen, the demo) talks to `Storage`
only, and opens it with `open_storage(settings.storage)`, which picks the backend from
the configured URL:

    file:./var/media          a directory, relative to the working directory
    file:/srv/media           an absolute directory
    s3://bucket               a bucket
    s3://bucket/some/prefix   keys stored as `some/prefix/<key>`; URLs never show it
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlsplit

from aiobotocore.session import AioSession

from config import StorageSettings

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
from .errors import StorageError, StorageTimeout
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
    "etag_matches",
    "open_storage",
    "parse_s3_url",
]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


async def open_storage(
    settings: StorageSettings, *, max_connections: int = 0, session: AioSession | None = None
) -> Storage:
    """Open the backend `settings.url` names (see the module docstring); ValueError, naming
    the problem, if it names none. `max_connections` raises the configured pool size (the
    bulk tools run more lanes than a server); `session` shares an AioSession with other
    clients (the event worker's SQS client). Close the result with `await .close()`."""
    url = settings.url
    if url.startswith("file:"):
        return await asyncio.to_thread(FileStorage, _file_root(url))
    if url.startswith("s3://"):
        bucket, prefix = parse_s3_url(url)
        return await S3Storage.open(
            bucket,
            prefix,
            endpoint_url=settings.endpoint_url or None,
            region=settings.region,
            max_connections=max(settings.max_connections, max_connections),
            timeout=settings.timeout,
            session=session,
        )
    raise ValueError(f"storage url must start with 'file:' or 's3://', got {url!r}")


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → (`bucket`, `some/prefix/`); ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"storage url {url!r}: no '?' or '#' allowed")
    if not _BUCKET.fullmatch(parts.netloc):
        raise ValueError(
            f"storage url {url!r}: bucket {parts.netloc!r} is not a valid bucket name"
            " (3-63 characters: lowercase letters, digits, '.', '-')"
        )
    prefix = parts.path.strip("/")
    bad = [seg for seg in prefix.split("/") if not _SEGMENT.fullmatch(seg)] if prefix else []
    if bad:
        raise ValueError(
            f"storage url {url!r}: prefix segment {bad[0]!r} is not allowed"
            " (letters, digits, '.', '_', '-'; not starting with '.', '_' or '-')"
        )
    return parts.netloc, f"{prefix}/" if prefix else ""


def _file_root(url: str) -> Path:
    """The directory of a `file:` url, made absolute against the current directory."""
    rest = url.removeprefix("file:")
    if rest.startswith("//"):  # file:///abs/path or file://localhost/abs/path
        host, slash, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise ValueError(f"storage url {url!r}: only local paths are supported")
        rest = slash + path
    if not rest or "\0" in rest:
        raise ValueError(f"storage url {url!r}: give a directory, e.g. 'file:./var/media'")
    return Path(rest).absolute()
