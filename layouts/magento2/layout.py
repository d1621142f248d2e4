"""The Magento 2 layout (SPEC §9): Magento's own keys under `pub/media`.

    original : {key_prefix}/{a}/{b}/{file}              media/catalog/product/a/b/x.jpg
    hash     : {key_prefix}/cache/{hash}/{a}/{b}/{file}
    query    : {url_prefix}/a/b/x.jpg?width=W&height=H  → key {key_prefix}/cache/{W}x{H}/a/b/x.jpg

A hash must be in the site's table and a query WxH must be one of its entries' sizes;
anything else is a 404 before any storage call. `cache/`, `placeholder/` and `watermark/`
are never originals. Which sizes pregen, uploads and the worker make follows the site's
`url_format` ("hash", "query" or "both"); serving and deleting cover both formats.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from config import SiteSettings
from layouts.base import ImageRequest, SiteLayout, Size
from layouts.errors import BadPath, UnknownImage
from layouts.magento2.hashes import HashEntry, ImageParams
from layouts.segments import MAX_REL_SEGMENTS, decode_segments
from resize import RenderParams

NOT_ORIGINALS = ("cache", "placeholder", "watermark")
_HASH = re.compile(r"[0-9a-f]{32}")
_NUMBER = re.compile(r"[1-9][0-9]{0,4}")


def render_params(params: ImageParams) -> RenderParams:
    """Magento's parameter set as resize/ takes it. Magento's resize service resizes only
    when both sides are set (MediaStorage/Service/ImageResize.php), so a set missing one
    is the original's size, re-encoded at the set's quality."""
    if params.width is None or params.height is None:
        return RenderParams(quality=params.quality)
    return RenderParams(
        width=params.width,
        height=params.height,
        keep_aspect_ratio=params.keep_aspect_ratio,
        keep_frame=params.keep_frame,
        constrain_only=params.constrain_only,
        keep_transparency=params.keep_transparency,
        background=params.background or (255, 255, 255),
        quality=params.quality,
    )


def query_name(width: int | None, height: int | None) -> str:
    """The `cache/` directory of a query-format size: `240x300`, `240x`, `x300`."""
    return f"{width or ''}x{height or ''}"


class Magento2Layout(SiteLayout):
    def __init__(self, site: SiteSettings, table: Mapping[str, HashEntry]) -> None:
        assert site.magento2 is not None
        settings = site.magento2
        self.site, self.table = site, dict(table)
        self.url_prefix = self._url_prefix = settings.url_prefix
        self.hosts = frozenset(settings.hosts)
        self.key_prefix = settings.key_prefix
        self.originals_prefix = f"{settings.key_prefix}/"
        self.not_originals = NOT_ORIGINALS
        placeholders = dict(settings.placeholders)
        by_name: dict[str, Size] = {}
        for digest, entry in self.table.items():
            by_name[digest] = self._size(digest, entry, placeholders)
        hash_sizes = tuple(by_name.values())
        self.query_sizes = self._query_sizes(placeholders)
        query_sizes = tuple(self.query_sizes.values())
        made = {
            "hash": hash_sizes,
            "query": query_sizes,
            "both": hash_sizes + query_sizes,
        }[settings.url_format]
        self.sizes = self.with_variants(made)
        everything = self.with_variants(hash_sizes + query_sizes)
        self._servable = {size.name: size for size in everything}

    def _query_sizes(self, placeholders: dict[str, str]) -> dict[str, Size]:
        """One size per WxH of the table; the first entry of a WxH decides how it renders.
        An entry with neither side has none: its query URL carries no width or height, so
        it is the original itself (see `parse`), and a `cache/x/` copy would go unread."""
        sizes: dict[str, Size] = {}
        for entry in self.table.values():
            width, height = entry.params.width, entry.params.height
            if width is not None or height is not None:
                name = query_name(width, height)
                sizes.setdefault(name, self._size(name, entry, placeholders))
        return sizes

    def _size(self, name: str, entry: HashEntry, placeholders: dict[str, str]) -> Size:
        kinds = [kind for kind in entry.image_types if kind in placeholders]
        placeholder = placeholders[kinds[0]] if kinds else self.site.placeholder
        prefix = f"{self.key_prefix}/cache/{name}/"
        return Size(name, prefix, render_params(entry.params), placeholder)

    @property
    def url_is_key(self) -> bool:
        return self._url_prefix[1:] == self.key_prefix

    def is_original(self, rel: str) -> bool:
        return rel.split("/", 1)[0] not in NOT_ORIGINALS and super().is_original(rel)

    def _all_sizes(self) -> tuple[Size, ...]:
        """Every size of both URL formats, so a delete leaves none behind."""
        return tuple(self._servable.values())

    def size_named(self, name: str) -> Size | None:
        return self._servable.get(name)

    def parse(self, path: str, query: Mapping[str, str]) -> ImageRequest:
        segments = decode_segments(path)[self._url_prefix.count("/") :]
        if segments[0] == "cache" and len(segments) > 2:
            name, rel_parts = segments[1], segments[2:]
            size = self._servable.get(name)
            if size is None or size.suffix:
                if not _HASH.fullmatch(name) and not re.fullmatch(r"[0-9]*x[0-9]*", name):
                    raise BadPath("expected cache/{hash}/a/b/file")
                raise UnknownImage("unknown image size (hash not in the table)")
            return self.sized_request(self._rel(rel_parts), size)
        rel = self._rel(segments)
        if rel.split("/", 1)[0] in NOT_ORIGINALS:
            raise UnknownImage("not an original")
        width, height = _side(query, "width"), _side(query, "height")
        if width is None and height is None:
            return self.request(rel)
        size = self.query_sizes.get(query_name(width, height))
        if size is None:
            raise UnknownImage("size not configured for this site")
        return self.sized_request(rel, size)

    @staticmethod
    def _rel(parts: list[str]) -> str:
        if not parts or len(parts) > MAX_REL_SEGMENTS:
            raise BadPath("expected a path like a/b/file.jpg")
        return "/".join(parts)


def _side(query: Mapping[str, str], name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    if not _NUMBER.fullmatch(text):
        raise BadPath(f"{name} must be a whole number of pixels")
    return int(text)
