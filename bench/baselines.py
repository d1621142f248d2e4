"""The yardsticks: plain pyvips, in this process, on every core, no HTTP and no storage.

Each encodes like mediaproxy does (JPEG Q85, optimised Huffman tables, no metadata), so a
ratio measures mediaproxy's overhead and its decode strategy, not a codec setting.

    thumbnail     `thumbnail_buffer` + save: one size, shrink-on-load, the libvips way
    decode_once   decode the original once (at the JPEG shrink the largest size allows),
                  then resize + save every size from those pixels
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pyvips

from bench.corpus import Original
from config import SizeSpec
from resize.geometry import fit, jpeg_shrink

T = TypeVar("T")
QUALITY = 85
_UNBOUNDED = 100_000
_KEEP_NONE = pyvips.enums.ForeignKeep.NONE


def setup() -> None:
    """As mediaproxy configures libvips: no operation cache (every source is new)."""
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.cache_set_max_files(0)


def save(image: pyvips.Image) -> bytes:
    return bytes(image.jpegsave_buffer(Q=QUALITY, optimize_coding=True, keep=_KEEP_NONE))


def thumbnail(data: bytes, spec: SizeSpec) -> bytes:
    """One size of one original, as libvips' own docs say to make it."""
    image = pyvips.Image.thumbnail_buffer(
        data, spec.width or _UNBOUNDED, height=spec.height or _UNBOUNDED, size="down"
    )
    return save(image)


def thumbnail_job(job: tuple[Original, SizeSpec]) -> bytes:
    return thumbnail(job[0].data, job[1])


def decode_once(data: bytes, specs: Sequence[SizeSpec]) -> list[bytes]:
    """Every size of one original from a single decode."""
    header = pyvips.Image.new_from_buffer(data, "", access="sequential")
    sw, sh = header.width, header.height
    targets = [fit(sw, sh, spec.width, spec.height) for spec in specs]
    if header.get("vips-loader").startswith("jpegload"):
        shrink = min(jpeg_shrink(sw, sh, w, h) for w, h in targets)
        image = pyvips.Image.new_from_buffer(data, "", shrink=shrink)
    else:
        image = pyvips.Image.new_from_buffer(data, "")
    image = image.copy_memory()
    out = []
    for w, h in targets:
        out.append(save(image.resize(w / image.width, vscale=h / image.height)))
    return out


def timed(work: Callable[[T], object], items: Sequence[T], workers: int) -> float:
    """Seconds to run `work` on every item on a pool of `workers` threads."""
    with ThreadPoolExecutor(workers, thread_name_prefix="baseline") as pool:
        started = time.perf_counter()
        for _ in pool.map(work, items):
            pass
        return time.perf_counter() - started
