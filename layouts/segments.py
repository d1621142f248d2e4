"""The rules every relative image path obeys, whatever the layout.

A rel (`1/3/1335478295542.jpg`, `small_image.jpg`) is decoded exactly once and refused
unless each segment is a plain name, so `..`, `%2e%2e`, `%2F`, backslashes, NUL and
empty segments never become a key, and no key is ever normalised into a different one.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from layouts.errors import BadPath

MAX_PATH_LENGTH = 1024
MAX_SEGMENT_LENGTH = 255
MAX_REL_SEGMENTS = 8
# SPEC §2 says segments start with a letter or digit; `_` is allowed too because Magento's
# own dispersion makes `a/_/a.jpg` (a second character `.` becomes `_`). Still no segment
# can be `.`, `..` or hidden, which is what keeps keys inside their tree.
SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
NAME = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def decode_segments(path: str) -> list[str]:
    """`/a/b%2Ec/d` → ["a", "b.c", "d"]; BadPath unless every segment is a plain name."""
    if len(path) > MAX_PATH_LENGTH:
        raise BadPath("path too long")
    if not path.startswith("/") or _BAD_ESCAPE.search(path):
        raise BadPath("malformed path")
    return [segment(raw) for raw in path[1:].split("/")]


def segment(raw: str, *, decode: bool = True) -> str:
    text = unquote(raw, errors="replace") if decode else raw
    if len(text) > MAX_SEGMENT_LENGTH or SEGMENT.fullmatch(text) is None:
        raise BadPath("bad path segment" if text else "empty path segment")
    return text


def parse_rel(rel: str) -> str:
    """Validate a relative image path given outside a URL (CLI arguments, migrate, events)."""
    parts = rel.split("/")
    if len(parts) > MAX_REL_SEGMENTS:
        raise BadPath("expected a path like 1/3/1335478295542.jpg")
    return "/".join(segment(part, decode=False) for part in parts)


def valid_rel(rel: str) -> bool:
    try:
        return parse_rel(rel) == rel
    except BadPath:
        return False
