"""`storage.url`, read once: which backend, and where in it.

    file:./var/media          a directory, relative to the working directory
    file:/srv/media           an absolute directory (also file:///srv/media)
    s3://bucket               a bucket
    s3://bucket/some/prefix   keys stored as `some/prefix/<key>`; URLs never show it

Checked when the config loads, so `config check` and every command refuse a bad URL
the same way, naming the key (or the variable) that set it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from config.coerce import to_str

_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class FileLocation:
    root: Path  # as written: relative paths are relative to the working directory


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or "some/prefix/"


def parse_storage_url(url: str) -> FileLocation | S3Location:
    """Where `url` points; ValueError saying what is wrong with it."""
    if url.startswith("file:"):
        return FileLocation(_file_root(url))
    if url.startswith("s3://"):
        return _s3(url)
    raise ValueError(f"storage url must start with 'file:' or 's3://', got {url!r}")


def checked_storage_url(value: Any) -> str:
    """The config coercer: a string that `parse_storage_url` accepts."""
    url = to_str(value)
    parse_storage_url(url)
    return url


def _s3(url: str) -> S3Location:
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
    return S3Location(parts.netloc, f"{prefix}/" if prefix else "")


def _file_root(url: str) -> Path:
    rest = url.removeprefix("file:")
    if rest.startswith("//"):  # file:///abs/path or file://localhost/abs/path
        host, slash, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise ValueError(f"storage url {url!r}: only local paths are supported")
        rest = slash + path
    if not rest or "\0" in rest:
        raise ValueError(f"storage url {url!r}: give a directory, e.g. 'file:./var/media'")
    return Path(rest)
