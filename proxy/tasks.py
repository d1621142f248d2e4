"""Background work that must not be lost: tracked, logged on failure, drained on shutdown.

Tasks may name the storage keys they write, so a write of the same keys (an upload, a
delete) can first wait for them and be sure to land last.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from functools import partial
from typing import Any

log = logging.getLogger("mediaproxy.tasks")


class BackgroundTasks:
    """Holds strong references to fire-and-forget tasks (asyncio keeps only weak ones)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._by_key: dict[str, set[asyncio.Task[Any]]] = {}

    def spawn(
        self, coroutine: Coroutine[Any, Any, Any], name: str, keys: Iterable[str] = ()
    ) -> asyncio.Task[Any]:
        """Run `coroutine` in the background; `keys` are the storage keys it writes."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        written = tuple(keys)
        for key in written:
            self._by_key.setdefault(key, set()).add(task)
        task.add_done_callback(partial(self._finished, written))
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def settle(self, keys: Iterable[str]) -> int:
        """Wait until the tasks under way now that write any of `keys` are done; how many.

        A caller that is cancelled meanwhile leaves those tasks running.
        """
        tasks = {task for key in keys for task in self._by_key.get(key, ())}
        if tasks:
            await asyncio.wait(tasks)
        return len(tasks)

    async def drain(self, within: float | None = None) -> None:
        """Wait for every task, including ones spawned while waiting."""
        async with asyncio.timeout(within):
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _finished(self, keys: tuple[str, ...], task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        for key in keys:
            writers = self._by_key.get(key)
            if writers is not None:
                writers.discard(task)
                if not writers:
                    del self._by_key[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())
