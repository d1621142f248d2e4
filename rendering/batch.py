"""What the renderer (rendering.flight) shares between requests: batches of sizes of one
original waiting for one render, downloads of originals, and where a result came from.

A batch is joined on the event loop and taken by a pool thread, hence its lock.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from layouts import ImageRequest

T = TypeVar("T")
S = TypeVar("S")


@dataclass(frozen=True)
class Origin(Generic[S]):
    """Which bytes a result was rendered from: the original's key and ETag, and what the
    renderer's `stamp` returned just before their download started. `current` is False
    when the original changed while it was rendered, every attempt: the result is then
    fine to answer (it was the original during the request) but must not be kept.
    `background`: nobody asked for it (a sibling), so its store may wait for others."""

    key: str
    etag: str
    stamp: S
    current: bool = True
    background: bool = False


@dataclass(frozen=True)
class Source:
    data: bytes
    etag: str
    cost: int  # memory its decode holds (rendering.budget)


@dataclass(eq=False)
class Download(Generic[S]):
    """One GET of an original, shared by every batch that takes it while it is current."""

    stamp: S
    task: asyncio.Task[Source] | None = None
    users: int = 0
    stale: bool = False


@dataclass(eq=False)
class Batch(Generic[T]):
    original: str
    members: dict[str, ImageRequest] = field(default_factory=dict)
    futures: dict[str, asyncio.Future[T]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: bool = False  # taken by a thread (or dropped): no new members
    dropped: bool = False
    waiters: int = 0
    task: asyncio.Task[None] | None = None

    def join(self, request: ImageRequest) -> asyncio.Future[T] | None:
        """The future for `request` in this batch, or None once a thread has taken it."""
        with self.lock:
            if self.started:
                return None
            if request.key not in self.futures:
                self.members[request.key] = request
                self.futures[request.key] = asyncio.get_running_loop().create_future()
            return self.futures[request.key]

    def take(self) -> list[ImageRequest]:
        """The members to render (none if the batch was dropped); runs in a pool thread."""
        with self.lock:
            self.started = True
            return [] if self.dropped else list(self.members.values())

    def drop(self) -> bool:
        """Close the batch unless a thread has it already; whether it was closed."""
        with self.lock:
            if self.started:
                return False
            self.started = self.dropped = True
            return True

    def settle(self, error: BaseException) -> None:
        """Fail every future still pending (waiters that left never see it logged)."""
        for future in self.futures.values():
            if not future.done():
                future.set_exception(error)
                future.add_done_callback(retrieve)


def retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
