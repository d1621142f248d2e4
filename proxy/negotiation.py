"""Which format a size is answered in, from the request's Accept header (SPEC §10).

The answer is normalised to one of three (AVIF, WebP, the source's format), so a cache
keyed on it keeps at most three copies. A format counts as accepted only when the header
names it with a q-value above zero (`image/avif;q=0` is a refusal); wildcards (`*/*`,
`image/*`) do not count, since clients that send only them (curl, old browsers, bots) often
cannot show AVIF. The preference order is fixed: AVIF, then WebP.
"""

from __future__ import annotations

MAX_ACCEPT_LENGTH = 2048


def accepted(header: str) -> set[str]:
    """The image subtypes the header names with q > 0 (`{"avif", "webp", "png"}`)."""
    subtypes: set[str] = set()
    for item in header[:MAX_ACCEPT_LENGTH].split(","):
        media_type, *params = item.split(";")
        kind, _, subtype = media_type.strip().lower().partition("/")
        if kind != "image" or not subtype or subtype == "*":
            continue
        if _quality(params) > 0:
            subtypes.add(subtype)
    return subtypes


def choose(header: str, formats: tuple[str, ...]) -> str | None:
    """The first of the site's `formats` (most preferred first) the client accepts, or None
    for the source's format."""
    if not formats or not header:
        return None
    names = accepted(header)
    return next((fmt for fmt in formats if fmt in names), None)


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0  # an unreadable weight is no acceptance
    return 1.0
