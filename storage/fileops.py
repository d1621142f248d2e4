"""The blocking halves of `FileStorage`, run in worker threads: sidecars, temp writes, scans.

Kept apart from the async class so each piece stays small and can be exercised (or, in
tests, interrupted) on its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mimetypes
import os
import secrets
from datetime import UTC, datetime
from io import BufferedReader
from pathlib import Path

from .base import ObjectMeta

EPOCH = datetime.fromtimestamp(0, tz=UTC)
Entry = tuple[str, bool, int, datetime]  # name, is_dir, size, last_modified


def describe_open_file(key: str, f: BufferedReader, meta_path: Path) -> ObjectMeta:
    """Metadata for the open file: the sidecar if it describes this very file, else derived."""
    st = os.fstat(f.fileno())
    record = read_sidecar(meta_path)
    if record is not None and all(record.get(k) == v for k, v in identity(st).items()):
        content_type, etag = str(record["content_type"]), str(record["etag"])
        cache_control = record["cache_control"]
        cache_control = cache_control if isinstance(cache_control, str) else None
    else:
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        etag, cache_control = f'"{md5_file(f)}"', None
    return ObjectMeta(key, st.st_size, content_type, etag, mtime_utc(st), cache_control)


def read_sidecar(meta_path: Path) -> dict[str, object] | None:
    try:
        record = json.loads(meta_path.read_bytes())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    ok = isinstance(record, dict) and {"content_type", "etag", "cache_control"} <= record.keys()
    return record if ok else None


def identity(st: os.stat_result) -> dict[str, object]:
    return {"ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def md5_file(f: BufferedReader) -> str:
    digest = hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
    f.seek(0)
    return digest


def mtime_utc(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(int(st.st_mtime), tz=UTC)


def write_temp(target: Path, data: bytes) -> Path:
    """Write `data` to a fresh hidden file beside `target` (so a rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        write_fd(fd, data)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temp


def write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def unlink_all(paths: list[Path]) -> None:
    for path in paths:
        # a directory is not an object, and a file in the way means no such key
        with contextlib.suppress(IsADirectoryError, NotADirectoryError):
            path.unlink(missing_ok=True)


def scan_dir(directory: Path) -> list[Entry]:
    """One directory's visible entries, ordered so a depth-first walk yields keys sorted.

    A directory sorts as `name/`: comparing that against file names orders every key
    below it exactly as comparing the full keys would.
    """
    try:
        with os.scandir(directory) as it:
            entries = [e for e in it if not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    out: list[Entry] = []
    for e in entries:
        try:
            st = None if e.is_dir() else e.stat()
        except FileNotFoundError:
            continue  # deleted since the scan, or a dangling symlink
        if st is None:
            out.append((e.name, True, 0, EPOCH))
        else:
            out.append((e.name, False, st.st_size, mtime_utc(st)))
    out.sort(key=lambda t: f"{t[0]}/" if t[1] else t[0])
    return out
