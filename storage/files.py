"""Objects as plain files under one directory: development, tests, single-box installs.

Layout: the object `t1/full/a.jpg` is the file `{root}/t1/full/a.jpg`, so the tree can be
inspected, copied or served by nginx as is. What a file cannot carry (content type, cache
control, etag) lives in a JSON sidecar `{root}/.meta/t1/full/a.jpg.json`; keys never start
with `.`, so neither the sidecar tree nor temp files can collide with a key.

Writes go to a temp file in the target directory and are renamed over the key, so a reader
sees the old object or the new one, never a part, even if the writer is killed (no fsync:
a power cut may still lose the last write). The data file and its sidecar cannot be
renamed together, so the sidecar names the inode, size and mtime it describes; when they do
not match the open file (a write in flight, a writer killed in between, a file copied in by
hand) the metadata is recomputed from the file itself: md5 etag, type from the extension.

All blocking I/O runs in a worker thread, one hop per call: a get opens, checks, and (up to
`INLINE_MAX` bytes) reads the body in that one hop; larger bodies stream a hop per chunk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Sequence
from io import BufferedReader
from pathlib import Path
from typing import ParamSpec, TypeVar

from . import fileops
from .base import BytesBody, GetStatus, ListedObject, ObjectMeta, StoredObject, etag_matches
from .errors import StorageError

INLINE_MAX = 1 << 20
META_DIR = ".meta"

_P = ParamSpec("_P")
_T = TypeVar("_T")


class FileStorage:
    """`Storage` on a local directory (see the module docstring); creates `root` if missing."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.describe = f"file:{self.root}"

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        # A caller cancelled (a timeout, a render abandoned) while the thread still runs
        # would never see the large file the thread opens: close it when the thread ends.
        job = asyncio.ensure_future(_offload(self._get_sync, key, if_none_match))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            job.add_done_callback(_close_abandoned)
            raise

    async def head(self, key: str) -> ObjectMeta | None:
        return await _offload(self._head_sync, key)

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        return await _offload(self._put_sync, key, data, content_type, cache_control)

    async def delete(self, keys: Sequence[str]) -> None:
        paths = [self._paths(key) for key in keys]  # refuse a bad key before deleting any
        await _offload(fileops.unlink_all, [p for pair in paths for p in pair])

    async def list(self, prefix: str) -> AsyncIterator[ListedObject]:
        """Every key starting with `prefix`, in the byte order S3 lists them."""
        base, _, _ = prefix.rpartition("/")
        start = self._data_path(base) if base else self.root
        async for item in self._walk(start, f"{base}/" if base else "", prefix):
            yield item

    async def subdirectories(self, prefix: str) -> Sequence[str]:
        directory = self._data_path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        entries = await _offload(fileops.scan_dir, directory)
        return [name for name, is_dir, _, _ in entries if is_dir]

    async def ping(self) -> None:
        if not await asyncio.to_thread(os.access, self.root, os.R_OK | os.W_OK | os.X_OK):
            raise StorageError() from PermissionError(f"{self.root} is not a writable directory")

    async def close(self) -> None:
        return None

    def _data_path(self, key: str) -> Path:
        """The file for `key`, refusing anything that could land outside the object tree.

        Callers validate keys already; this is the second lock on the door, and it also
        keeps keys off the `.meta` tree and temp files (no segment may start with `.`).
        """
        if not key or key.startswith("/") or "\\" in key or "\0" in key:
            raise ValueError(f"refusing storage key {key!r}")
        if any(not part or part.startswith(".") for part in key.split("/")):
            raise ValueError(f"refusing storage key {key!r}")
        return self.root / key

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self._data_path(key), self.root / META_DIR / f"{key}.json"

    def _open(self, key: str) -> tuple[BufferedReader, ObjectMeta] | None:
        path, meta_path = self._paths(key)
        try:
            f = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        try:
            return f, fileops.describe_open_file(key, f, meta_path)
        except BaseException:
            f.close()
            raise

    def _get_sync(self, key: str, if_none_match: str | None) -> StoredObject:
        opened = self._open(key)
        if opened is None:
            return StoredObject(GetStatus.NOT_FOUND)
        f, meta = opened
        if etag_matches(if_none_match, meta.etag):
            f.close()
            return StoredObject(GetStatus.NOT_MODIFIED)
        if meta.size > INLINE_MAX:
            return StoredObject(GetStatus.OK, meta, _FileBody(f))
        with f:
            return StoredObject(GetStatus.OK, meta, BytesBody(f.read()))

    def _head_sync(self, key: str) -> ObjectMeta | None:
        opened = self._open(key)
        if opened is None:
            return None
        opened[0].close()
        return opened[1]

    def _put_sync(
        self, key: str, data: bytes, content_type: str, cache_control: str | None
    ) -> ObjectMeta:
        path, meta_path = self._paths(key)
        etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
        temps: list[Path] = []
        try:
            temps.append(fileops.write_temp(path, data))
            st = os.stat(temps[0])
            record = {"etag": etag, "content_type": content_type, "cache_control": cache_control}
            sidecar = json.dumps(record | fileops.identity(st)).encode()
            temps.append(fileops.write_temp(meta_path, sidecar))
            os.replace(temps[0], path)
            os.replace(temps[1], meta_path)
            temps.clear()
        finally:
            for leftover in temps:
                leftover.unlink(missing_ok=True)
        return ObjectMeta(key, len(data), content_type, etag, fileops.mtime_utc(st), cache_control)

    async def _walk(self, directory: Path, rel: str, prefix: str) -> AsyncIterator[ListedObject]:
        for name, is_dir, size, mtime in await _offload(fileops.scan_dir, directory):
            key = rel + name
            if not is_dir:
                if key.startswith(prefix):
                    yield ListedObject(key, size, mtime)
            elif f"{key}/".startswith(prefix) or prefix.startswith(f"{key}/"):
                async for item in self._walk(directory / name, f"{key}/", prefix):
                    yield item


class _FileBody:
    """A large file streamed a chunk per thread hop; closes itself when drained."""

    def __init__(self, f: BufferedReader) -> None:
        self._f = f

    @property
    def closed(self) -> bool:
        return self._f.closed

    async def iter_chunks(self, size: int = 65536) -> AsyncIterator[bytes]:
        try:
            while chunk := await _offload(self._f.read, size):
                yield chunk
        finally:
            await self.close()

    async def read(self) -> bytes:
        try:
            return await _offload(self._f.read)
        finally:
            await self.close()

    async def close(self) -> None:
        self._f.close()

    def close_now(self) -> None:
        self._f.close()


def _close_abandoned(job: asyncio.Future[StoredObject]) -> None:
    if job.cancelled() or job.exception() is not None:
        return
    body = job.result().body
    if isinstance(body, _FileBody):
        body.close_now()


async def _offload(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run blocking file work in a thread; an OS failure is a storage failure (502)."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except OSError as exc:
        raise StorageError() from exc
