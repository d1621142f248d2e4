"""One holder per key at a time, with no lock left behind once nobody holds or waits.

Shared by the server (proxy.locks: one writer per original) and the event worker (one
settle per original in hand).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # key → (lock, users)

    def __len__(self) -> int:
        return len(self._locks)

    def users(self, key: str) -> int:
        """Holders of `key`'s lock plus those waiting for it."""
        return self._locks.get(key, (None, 0))[1]

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
