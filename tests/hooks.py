"""A storage backend whose calls a test can stop at chosen points, to force interleavings.

`HookedStorage(inner)` forwards to a real backend. `pause(op, key)` arms a one-shot
`Pause`: the next `get` of `key` reads the whole object, then waits until released (so
the caller holds bytes read *before* whatever the test does meanwhile); the next `put`
of `key` waits before writing (so it lands *after*). With `last=True`, a released put
also lets any put of the same key that races it land first (see `_after_racing_put`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

from storage import BytesBody, GetStatus, ListedObject, ObjectMeta, Storage, StoredObject

LOOP_TURNS = 50  # far more than a write path takes between two storage calls


class Pause:
    def __init__(self, *, last: bool = False) -> None:
        self.reached = asyncio.Event()
        self.released = asyncio.Event()
        self.last = last

    async def hold(self) -> None:
        self.reached.set()
        await self.released.wait()

    def release(self) -> None:
        self.released.set()


class HookedStorage:
    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.describe = inner.describe
        self._pauses: dict[tuple[str, str], Pause] = {}
        self.puts: defaultdict[str, list[asyncio.Event]] = defaultdict(list)  # one per put
        self.deletes: defaultdict[str, list[asyncio.Event]] = defaultdict(list)
        self._called = asyncio.Event()  # set whenever a put or delete starts
        self.gets: defaultdict[str, int] = defaultdict(int)

    def pause(self, op: str, key: str, *, last: bool = False) -> Pause:
        pause = self._pauses[(op, key)] = Pause(last=last)
        return pause

    async def get(self, key: str, *, if_none_match: str | None = None) -> StoredObject:
        self.gets[key] += 1
        found = await self.inner.get(key, if_none_match=if_none_match)
        pause = self._pauses.pop(("get", key), None)
        if pause is not None:
            if found.status is GetStatus.OK and found.body is not None:
                found = StoredObject(found.status, found.meta, BytesBody(await found.body.read()))
            await pause.hold()
        return found

    async def put(
        self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None
    ) -> ObjectMeta:
        done = asyncio.Event()
        self.puts[key].append(done)
        self._called.set()
        ours = len(self.puts[key]) - 1
        pause = self._pauses.pop(("put", key), None)
        if pause is not None:
            await pause.hold()
            if pause.last:
                await self._after_racing_put(key, ours)
        try:
            return await self.inner.put(
                key, data, content_type=content_type, cache_control=cache_control
            )
        finally:
            done.set()

    async def head(self, key: str) -> ObjectMeta | None:
        return await self.inner.head(key)

    async def delete(self, keys: Sequence[str]) -> None:
        done = asyncio.Event()
        for key in keys:
            self.deletes[key].append(done)
        self._called.set()
        try:
            await self.inner.delete(keys)
        finally:
            done.set()

    async def wait_for(self, calls: list[asyncio.Event], nth: int) -> None:
        """Wait until the `nth` call (0-based) of a `puts`/`deletes` list has finished."""
        while len(calls) <= nth:
            self._called.clear()
            await self._called.wait()
        await calls[nth].wait()

    async def finished(self, calls: list[asyncio.Event], nth: int) -> bool:
        """Wait for the `nth` call (0-based) of a `puts`/`deletes` list to finish, if it
        starts within LOOP_TURNS turns of the event loop; whether it did."""
        for _ in range(LOOP_TURNS):
            if len(calls) > nth:
                await calls[nth].wait()
                return True
            await asyncio.sleep(0)
        return False

    def list(self, prefix: str) -> AsyncIterator[ListedObject]:
        return self.inner.list(prefix)

    async def subdirectories(self, prefix: str) -> Sequence[str]:
        return await self.inner.subdirectories(prefix)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        return None  # the inner backend belongs to the fixture that opened it

    async def _after_racing_put(self, key: str, ours: int) -> None:
        """Wait for the next put of `key` after ours to finish, if one starts within
        LOOP_TURNS turns of the event loop; go on at once otherwise.

        So a released store lands after a writer that does not wait for it (the writer
        starts its own put of the key within a few turns), and does not deadlock with a
        writer that does wait for it (nothing starts: the behaviour under test).
        """
        await self.finished(self.puts[key], ours + 1)
