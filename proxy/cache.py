"""In-memory cache of small finished responses, bounded in bytes (not entries)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from cachetools import LRUCache


@dataclass(frozen=True)
class CachedObject:
    body: bytes
    content_type: str
    etag: str
    last_modified: datetime
    cache_control: str | None

    @cached_property
    def headers(self) -> dict[str, str]:
        """The response headers, built once: a memory hit only copies them."""
        headers = {
            "Content-Type": self.content_type,
            "ETag": self.etag,
            "Last-Modified": self.last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }
        if self.cache_control:
            headers["Cache-Control"] = self.cache_control
        return headers


class MemoryCache:
    """LRU by total body bytes; objects above `max_item_bytes` are never kept.

    The per-item cap keeps one large original from evicting hundreds of thumbnails.
    """

    def __init__(self, max_bytes: int, max_item_bytes: int) -> None:
        self._max_item = min(max_item_bytes, max_bytes)
        self._entries: LRUCache[str, CachedObject] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=lambda item: len(item.body) or 1
        )

    def get(self, key: str) -> CachedObject | None:
        return self._entries.get(key)

    def put(self, key: str, item: CachedObject) -> None:
        if 0 < len(item.body) <= self._max_item:
            self._entries[key] = item

    def purge(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    @property
    def bytes_used(self) -> int:
        """Bytes of bodies held (the benchmarks report it)."""
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)
