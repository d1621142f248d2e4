"""Admitting decodes by the memory they will take, not only by the number of threads.

A baseline JPEG decodes as a stream: libjpeg holds a few rows of blocks, whatever the
image size. A progressive JPEG cannot be streamed: its scans each refine every block, so
libjpeg keeps the whole coefficient array of the image until the last scan is read, at
full resolution even when shrink-on-load asks for 1/8 of it (the scaling happens in the
IDCT, after the coefficients). That is 64 coefficients of 2 bytes per 8x8 block of every
component: 2 bytes per sample, e.g. 108 MB for an 18 MP 4:4:4 file (54 MB at 4:2:0).
Two threads decoding two such files at once is what pushed the server past its memory
target, so a decode with such a cost waits for room in `resize.decode_memory`, while
baseline JPEGs (cost 0) never wait.
"""

from __future__ import annotations

import asyncio
from collections import deque

# Start-of-frame markers (ITU T.81 B.1.1.3): all but DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length field
_BYTES_PER_COEFFICIENT = 2  # libjpeg's JCOEF is a short
_MAX_SEGMENTS = 512


def decode_cost(data: bytes) -> int:
    """Bytes a decode of `data` holds whatever the output size: a progressive JPEG's
    coefficient array, from its frame header; 0 for anything else (or unreadable)."""
    frame = _frame_header(data)
    if frame is None:
        return 0
    marker, segment = frame
    if marker not in _PROGRESSIVE or len(segment) < 6:
        return 0
    height, width, count = int.from_bytes(segment[1:3]), int.from_bytes(segment[3:5]), segment[5]
    if len(segment) < 6 + 3 * count:
        return 0
    factors = [(segment[7 + 3 * n] >> 4, segment[7 + 3 * n] & 15) for n in range(count)]
    if not factors or min(min(f) for f in factors) < 1:
        return 0
    h_max, v_max = max(h for h, _ in factors), max(v for _, v in factors)
    total = 0
    for h, v in factors:
        # Blocks per component, padded to whole MCUs as libjpeg allocates them.
        columns = _ceil_div(_ceil_div(width * h, h_max), 8)
        rows = _ceil_div(_ceil_div(height * v, v_max), 8)
        total += _round_up(columns, h) * _round_up(rows, v) * 64 * _BYTES_PER_COEFFICIENT
    return total


class MemoryBudget:
    """An async semaphore counted in bytes, first come first served.

    A job costing more than the whole budget still runs, alone, so nothing waits forever.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def acquire(self, cost: int) -> None:
        if not self._waiters and self._fits(cost):
            self.used += cost
            return
        entry = (cost, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            await entry[1]
        except asyncio.CancelledError:
            if entry[1].done() and not entry[1].cancelled():
                self.release(cost)  # granted just as the waiter was cancelled
            else:
                self._waiters.remove(entry)
                self._wake()
            raise

    def release(self, cost: int) -> None:
        self.used -= cost
        self._wake()

    def _fits(self, cost: int) -> bool:
        return self.used == 0 or self.used + cost <= self.limit

    def _wake(self) -> None:
        while self._waiters:
            cost, future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if not self._fits(cost):
                return
            self._waiters.popleft()
            self.used += cost
            future.set_result(None)


def _frame_header(data: bytes) -> tuple[int, bytes] | None:
    """(SOF marker, its segment) of a JPEG, read marker by marker up to the first scan."""
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    for _ in range(_MAX_SEGMENTS):
        while at < len(data) and data[at] == 0xFF:  # fill bytes, then the marker code
            at += 1
        if at + 3 > len(data):
            return None
        marker = data[at]
        at += 1
        if marker in _STANDALONE:
            continue
        length = int.from_bytes(data[at : at + 2])
        if marker in _SOF:
            return marker, data[at + 2 : at + length]
        if marker == 0xDA or length < 2:  # a scan before any frame: not a JPEG we read
            return None
        at += length
    return None


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(value: int, multiple: int) -> int:
    return _ceil_div(value, multiple) * multiple
