"""The default ("mventory") layout: the URL path IS the storage key.

    original : {site}/full/{rel}        t1/full/1/3/1335478295542.jpg
    resized  : {site}/{dim}/{rel}       t1/215x170/1/3/1335478295542.jpg

Parsing works on the raw request target, decodes each segment exactly once and refuses
anything that is not a plain name, so `..`, `%2e%2e`, `%2F`, backslashes, NUL and empty
segments never become a key, and no key is ever normalised into a different one. A
Magento 2 layout (`catalog/product/cache/{hash}/...`) would be another parser producing
the same MediaPath, leaving resize/ and storage untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import unquote

from proxy.errors import BadPath

FULL = "full"
MAX_PATH_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255
MAX_REL_SEGMENTS = 8
# SPEC §2 says segments start with a letter or digit; `_` is allowed too because Magento's
# own dispersion makes `a/_/a.jpg` (a second character `.` becomes `_`). Still no segment
# can be `.`, `..` or hidden, which is what keeps keys inside their tree.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NAME = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}"
# The common case, a path with no escapes, checked by one regex instead of per segment.
_PLAIN_PATH = re.compile(rf"/({_NAME})/({_NAME})/((?:{_NAME}/){{0,{MAX_REL_SEGMENTS - 1}}}{_NAME})")


@dataclass(frozen=True)
class MediaPath:
    """A validated `{site}/{dim}/{rel}`; `dim` is `full` or a size string as written."""

    site: str
    dim: str
    rel: str

    @property
    def key(self) -> str:
        return f"{self.site}/{self.dim}/{self.rel}"

    @property
    def is_original(self) -> bool:
        return self.dim == FULL

    @property
    def original(self) -> MediaPath:
        return replace(self, dim=FULL)

    def sized(self, dim: str) -> MediaPath:
        return replace(self, dim=dim)


def parse_path(raw_path: str) -> MediaPath:
    """Parse the raw request target (`/t1/300x/1/3/a.jpg?x`); BadPath unless every rule holds."""
    path = raw_path.split("?", 1)[0]
    if len(path) > MAX_PATH_LENGTH:
        raise BadPath("path too long")
    plain = _PLAIN_PATH.fullmatch(path)
    if plain is not None:
        return MediaPath(plain[1], plain[2], plain[3])
    if not path.startswith("/") or _ESCAPE.search(path):
        raise BadPath("malformed path")
    segments = [_segment(raw) for raw in path[1:].split("/")]
    if len(segments) < 3 or len(segments) > 2 + MAX_REL_SEGMENTS:
        raise BadPath("expected /{site}/{size}/{path}")
    return MediaPath(segments[0], segments[1], "/".join(segments[2:]))


def parse_rel(rel: str) -> str:
    """Validate a relative image path given outside a URL (CLI arguments, migrate)."""
    segments = rel.split("/")
    if not segments or len(segments) > MAX_REL_SEGMENTS:
        raise BadPath("expected a path like 1/3/1335478295542.jpg")
    return "/".join(_segment(segment, decode=False) for segment in segments)


def _segment(raw: str, *, decode: bool = True) -> str:
    text = unquote(raw, errors="replace") if decode else raw
    if len(text) > MAX_SEGMENT_LENGTH or _SEGMENT.fullmatch(text) is None:
        raise BadPath("bad path segment" if text else "empty path segment")
    return text
