"""The resize pool: a fixed set of threads running libvips work off the event loop.

libvips releases the GIL while it computes, so threads use every core without the
copying a process pool would need. Jobs carry a priority: reads (a visitor waits) go
before uploads and background renders, and only reads count against `queue`, the bound
that turns overload into an immediate 503 instead of a growing backlog (imgproxy's
workers model). Uploads are limited separately by the caller (a semaphore) so they can
occupy at most `max_upload_workers` threads and never starve reads.

A job may also carry a memory cost (rendering.budget): it waits on the event loop, not in
a thread, until `memory_budget` has room. A job whose caller has gone (cancelled) before
a thread takes it is skipped, not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from rendering.budget import MemoryBudget
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


@dataclass(eq=False)
class _Job:
    work: Callable[[], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    cost: int


class ResizePool:
    def __init__(self, workers: int, queue_length: int, memory_budget: int = 0) -> None:
        """`memory_budget` bytes bound the summed cost of jobs running at once; 0: none."""
        self.workers = workers
        self.queue_length = queue_length
        self.budget = MemoryBudget(memory_budget) if memory_budget > 0 else None
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

    @property
    def under_pressure(self) -> bool:
        """Reads fill half the queue or more: no room for optional work (siblings)."""
        return self._reads >= self.workers + self.queue_length // 2

    def reserve(self) -> Reservation:
        """Claim room for one read job, or raise Busy when workers and queue are full."""
        if self._reads >= self.workers + self.queue_length:
            raise Busy()
        self._reads += 1
        return Reservation(self)

    async def run(
        self, work: Callable[[], T], priority: Priority = Priority.READ, cost: int = 0
    ) -> T:
        """Run `work` in a thread; `cost` (bytes it will hold) waits for memory_budget."""
        loop = asyncio.get_running_loop()
        cost = cost if self.budget is not None else 0
        if cost > 0:
            assert self.budget is not None
            await self.budget.acquire(cost)
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((priority, next(self._order), _Job(work, future, loop, cost)))
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
            if job.future.cancelled():  # its caller left while it queued: skip it
                self._finish(job, None, None)
                continue
            with self._active_lock:
                self._active += 1
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.work()
            except BaseException as failure:  # delivered to the awaiting coroutine
                error = failure
            with self._active_lock:
                self._active -= 1
                idle = self._active == 0 and self._jobs.empty()
            self._finish(job, result, error)
            if idle:
                release_free_heap()

    def _finish(self, job: _Job, result: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while we worked
            job.loop.call_soon_threadsafe(self._settle, job, result, error)

    def _settle(self, job: _Job, result: Any, error: BaseException | None) -> None:
        # One callback, memory first: when the caller sees its result the budget already
        # has the room back (two callbacks let the caller run between them).
        if job.cost and self.budget is not None:
            self.budget.release(job.cost)
        if job.future.cancelled():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)
