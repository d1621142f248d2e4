"""Which site a request target belongs to, and every configured site's layout.

Sites with a URL prefix (Magento 2: `/media/catalog/product`, optionally per Host) are
matched first, longest prefix first; the rest are mventory sites named by the first path
segment. Both kinds serve side by side from one process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

from config import Settings, SiteSettings
from layouts.base import ImageRequest, SiteLayout
from layouts.errors import BadPath, UnknownImage
from layouts.magento2.layout import Magento2Layout
from layouts.magento2.table import hash_table
from layouts.mventory import MventoryLayout, split_path

MAX_QUERY_LENGTH = 1024


class Router:
    def __init__(self, layouts: Sequence[SiteLayout]) -> None:
        self.layouts = {layout.site.name: layout for layout in layouts}
        self._named: dict[str, MventoryLayout] = {
            layout.site.name: layout for layout in layouts if isinstance(layout, MventoryLayout)
        }
        self._prefixed = sorted(
            (layout for layout in layouts if layout.url_prefix is not None),
            key=lambda layout: -len(layout.url_prefix or ""),
        )
        # A memory hit may be looked up by the raw path alone only when that cannot pick a
        # different object than parsing would: URL path == key everywhere, no Host routing,
        # A site with formats answers one URL with several objects (by Accept): parse first.
        self._negotiates = any(layout.formats for layout in layouts)
        self._direct_paths = all(
            layout.url_is_key and not layout.hosts and not layout.formats for layout in layouts
        )

    @property
    def negotiates(self) -> bool:
        """Whether some site answers by the Accept header (formats), so may need `Vary`."""
        return self._negotiates

    @property
    def uses_query(self) -> bool:
        return bool(self._prefixed)

    @classmethod
    def from_settings(cls, settings: Settings) -> Router:
        """Every site's layout; LayoutConfigError listing every problem of every site."""
        layouts: list[SiteLayout] = []
        problems: list[str] = []
        for site in settings.sites.values():
            try:
                layouts.append(build_layout(site))
            except LayoutConfigError as error:
                problems += error.problems
        if problems:
            raise LayoutConfigError(problems)
        return cls(layouts)

    def parse(self, raw_target: str, host: str | None = None) -> ImageRequest:
        """Raise BadPath (400) or UnknownImage (404) unless the target names an image."""
        path, _, query = raw_target.partition("?")
        if self._prefixed:
            host_name = _host_name(host)
            for layout in self._prefixed:
                prefix = layout.url_prefix or ""
                if path.startswith(prefix + "/") and (
                    not layout.hosts or host_name in layout.hosts
                ):
                    return layout.parse(path, _query(query))
        site, dim, rel = split_path(path)
        named = self._named.get(site)
        if named is None:
            raise UnknownImage("unknown site")
        return named.resolve(dim, rel)

    def direct_key(self, raw_target: str) -> str | None:
        """The memory-cache key of a target without parsing it, where that is safe; only
        validated keys are ever cached, so a raw path that would not parse finds nothing."""
        path, query_mark, _ = raw_target.partition("?")
        if not self._direct_paths or (query_mark and self.uses_query):
            return None
        return path[1:]

    def original_of(self, key: str) -> ImageRequest | None:
        """The site and rel of a storage key that is an original of a configured site."""
        for layout in self.layouts.values():
            rel = layout.original_rel(key)
            if rel is not None:
                return layout.request(rel)
        return None


class LayoutConfigError(ValueError):
    """A site's layout cannot be built (unreadable view.xml, missing crypt key...)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def build_layout(site: SiteSettings) -> SiteLayout:
    """The site's layout; LayoutConfigError listing every problem found."""
    if site.layout != "magento2":
        return MventoryLayout(site)
    table, problems = hash_table(site)
    if problems:
        raise LayoutConfigError(problems)
    return Magento2Layout(site, table)


def _host_name(host: str | None) -> str:
    if not host:
        return ""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.strip().lower()


def _query(query: str) -> Mapping[str, str]:
    if len(query) > MAX_QUERY_LENGTH:
        raise BadPath("query too long")
    # The first of repeated arguments wins, as PHP's $_GET would not; Magento never repeats.
    arguments: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        arguments.setdefault(name, value)
    return arguments
