"""The current download of each original, shared by every batch that takes it.

A product page asking for four sizes can split into two batches (the first started
before the last request arrived); they still share one GET. A download nobody uses any
more is cancelled. `invalidate` marks the current one stale (the original was replaced
or deleted meanwhile) and forgets it, so the next batch downloads again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from rendering.batch import Download, Source, retrieve
from rendering.budget import decode_cost
from rendering.errors import OriginalMissing
from resize import Limits, SourceTooLarge
from storage import GetStatus, Storage

S = TypeVar("S")


class Downloads(Generic[S]):
    """`stamp` is called as each download starts; its value stays with the download."""

    def __init__(self, storage: Storage, limits: Limits, stamp: Callable[[], S]) -> None:
        self._storage, self._limits, self._stamp = storage, limits, stamp
        self._current: dict[str, Download[S]] = {}

    def take(self, original: str) -> Download[S]:
        """The current download of `original`, started if there is none; give it back
        with `release`."""
        download = self._current.get(original)
        if download is None:
            download = Download(self._stamp())
            download.task = asyncio.create_task(self._fetch(original))
            download.task.add_done_callback(retrieve)
            self._current[original] = download
        download.users += 1
        return download

    def release(self, original: str, download: Download[S]) -> None:
        download.users -= 1
        if download.users > 0:
            return
        if self._current.get(original) is download:
            del self._current[original]
        if download.task is not None and not download.task.done():
            download.task.cancel()  # nobody wants these bytes any more

    def invalidate(self, original: str) -> None:
        download = self._current.pop(original, None)
        if download is not None:
            download.stale = True

    async def _fetch(self, original: str) -> Source:
        found = await self._storage.get(original)
        if found.status is not GetStatus.OK or found.body is None or found.meta is None:
            raise OriginalMissing()
        if found.meta.size > self._limits.max_bytes:
            await found.body.close()
            raise SourceTooLarge("source image is over the byte limit")
        data = await found.body.read()
        return Source(data, found.meta.etag, decode_cost(data))
