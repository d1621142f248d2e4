"""The Magento 1 / mVentory layout: the URL path IS the storage key (SPEC §2).

    original : {site}/full/{rel}        t1/full/1/3/1335478295542.jpg
    resized  : {site}/{dim}/{rel}       t1/215x170/1/3/1335478295542.jpg

`dim` is a size string exactly as configured: `300x` and `300x300` are different objects,
and an unconfigured one is a 404 before any storage call. The query string is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from config import SiteSettings, SizeSpec
from layouts.base import ImageRequest, SiteLayout, Size
from layouts.errors import BadPath, UnknownImage
from layouts.segments import MAX_PATH_LENGTH, MAX_REL_SEGMENTS, NAME, decode_segments
from resize import RenderParams

FULL = "full"
# The common case, a path with no escapes, checked by one regex instead of per segment.
_PLAIN_PATH = re.compile(rf"/({NAME})/({NAME})/((?:{NAME}/){{0,{MAX_REL_SEGMENTS - 1}}}{NAME})")


def split_path(path: str) -> tuple[str, str, str]:
    """`/t1/300x/1/3/a.jpg` → ("t1", "300x", "1/3/a.jpg"); BadPath unless every rule holds."""
    if len(path) > MAX_PATH_LENGTH:
        raise BadPath("path too long")
    plain = _PLAIN_PATH.fullmatch(path)
    if plain is not None:
        return plain[1], plain[2], plain[3]
    segments = decode_segments(path)
    if len(segments) < 3 or len(segments) > 2 + MAX_REL_SEGMENTS:
        raise BadPath("expected /{site}/{size}/{path}")
    return segments[0], segments[1], "/".join(segments[2:])


def render_params(site: SiteSettings, spec: SizeSpec) -> RenderParams:
    """Magento 1's Varien_Image settings for a size: aspect kept, never enlarged unless
    the site upscales, framed when the site frames."""
    return RenderParams(
        width=spec.width,
        height=spec.height,
        keep_frame=site.frame,
        constrain_only=not site.upscale,
        background=site.background,
        quality=site.quality,
    )


class MventoryLayout(SiteLayout):
    def __init__(self, site: SiteSettings) -> None:
        self.site = site
        self.originals_prefix = f"{site.name}/{FULL}/"
        base = tuple(
            Size(
                spec.text, f"{site.name}/{spec.text}/", render_params(site, spec), site.placeholder
            )
            for spec in site.sizes
        )
        self.sizes = self.with_variants(base)

    def parse(self, path: str, query: Mapping[str, str]) -> ImageRequest:
        _, dim, rel = split_path(path)
        return self.resolve(dim, rel)

    def resolve(self, dim: str, rel: str) -> ImageRequest:
        if dim == FULL:
            return self.request(rel)
        size = self.size_named(dim)
        if size is None or size.suffix:
            raise UnknownImage("unknown size")
        return self.sized_request(rel, size)
