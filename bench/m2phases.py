"""Where one original's CPU goes on a Magento 2 table, measured one original at a time.

mediaproxy's `render_many` is timed with its decodes (one per JPEG shrink factor) and its
encodes each timed alone, separately for the set Magento renders at the original's own
size and for the resized (framed) sets; the naive loop (a) is timed on the same two parts. The
original-size set costs both of them one full decode and one full-size encode, so it
bounds how far ahead of (a) any renderer can get: `ceiling` is (a)'s cost over that part.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyvips

from bench import m2baselines
from bench.corpus import Original
from resize import Limits, RenderParams, place, render_many
from resize.geometry import jpeg_shrink

_KEEP = pyvips.enums.ForeignKeep.NONE


@dataclass(frozen=True)
class Part:
    """CPU ms per original for some of the sets: mediaproxy's render, its decodes and its
    encodes each timed alone (a streamed render overlaps them), and (a)'s total."""

    sets: int
    render: float
    decode: float
    encode: float
    naive: float

    def describe(self, name: str) -> str:
        return (
            f"{name} ({self.sets}): {self.render:.0f} ms (decode alone {self.decode:.0f}, "
            f"encode alone {self.encode:.0f}), naive (a) {self.naive:.0f} ms"
        )


def measure(originals: Sequence[Original], params: Sequence[RenderParams], limits: Limits) -> str:
    """A one-line account of the CPU per original, for the results' notes."""
    whole = [p for p in params if not p.resizes]
    resized = [p for p in params if p.resizes]
    parts = [_part(originals, group, limits) for group in (whole, resized)]
    ceiling = sum(part.naive for part in parts) / parts[0].render if whole else 0.0
    return (
        f"CPU per original, one at a time ({len(originals)} originals): "
        f"{parts[0].describe('original-size set')}; {parts[1].describe('resized sets')}; "
        f"(a) over mediaproxy's original-size set alone, i.e. the ratio to (a) if the resized "
        f"sets cost nothing: {ceiling:.1f}x"
    )


def _part(originals: Sequence[Original], params: Sequence[RenderParams], limits: Limits) -> Part:
    if not params:
        return Part(0, 0.0, 0.0, 0.0, 0.0)
    total = decode = encode = naive = 0.0
    for original in originals:
        total += _cpu(render_many, original.data, params, limits)
        decode += _cpu(_decodes, original.data, params)
        outputs = render_many(original.data, params, limits)
        for out, p in zip(outputs, params, strict=True):
            image = pyvips.Image.new_from_buffer(out.data, "").copy_memory()
            encode += _cpu(image.jpegsave_buffer, Q=p.quality, optimize_coding=True, keep=_KEEP)
        naive += sum(_cpu(m2baselines.naive, (original, p)) for p in params)
    n = len(originals) / 1000
    return Part(len(params), total / n, decode / n, encode / n, naive / n)


def _decodes(data: bytes, params: Sequence[RenderParams]) -> None:
    """Decode once per shrink factor, as render_many groups its outputs."""
    header = pyvips.Image.new_from_buffer(data, "", access="sequential")
    shrinks = {
        jpeg_shrink(header.width, header.height, *place(p, header.width, header.height).size)
        for p in params
    }
    for shrink in shrinks:
        options = {"shrink": shrink} if shrink > 1 else {}
        pyvips.Image.new_from_buffer(data, "", **options).copy_memory()


def _cpu(work: Callable[..., object], *args: object, **kwargs: object) -> float:
    started = time.process_time()
    work(*args, **kwargs)
    return time.process_time() - started
