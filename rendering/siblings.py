"""Siblings: on an original's first miss, the other sizes its decode gives almost for free.

Shops ask for the sizes of one picture seconds or minutes apart (the listing page now,
the product page later), so requests alone never share a decode. The costly part of a
render is the decode; resizing and encoding a thumbnail from decoded pixels costs a
tenth of it. So when a size is rendered for a site with `render_siblings`, the decode
is kept and the site's other sizes at the same shrink-on-load factor (what that decode
can give byte-identically, see resize.render) are rendered after it in the background:

- The requested size is published first; siblings wait for a free thread at
  Priority.BACKGROUND, one pool job per sibling, so a read never waits behind more than
  one sibling's resize and encode.
- A read for a size a kept decode covers renders it from that decode at READ priority,
  with no download and no decode: under load, when no thread is ever idle, that decode
  cache is most of the gain.
- They are dropped when reads fill half the resize queue, when the kept decodes would
  pass `memory` (resize.sibling_memory: the set least recently used by reads goes
  first), on shutdown, when the original is replaced or deleted (nothing stale is
  published), and `patience` seconds after the original was read: the memory cache's
  TTL, the bound on how old an answer of another replica may be (proxy.cache), holds
  for renders from kept decodes too.
- Only the requested size's format: a WebP variant's siblings are WebP variants; AVIF
  has none (an AVIF encode costs as much as a thumbnail's decode).
- Only on a first miss: when the first sibling is already in storage (an earlier render,
  pregen, an upload), none is rendered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from layouts import ImageRequest
from rendering.batch import Origin
from rendering.pool import Priority, ResizePool
from resize import Decoder, ImageError, Rendered
from storage import Storage
from telemetry import Metrics

T = TypeVar("T")
S = TypeVar("S")
SIBLING_DECODE_MAX = 4 << 20  # a larger decode is not kept: the room holds ~80 at 1/8
NO_SIBLINGS = frozenset({".avif"})
log = logging.getLogger("mediaproxy.siblings")


def candidates(members: Sequence[ImageRequest]) -> list[ImageRequest]:
    """The sizes a render of `members` (sizes of one original) may add, in table order."""
    first = members[0]
    if first.size is None or not first.site.render_siblings:
        return []
    suffix = first.size.suffix
    if suffix in NO_SIBLINGS:
        return []
    asked = {member.key for member in members}
    return [
        request
        for size in first.layout.sizes
        if size.suffix == suffix
        and (request := first.layout.request(first.rel, size)).key not in asked
    ]


def kept_shrinks(
    decoder: Decoder, members: Sequence[ImageRequest], offered: Sequence[ImageRequest]
) -> tuple[set[int], list[ImageRequest]]:
    """Runs in the pool thread, header read: the decode factors worth keeping for the
    siblings in `offered` that share a decode with a member, and those siblings."""
    asked = {member.key for member in members}
    shrinks = {decoder.shrink(m.size.params) for m in members if m.size is not None}
    header = decoder.header
    chosen: list[ImageRequest] = []
    for request in offered:
        if request.key in asked or request.size is None:
            continue
        try:
            shrink = decoder.shrink(request.size.params)
        except ImageError:
            continue
        decoded = (header.stored_width // shrink) * (header.stored_height // shrink) * 4
        if shrink in shrinks and decoded <= SIBLING_DECODE_MAX:
            chosen.append(request)
    keep = {decoder.shrink(r.size.params) for r in chosen if r.size is not None}
    return keep, chosen


@dataclass(eq=False)
class SiblingSet(Generic[S]):
    """Siblings of one original waiting for idle threads, and the decodes they need."""

    original: str
    decoder: Decoder  # kept decodes only: the original's bytes are let go
    requests: list[ImageRequest]
    origin: Origin[S]
    stale: bool = False  # the original was replaced or deleted: publish nothing more
    started: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None


class Siblings(Generic[T, S]):
    """Runs sibling sets for the renderer (rendering.flight): `adopt` one after a render,
    `kept` lends its decodes to reads, `discard` drops an original's on a write."""

    def __init__(
        self,
        storage: Storage,
        pool: ResizePool,
        metrics: Metrics,
        publish: Callable[[ImageRequest, Rendered, Origin[S]], T],
        busy: Callable[[str], bool],
        patience: float,
        memory: int,
    ) -> None:
        """`busy(key)`: the key is being rendered or is already in memory: skip it;
        `memory`: bytes of kept decodes, all sets together."""
        self._storage, self._pool, self._metrics = storage, pool, metrics
        self._publish, self._busy, self._patience = publish, busy, patience
        self.memory = memory
        self._sets: dict[str, SiblingSet[S]] = {}  # by original, least recently used first
        self.rendered = self.dropped = 0  # sizes, for the benchmarks and tests

    @property
    def pending(self) -> int:
        return len(self._sets)

    def kept(self, original: str) -> SiblingSet[S] | None:
        """The live set of `original`, whose decodes a read may render from (which makes
        it the last one dropped for room)."""
        siblings = self._sets.pop(original, None)
        if siblings is None:
            return None
        if self._age(siblings) >= self._patience:
            self._drop(siblings)
            return None
        self._sets[original] = siblings
        return siblings

    def adopt(self, decoder: Decoder, siblings: list[ImageRequest], origin: Origin[S]) -> None:
        """Render `siblings` in the background from the decodes `decoder` kept; nothing
        is started from a read that is no longer current, nor twice for one original."""
        if not origin.current or origin.key in self._sets:
            decoder.release()
            return
        decoder.release_source()
        later = replace(origin, background=True)
        self.start(SiblingSet(origin.key, decoder, siblings, later))

    def start(self, siblings: SiblingSet[S]) -> None:
        """Render `siblings` in the background; the set owns its decoder."""
        held = siblings.decoder.kept_bytes
        while self._sets and held + sum(s.decoder.kept_bytes for s in self._sets.values()) > (
            self.memory
        ):
            self._drop(next(iter(self._sets.values())))
        self._sets[siblings.original] = siblings
        name = f"siblings {siblings.original}"
        siblings.task = asyncio.create_task(self._run(siblings), name=name)

    def discard(self, original: str) -> None:
        """`original` was replaced or deleted: drop its siblings still to come."""
        siblings = self._sets.get(original)
        if siblings is not None:
            siblings.stale = True
            self._drop(siblings)

    async def settle(self) -> None:
        """Wait until every set started so far has ended (rendered, dropped or failed)."""
        tasks = [s.task for s in self._sets.values() if s.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        tasks = [s.task for s in self._sets.values() if s.task is not None]
        for siblings in list(self._sets.values()):
            self._drop(siblings)
        await asyncio.gather(*tasks, return_exceptions=True)

    def _drop(self, siblings: SiblingSet[S]) -> None:
        if self._sets.get(siblings.original) is siblings:
            del self._sets[siblings.original]
        if siblings.task is not None:
            siblings.task.cancel()

    async def _run(self, siblings: SiblingSet[S]) -> None:
        todo = list(siblings.requests)
        try:
            if not await self._first_miss(siblings):
                todo = []
                return
            while todo:
                request = todo[0]
                if self._pool.under_pressure or siblings.stale:
                    return
                if not self._busy(request.key):
                    rendered = await self._render(siblings, request)
                    if siblings.stale:
                        return
                    if rendered is not None:
                        self._publish(request, rendered, siblings.origin)
                        self.rendered += 1
                        self._metrics.rendered_sizes.inc()
                todo.pop(0)
        except TimeoutError:
            return  # out of patience: the pool stayed busy with reads
        except Exception:
            log.warning("siblings of %s failed", siblings.original, exc_info=True)
        finally:
            self.dropped += len(todo)
            if self._sets.get(siblings.original) is siblings:
                del self._sets[siblings.original]
            siblings.decoder.release()

    async def _first_miss(self, siblings: SiblingSet[S]) -> bool:
        """Whether the first sibling is missing from storage (no earlier render did them)."""
        try:
            return await self._storage.head(siblings.requests[0].key) is None
        except Exception:
            return False

    async def _render(self, siblings: SiblingSet[S], request: ImageRequest) -> Rendered | None:
        assert request.size is not None
        params, decoder = [request.size.params], siblings.decoder
        left = self._patience - self._age(siblings)
        try:
            async with asyncio.timeout(max(left, 0.0)):
                done = await self._pool.run(
                    lambda: decoder.render_kept(params), Priority.BACKGROUND
                )
            return done[0] if done is not None else None
        except ImageError:
            return None

    @staticmethod
    def _age(siblings: SiblingSet[S]) -> float:
        return time.monotonic() - siblings.started
