"""The narrow interface every storage backend implements, and the values it returns.

Callers never see a backend's own types or errors: a read answers with a `StoredObject`
whose `status` says OK / NOT_MODIFIED / NOT_FOUND (a missing key is an answer, not an
error), and a failing backend raises `storage.StorageError` (502) or its subclass
`StorageTimeout` (504), with the backend's exception kept as `__cause__` for the logs.

Keys are the caller's keys (`t1/full/1/3/x.jpg`), already validated; a backend that
stores them under a prefix adds and strips it itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol


@dataclass(frozen=True)
class ObjectMeta:
    """What an HTTP response needs to describe a stored object.

    `etag` is quoted (`"d41d8..."`) so it can go straight into the header;
    `last_modified` is tz-aware UTC with whole seconds, the precision of HTTP dates.
    """

    key: str
    size: int
    content_type: str
    etag: str
    last_modified: datetime
    cache_control: str | None


@dataclass(frozen=True)
class ListedObject:
    """One entry of a listing: enough to diff what exists without a HEAD per key."""

    key: str
    size: int
    last_modified: datetime


class Body(Protocol):
    """An object's bytes, read once: either streamed or read whole.

    Both `iter_chunks` (when exhausted) and `read` release the underlying file or
    connection themselves; `close` is for a reader that stops early, and is idempotent.
    A body that is neither drained nor closed holds an S3 connection until collected.
    """

    def iter_chunks(self, size: int = 65536) -> AsyncIterator[bytes]: ...

    async def read(self) -> bytes: ...

    async def close(self) -> None: ...


class GetStatus(Enum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    NOT_FOUND = "not_found"


@dataclass
class StoredObject:
    """The answer to a get.

    OK: `meta` and `body` are set, and the caller must drain or close the body.
    NOT_MODIFIED and NOT_FOUND: both None. A 304 from S3 carries no size or type, so
    no backend returns meta there; the caller repeats the validator it was sent.
    """

    status: GetStatus
    meta: ObjectMeta | None = None
    body: Body | None = None


class Storage(Protocol):
    """Object storage as the proxy and the bulk tools use it (see the module docstring).

    `describe` names the location for logs and `config show`: `s3://bucket/prefix`,
    `file:/abs/path`. Every method may raise StorageError / StorageTimeout.
    """

    @property
    def describe(self) -> str: ...

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        """The object, or NOT_MODIFIED when `if_none_match` (a header value) matches it."""
        ...

    async def head(self, key: str) -> ObjectMeta | None:
        """Metadata without the body; None if missing."""
        ...

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        """Store (or replace) atomically: readers see the old object or the new, never a part."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete every key; keys that do not exist are not an error."""
        ...

    def list(self, prefix: str) -> AsyncIterator[ListedObject]:
        """Every key that starts with `prefix` (a string prefix, as S3 has it), sorted."""
        ...

    async def subdirectories(self, prefix: str) -> Sequence[str]:
        """The names directly below `prefix` (ending in `/`) that have keys below them,
        sorted: S3's common prefixes with the `/` delimiter. Lists no key inside them."""
        ...

    async def ping(self) -> None:
        """Raise StorageError unless the storage is usable right now (for /readyz)."""
        ...

    async def close(self) -> None:
        """Release connections; the storage is unusable afterwards."""
        ...


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header value matches `etag`, as S3 decides it.

    Backends that evaluate the condition themselves use this so that a file and an
    S3 copy of an object answer the same header the same way: `*`, a list of
    entity tags, and weak `W/` tags compared weakly (RFC 9110 §13.1.2).
    """
    if not if_none_match:
        return False
    wanted = _strip_weak(etag)
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or _strip_weak(tag) == wanted:
            return True
    return False


def _strip_weak(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


class BytesBody:
    """A body already in memory: small files, cached objects, test doubles."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def iter_chunks(self, size: int = 65536) -> AsyncIterator[bytes]:
        if len(self._data) <= size:  # the usual case: one chunk, no copy
            if self._data:
                yield self._data
            return
        view = memoryview(self._data)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])

    async def read(self) -> bytes:
        return self._data

    async def close(self) -> None:
        return None
