"""In-memory cache of small finished responses, bounded in bytes (not entries) and in age.

Two rules keep it from ever answering with an image that was replaced or deleted:

- **Purges win over slower readers.** A reader takes a `Ticket` before it reads storage
  (or downloads the original it renders from) and hands it to `put`; a put whose ticket
  is older than a purge of that key is refused. So a GET that read the old bytes just
  before an upload or DELETE purged the key cannot put them back afterwards.
- **Entries expire** `ttl` seconds after the read that produced them *started* (the
  ticket's time, not the put's). Other replicas never see this process's purges, so this
  is the bound on how long they may answer with what a write replaced: every replica
  answers from storage state no older than `cache.memory_ttl` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import NamedTuple

from cachetools import LRUCache

# Purges remembered key by key; beyond this many, older ones fold into one floor, which
# only makes puts more conservative (refused), never wrong.
PURGES_REMEMBERED = 4096


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

    def headers_from(self, source: str) -> dict[str, str]:
        """`headers` plus `X-Mediaproxy: source`, built once per source (never mutate)."""
        found = self._by_source.get(source)
        if found is None:
            found = self._by_source[source] = {**self.headers, "X-Mediaproxy": source}
        return found

    @cached_property
    def _by_source(self) -> dict[str, dict[str, str]]:
        return {}


class Ticket(NamedTuple):
    """Taken before a read: the purge count then, and the clock then."""

    epoch: int
    at: float


class _Entry(NamedTuple):
    item: CachedObject
    expires: float


class MemoryCache:
    """LRU by total body bytes; objects above `max_item_bytes` are never kept.

    The per-item cap keeps one large original from evicting hundreds of thumbnails.
    `ttl` 0 keeps entries until evicted (one replica only); `clock` is injectable for tests.
    """

    def __init__(
        self,
        max_bytes: int,
        max_item_bytes: int,
        ttl: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_item = min(max_item_bytes, max_bytes)
        self._ttl = ttl if ttl > 0 else float("inf")
        self._clock = clock
        self._entries: LRUCache[str, _Entry] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=lambda entry: len(entry.item.body) or 1
        )
        self._epoch = 0
        self._purged: OrderedDict[str, int] = OrderedDict()
        self._floor = 0

    def get(self, key: str) -> CachedObject | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            self._entries.pop(key, None)
            return None
        return entry.item

    def ticket(self) -> Ticket:
        """Take one before reading what may be `put` afterwards."""
        return Ticket(self._epoch, self._clock())

    def put(self, key: str, item: CachedObject, ticket: Ticket) -> bool:
        """Keep `item` unless it is too large, already expired, or `key` was purged after
        `ticket` was taken; whether it was kept."""
        if not 0 < len(item.body) <= self._max_item:
            return False
        if max(self._floor, self._purged.get(key, 0)) > ticket.epoch:
            return False
        expires = ticket.at + self._ttl
        if expires <= self._clock():
            return False
        self._entries[key] = _Entry(item, expires)
        return True

    def purge(self, keys: Iterable[str]) -> None:
        """Drop `keys`, and refuse puts of them read before now."""
        self._epoch += 1
        for key in keys:
            self._entries.pop(key, None)
            self._purged[key] = self._epoch
            self._purged.move_to_end(key)
        while len(self._purged) > PURGES_REMEMBERED:
            _, epoch = self._purged.popitem(last=False)
            self._floor = max(self._floor, epoch)

    @property
    def bytes_used(self) -> int:
        """Bytes of bodies held (the benchmarks report it)."""
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)
