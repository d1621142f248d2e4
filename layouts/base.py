"""What every layout is: originals under one prefix, and a fixed set of sizes per original.

Both layouts reduce to the same shape, which is what lets serving, uploads, pregen,
delete and the event worker ignore which one they are in:

    original key = originals_prefix + rel          t1/full/1/3/a.jpg
    size key     = size.prefix + rel [+ suffix]    t1/300x/1/3/a.jpg
                                                   media/catalog/product/cache/<hash>/a/b/x.jpg
                                                   t1/300x/1/3/a.jpg.webp (a format variant)

A layout only adds how a request target maps onto (rel, size): `parse`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property

from config import SiteSettings
from layouts.errors import NotAnImage
from layouts.segments import valid_rel
from resize import ImageFormat, RenderParams, is_image_name


@dataclass(frozen=True)
class Size:
    """One derived object of every original: a configured size string (mventory), or one
    hash / query size of the Magento 2 table. `name` is how users and the write API's
    answer call it; `placeholder` is the rel rendered when an original is missing."""

    name: str
    prefix: str
    params: RenderParams
    placeholder: str | None = None
    # ".webp" / ".avif" for a format variant: its key is the size key plus the format's
    # extension (SPEC §10, the convention of nginx `try_files $uri$suffix`).
    suffix: str = ""

    def key(self, rel: str) -> str:
        return self.prefix + rel + self.suffix


@dataclass(frozen=True)
class ImageRequest:
    """A validated request: the original (`size` None) or one size of it."""

    layout: SiteLayout
    rel: str
    size: Size | None

    @property
    def key(self) -> str:
        return self.size.key(self.rel) if self.size else self.layout.original_key(self.rel)

    @property
    def original(self) -> str:
        return self.layout.original_key(self.rel)

    @property
    def site(self) -> SiteSettings:
        return self.layout.site

    def sibling(self, rel: str) -> ImageRequest:
        """The same size of another original (a placeholder)."""
        return ImageRequest(self.layout, rel, self.size)


class SiteLayout(ABC):
    """One configured site's grammar. Subclasses set `originals_prefix` and `sizes`."""

    site: SiteSettings
    originals_prefix: str
    sizes: tuple[Size, ...]
    # Routing: a site with a `url_prefix` owns the paths below it (on `hosts` only, when
    # given); one without is routed by its name as the first path segment.
    url_prefix: str | None = None
    hosts: frozenset[str] = frozenset()
    # Directories right below originals_prefix that never hold originals (Magento 2's
    # cache/ holds every size): listings skip them instead of walking millions of keys.
    not_originals: tuple[str, ...] = ()

    @abstractmethod
    def parse(self, path: str, query: Mapping[str, str]) -> ImageRequest:
        """A raw path (no query) routed to this site, and its decoded query arguments.
        Raises LayoutError subclasses; never touches storage."""

    @property
    def url_is_key(self) -> bool:
        """Whether every URL path of this site, minus its leading `/`, is its key: then a
        memory-cache lookup may skip parsing (see proxy.reads)."""
        return True

    def original_key(self, rel: str) -> str:
        return self.originals_prefix + rel

    def is_original(self, rel: str) -> bool:
        """Whether `rel` (below originals_prefix) names an image original of this site."""
        return is_image_name(rel) and valid_rel(rel)

    def original_rel(self, key: str) -> str | None:
        """The rel of an original's storage key, or None if the key is no original here."""
        if not key.startswith(self.originals_prefix):
            return None
        rel = key[len(self.originals_prefix) :]
        return rel if self.is_original(rel) else None

    def size_keys(self, rel: str) -> dict[str, str]:
        """Every size of `rel`, name → key; none for a plain file (whose size keys would be
        another image's: `a.jpg.webp`'s are a.jpg's WebP variants)."""
        if not is_image_name(rel):
            return {}
        return {size.name: size.key(rel) for size in self._all_sizes()}

    def _all_sizes(self) -> tuple[Size, ...]:
        """What `size_keys` covers: every size this site may have written."""
        return self.sizes

    def size_named(self, name: str) -> Size | None:
        return self._by_name.get(name)

    def request(self, rel: str, size: Size | None = None) -> ImageRequest:
        return ImageRequest(self, rel, size)

    @property
    def formats(self) -> tuple[str, ...]:
        """The variant formats this site negotiates, most preferred first."""
        return self.site.formats

    def variant(self, size: Size, fmt: str) -> Size:
        """`size` written as `fmt` ("webp", "avif"), at the site's quality for that format."""
        found = self._variants.get((size.name, fmt))
        if found is None:
            found = self._variants[(size.name, fmt)] = self._make_variant(size, fmt)
        return found

    def _make_variant(self, size: Size, fmt: str) -> Size:
        site = self.site
        quality = site.avif_quality if fmt == "avif" else site.webp_quality
        params = replace(
            size.params, output=ImageFormat(fmt), quality=quality, effort=site.avif_effort
        )
        return Size(f"{size.name}.{fmt}", size.prefix, params, size.placeholder, f".{fmt}")

    def with_variants(self, sizes: tuple[Size, ...]) -> tuple[Size, ...]:
        """Each size followed by its variants in the site's formats."""
        return tuple(
            out for size in sizes for out in (size, *(self.variant(size, f) for f in self.formats))
        )

    def sized_request(self, rel: str, size: Size) -> ImageRequest:
        """A request for `size` of `rel`, where a rel ending in a variant's extension
        (`a.jpg.webp`) names that variant of the image `a.jpg` when the site has the format."""
        stem, dot, ext = rel.rpartition(".")
        if dot and ext in self.formats and not size.suffix and is_image_name(stem):
            return self.request(stem, self.variant(size, ext))
        if not is_image_name(rel):
            raise NotAnImage()
        return self.request(rel, size)

    @cached_property
    def _variants(self) -> dict[tuple[str, str], Size]:
        return {}

    @cached_property
    def _by_name(self) -> dict[str, Size]:
        return {size.name: size for size in self.sizes}
