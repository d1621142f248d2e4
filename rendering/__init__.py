"""Rendering on demand, shared by the server and the event worker: the bounded resize
pool (threads, priorities, 503 back-pressure), the single-flight renderer, malloc tuning.

    pool.py     ResizePool, Priority: libvips work off the event loop, bounded
    flight.py   Renderer: one download and one decode for concurrent requests of an original
    batch.py    what concurrent requests share: batches, downloads, a result's Origin
    budget.py   admitting decodes by memory (progressive JPEGs hold every coefficient)
    malloc.py   keeping RSS close to what is used (glibc)
    locks.py    KeyedLocks: one holder per key at a time
    errors.py   OriginalMissing (404), Busy (503)
"""

from config import Settings
from rendering.batch import Origin
from rendering.budget import decode_cost
from rendering.errors import Busy, OriginalMissing, RenderingError
from rendering.flight import Renderer
from rendering.locks import KeyedLocks
from rendering.malloc import configure_malloc, release_free_heap
from rendering.pool import Priority, Reservation, ResizePool
from resize import Limits


def limits_of(settings: Settings) -> Limits:
    """The configured source limits, as resize/ takes them."""
    resize = settings.resize
    return Limits(max_bytes=resize.max_source_bytes, max_pixels=resize.max_source_pixels)


__all__ = [
    "Busy",
    "KeyedLocks",
    "Origin",
    "OriginalMissing",
    "Priority",
    "Renderer",
    "RenderingError",
    "Reservation",
    "ResizePool",
    "configure_malloc",
    "decode_cost",
    "limits_of",
    "release_free_heap",
]
