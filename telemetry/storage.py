"""A Storage wrapper that times and counts every call, whatever the backend."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TypeVar

from storage import ListedObject, ObjectMeta, Storage, StorageError, StoredObject
from telemetry.metrics import Metrics

T = TypeVar("T")


class InstrumentedStorage:
    def __init__(self, inner: Storage, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    @property
    def describe(self) -> str:
        return self.inner.describe

    async def _timed(self, op: str, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            return await call
        except StorageError:
            self._metrics.storage_errors.labels(op).inc()
            raise
        finally:
            self._metrics.storage_seconds.labels(op).observe(time.perf_counter() - started)

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        return await self._timed("get", self.inner.get(key, if_none_match=if_none_match))

    async def head(self, key: str) -> ObjectMeta | None:
        return await self._timed("head", self.inner.head(key))

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        call = self.inner.put(key, data, content_type=content_type, cache_control=cache_control)
        return await self._timed("put", call)

    async def delete(self, keys: Sequence[str]) -> None:
        await self._timed("delete", self.inner.delete(keys))

    def list(self, prefix: str) -> AsyncIterator[ListedObject]:
        return self.inner.list(prefix)

    async def subdirectories(self, prefix: str) -> Sequence[str]:
        return await self._timed("list", self.inner.subdirectories(prefix))

    async def ping(self) -> None:
        await self._timed("ping", self.inner.ping())

    async def close(self) -> None:
        await self.inner.close()
