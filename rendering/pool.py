"""The resize pool: a fixed set of threads running libvips work off the event loop.

libvips releases the GIL while it computes, so threads use every core without the
copying a process pool would need. Jobs carry a priority: reads (a visitor waits) go
before uploads and background renders, and only reads count against `queue`, the bound
that turns overload into an immediate 503 instead of a growing backlog (imgproxy's
workers model). Uploads are limited separately by the caller (a semaphore) so they can
occupy at most `max_upload_workers` threads and never starve reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

from rendering.errors import Busy
from rendering.malloc import release_free_heap

T = TypeVar("T")
_STOP = object()


class Priority(IntEnum):
    READ = 0
    UPLOAD = 1
    BACKGROUND = 2


class Reservation:
    """A read's place in the pool, taken before any download so overload costs nothing."""

    def __init__(self, pool: ResizePool) -> None:
        self._pool: ResizePool | None = pool

    def release(self) -> None:
        if self._pool is not None:
            self._pool._reads -= 1
            self._pool = None


class ResizePool:
    def __init__(self, workers: int, queue_length: int) -> None:
        self.workers = workers
        self.queue_length = queue_length
        self._reads = 0
        self._active = 0
        self._active_lock = threading.Lock()
        self._jobs: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._threads = [
            threading.Thread(target=self._work, name=f"resize-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def depth(self) -> int:
        """Jobs submitted and not finished (running + waiting), for the metrics gauge."""
        return self._jobs.qsize() + self._active

    def reserve(self) -> Reservation:
        """Claim room for one read job, or raise Busy when workers and queue are full."""
        if self._reads >= self.workers + self.queue_length:
            raise Busy()
        self._reads += 1
        return Reservation(self)

    async def run(self, work: Callable[[], T], priority: Priority = Priority.READ) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((priority, next(self._order), (work, future, loop)))
        return await future

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put((Priority.BACKGROUND + 1, next(self._order), _STOP))
        for thread in self._threads:
            thread.join(timeout=30)

    def _work(self) -> None:
        while True:
            _, _, job = self._jobs.get()
            if job is _STOP:
                return
            work, future, loop = job
            with self._active_lock:
                self._active += 1
            result: Any = None
            error: BaseException | None = None
            try:
                result = work()
            except BaseException as failure:  # delivered to the awaiting coroutine
                error = failure
            with self._active_lock:
                self._active -= 1
                idle = self._active == 0 and self._jobs.empty()
            with contextlib.suppress(RuntimeError):  # the loop closed while we worked
                loop.call_soon_threadsafe(_settle, future, result, error)
            if idle:
                release_free_heap()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
