"""`mediaproxy worker`: keep every size of every original current from bucket events.

One loop long-polls the queue while fewer than `capacity` messages are in hand (four per
render thread), each handled by its own task; `lanes` of them (two per render thread: one
rendering, one downloading or uploading) are worked on at once, the rest wait ready:

    receive → parse (messages.py) → storage key (location.py) → original of a site?
            → settle it (settle.py) under a per-original lock → delete the message

A message is deleted only after its work is stored (at-least-once; settling is
idempotent). A failure (corrupt or too large original, storage down, a body that is no
event) leaves it in the queue, visible again after `retry_delay`; past the queue's
maxReceiveCount SQS moves it to the dead-letter queue. While work is in hand its
visibility is extended every third of `visibility`, so a long render is not handed to a
second worker. Setting `stop` (SIGTERM) ends receiving: a long poll under way is let
finish (at most `wait` seconds; abandoning it would leave whatever SQS hands it invisible
for `visibility`) and what it brings is made visible again at once; the work in hand
finishes and is acknowledged before `run` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from bulk.engine import storage_reason
from bulk.events.location import Location, refused_original
from bulk.events.messages import BadMessage, Change, Kind, parse_body
from bulk.events.metrics import WorkerMetrics
from bulk.events.settle import Outcome, Settler, Unsettled
from bulk.events.sqs import Queue, QueueError, Received
from config import Settings
from layouts import Router
from rendering import KeyedLocks, ResizePool, limits_of
from resize import ImageError, configure_libvips
from storage import Storage, StorageError
from telemetry import InstrumentedStorage

log = logging.getLogger("mediaproxy.worker")
# Failures with a reason worth one log line; anything else is a bug: logged with its traceback.
_EXPECTED = (ImageError, StorageError, BadMessage, Unsettled, QueueError)
T = TypeVar("T")


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker uses the queue and the CPUs (the `mediaproxy worker` options)."""

    jobs: int = 0  # render threads; 0: one per CPU this process may use
    visibility: int = 120  # seconds a message in hand stays hidden (extended while worked on)
    retry_delay: int = 30  # seconds before a failed message is received again
    wait: int = 20  # long-poll seconds per ReceiveMessage (the SQS maximum)
    until_empty: bool = False  # return once a receive finds nothing and nothing is in hand
    depth_every: float = 30.0  # seconds between queue-depth samples; 0: never

    @property
    def workers(self) -> int:
        return self.jobs or len(os.sched_getaffinity(0))

    @property
    def lanes(self) -> int:
        """Messages worked on at once: per render thread, one rendering and one downloading
        or uploading (so at most this many originals are in memory)."""
        return 2 * self.workers

    @property
    def capacity(self) -> int:
        """Messages in hand: the lanes' and as many waiting, so a lane that frees up starts
        the next one at once instead of after a round trip to the queue."""
        return 2 * self.lanes


class Worker:
    """One process's consumer of the queue (see the module docstring); `stop` ends it."""

    def __init__(
        self,
        storage: Storage,
        queue: Queue,
        settings: Settings,
        options: WorkerOptions,
        metrics: WorkerMetrics | None = None,
        router: Router | None = None,
    ) -> None:
        self._queue, self._options = queue, options
        self.metrics = metrics or WorkerMetrics()
        self._router = router or Router.from_settings(settings)
        self._location = Location.of(settings.storage.url)
        self._pool = ResizePool(options.workers, 0)
        limits, cache_control = limits_of(settings), settings.cache.cache_control
        timed = InstrumentedStorage(storage, self.metrics.base)  # storage latency on /metrics
        self._settler = Settler(timed, self._pool, limits, cache_control, self.metrics.base)
        self._in_hand: dict[str, Received] = {}  # by receipt handle
        self._room = asyncio.Event()
        self._lanes = asyncio.Semaphore(options.lanes)
        self._tasks: set[asyncio.Task[None]] = set()
        # One settle per original in hand at a time: two events of one original run one
        # after the other instead of racing (across processes, settle.py's re-check).
        self._locks = KeyedLocks()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        """Receive and work until `stop` is set (see the module docstring)."""
        configure_libvips()
        keeper = asyncio.create_task(self._keep_hidden())
        try:
            await self._receive()
            await asyncio.gather(*self._tasks)  # the work in hand: never raises (see _handle)
        finally:
            for task in (keeper, *self._tasks):
                task.cancel()
            await asyncio.gather(keeper, *self._tasks, return_exceptions=True)
            await asyncio.to_thread(self._pool.close)

    async def _receive(self) -> None:
        options, failures = self._options, 0
        while not self.stop.is_set():
            free = options.capacity - len(self._in_hand)
            if free <= 0:
                self._room.clear()
                await self._unless_stopped(self._room.wait())
                continue
            try:
                # Never cancelled: SQS may hand messages to a long poll whose caller left,
                # and those would stay invisible for `visibility` seconds.
                received = await self._queue.receive(free, options.wait, options.visibility)
            except QueueError as error:
                failures += 1
                log.warning("worker: cannot receive (attempt %d): %s", failures, error)
                await self._unless_stopped(asyncio.sleep(min(2**failures, 60)))
                continue
            failures = 0
            if self.stop.is_set():
                await self._give_back(received)
                return
            if not received and options.until_empty and not self._in_hand:
                return
            for message in received:
                self._take(message)

    async def _give_back(self, received: list[Received]) -> None:
        """Messages that arrived after `stop`: visible to other workers again at once."""
        for message in received:
            with contextlib.suppress(QueueError):
                await self._queue.hide(message.handle, 0)

    async def _unless_stopped(self, awaitable: Awaitable[T]) -> T | None:
        """The result of `awaitable`, or None (it cancelled) if `stop` is set first."""
        task = asyncio.ensure_future(awaitable)
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            stopping.cancel()
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.wait({task})
        return None

    def _take(self, message: Received) -> None:
        self._in_hand[message.handle] = message
        self.metrics.in_hand.set(len(self._in_hand))
        task = asyncio.create_task(self._handle(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: Received) -> None:
        """Work one message and acknowledge it, or leave it to come back; never raises."""
        metrics, key = self.metrics, "(message)"
        metrics.received.inc()
        if message.receive_count > 1:
            metrics.redelivered.inc()
        if message.sent_at is not None:
            metrics.lag.set(max(0.0, time.time() - message.sent_at))
        try:
            async with self._lanes:  # the work itself; acknowledging needs no lane
                changes = parse_body(message.body)
                if not changes:
                    metrics.records.labels("test").inc()
                for change in changes:
                    key = change.key
                    await self._apply(change)
        except Exception as error:
            metrics.failed.inc()
            log.warning(
                "worker: %s\t%s (received %d times; back in the queue in %d s)",
                key,
                _reason(error),
                message.receive_count,
                self._options.retry_delay,
                exc_info=not isinstance(error, _EXPECTED),
            )
            with contextlib.suppress(QueueError):
                await self._queue.hide(message.handle, self._options.retry_delay)
        else:
            try:
                await self._queue.delete(message.handle)
                metrics.processed.inc()
            except QueueError as error:  # the work is stored; a redelivery redoes it, harmless
                log.warning("worker: could not delete message %s: %s", message.id, error)
        finally:
            del self._in_hand[message.handle]
            metrics.in_hand.set(len(self._in_hand))
            self._room.set()

    async def _apply(self, change: Change) -> None:
        key = self._location.storage_key(change.bucket, change.key)
        image = self._router.original_of(key) if key is not None else None
        if image is None or change.kind is Kind.OTHER:
            # Sizes (ours included), other buckets, non-images, tagging...: nothing to do.
            self.metrics.records.labels(Outcome.IGNORED.value).inc()
            if key is not None and change.kind is not Kind.OTHER:
                self._warn_if_refused(key)
            return
        async with self._locks.hold(image.key):
            settled = await self._settler.settle(image, change)
        self.metrics.records.labels(settled.outcome.value).inc()
        if settled.outcome in (Outcome.RENDERED, Outcome.DELETED):
            if change.time is not None:
                waited = (datetime.now(UTC) - change.time).total_seconds()
                self.metrics.latency.observe(max(0.0, waited))
            log.info("worker: %s %s (%d sizes)", settled.outcome.value, image.key, settled.written)

    def _warn_if_refused(self, key: str) -> None:
        """An image name in a site's originals that no layout takes: whoever put it there
        expects sizes, so the one line saying why there will be none."""
        refused = refused_original(self._router.layouts.values(), key)
        if refused is not None:
            log.warning("worker: %s\tignored: %s", key, refused)

    async def _keep_hidden(self) -> None:
        """Extend the visibility of every message in hand; sample the queue's depth."""
        options = self._options
        every = max(1.0, options.visibility / 3)
        sampled = -float("inf")
        while True:
            await asyncio.sleep(every)
            handles = list(self._in_hand)
            try:
                if handles:
                    await self._queue.extend(handles, options.visibility)
                if options.depth_every and time.monotonic() - sampled >= options.depth_every:
                    sampled = time.monotonic()
                    self.metrics.sample_depth(await self._queue.attributes())
            except QueueError as error:
                log.warning("worker: queue call failed: %s", error)


def _reason(error: Exception) -> str:
    if isinstance(error, ImageError):
        return error.reason
    if isinstance(error, StorageError):
        return storage_reason(error)
    return f"{type(error).__name__}: {error}"
