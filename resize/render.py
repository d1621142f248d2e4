"""Render many outputs of one source, decoding it as few times as possible.

The outputs are grouped by their shrink-on-load factor (JPEG's DCT scaling, WebP's
scaled decode); each group decodes once at that factor and derives every output from the
same decoded pixels with the same steps (pipeline.derive). An output's bytes therefore
depend only on (source, params): the key rendered alone on demand and the same key
rendered in a ten-size batch by `pregen`, or later from a decode kept for its siblings
(`Decoder`), are byte-identical, so re-running the bulk tool never rewrites an object
with different bytes.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import pyvips

from .errors import ImageError, SourceTooLarge
from .formats import ImageFormat
from .geometry import Placement, jpeg_shrink, place
from .libvips import load, vips_errors
from .limits import Limits
from .params import RenderParams
from .pipeline import derive, encode
from .probe import Header, read_header
from .transparency import Transparency, backdrop, classify

# Formats whose loader can shrink while it decodes (libvips: jpegload `shrink`,
# webpload `scale`). PNG and GIF have no such option: they always decode in full.
SHRINK_ON_LOAD = frozenset({ImageFormat.JPEG, ImageFormat.WEBP})


@dataclass(frozen=True)
class Rendered:
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class _Plan:
    """One output worked out from the header alone, before any pixel is decoded."""

    params: RenderParams
    size: tuple[int, int]  # resize target in the stored orientation, before autorot
    placement: Placement  # in the displayed orientation
    shrink: int


class Decoder:
    """One source, rendered in one or several steps: the header is read once, and the
    decodes a step asks to `keep` stay in memory for the next (a later step renders
    from them without decoding again, e.g. the siblings of a requested size).

    Steps may run in different threads, one at a time or together: kept decodes are
    memory images, only ever read once made.
    """

    def __init__(self, data: bytes, limits: Limits) -> None:
        self._data, self._limits = data, limits
        self.header = read_header(data, limits)
        self._kept: dict[int, tuple[pyvips.Image, Transparency]] = {}
        self._lock = threading.Lock()

    def shrink(self, params: RenderParams) -> int:
        """The decode factor `params` renders from; SourceTooLarge if it cannot render."""
        return self._plan(params).shrink

    def render(self, params: Sequence[RenderParams], keep: Collection[int] = ()) -> list[Rendered]:
        """Every parameter set, in the order given (equal sets render once); the decodes
        at the factors in `keep` are held for later steps. Raises ImageError subclasses."""
        plans = {p: self._plan(p) for p in dict.fromkeys(params)}
        groups: dict[int, list[_Plan]] = defaultdict(list)
        for plan in plans.values():
            groups[plan.shrink].append(plan)
        rendered: dict[RenderParams, Rendered] = {}
        for shrink, group in groups.items():
            rendered.update(self._render_group(shrink, group, keep=shrink in keep))
        return [rendered[p] for p in params]

    def render_kept(self, params: Sequence[RenderParams]) -> list[Rendered] | None:
        """`render` from kept decodes only: None when they do not cover every set (or
        were let go meanwhile, by another thread); nothing is decoded."""
        try:
            plans = {p: self._plan(p) for p in dict.fromkeys(params)}
        except ImageError:
            return None
        with self._lock:
            kept = {plan.shrink: self._kept.get(plan.shrink) for plan in plans.values()}
        rendered: dict[RenderParams, Rendered] = {}
        with vips_errors("corrupt or truncated image data"):
            for p, plan in plans.items():
                found = kept[plan.shrink]
                if found is None:
                    return None
                rendered[p] = _render(found[0], self.header, plan, found[1])
        return [rendered[p] for p in params]

    def covers(self, params: Sequence[RenderParams]) -> bool:
        """Whether every parameter set renders from a kept decode (no decode needed)."""
        try:
            return all(self.shrink(p) in self._kept for p in params)
        except ImageError:
            return False

    @property
    def kept_bytes(self) -> int:
        """Memory the held decodes take."""
        return sum(image.width * image.height * image.bands for image, _ in self._kept.values())

    def release(self) -> None:
        """Let the held decodes go (pending renders that hold them still finish)."""
        with self._lock:
            self._kept.clear()

    def release_source(self) -> None:
        """Let the source bytes go: from now on only what `covers` may be rendered."""
        self._data = b""

    def _plan(self, params: RenderParams) -> _Plan:
        header, limits = self.header, self._limits
        placement = place(params, header.info.width, header.info.height)
        (dw, dh), (cw, ch) = placement.size, placement.canvas
        if max(cw * ch, dw * dh) > limits.max_pixels:
            raise SourceTooLarge(
                f"{params} of this image is over the {limits.max_pixels} pixel limit"
            )
        size = (dh, dw) if header.swaps else (dw, dh)
        shrink = 1
        if header.info.format in SHRINK_ON_LOAD:
            shrink = jpeg_shrink(header.stored_width, header.stored_height, *size)
        return _Plan(params, size, placement, shrink)

    def _render_group(
        self, shrink: int, plans: list[_Plan], *, keep: bool
    ) -> dict[RenderParams, Rendered]:
        """Decode once at `shrink` (or take the kept decode) and derive every plan from
        it. Only a group of several outputs, or a kept one, is held in memory; a lone
        output streams through libvips."""
        with self._lock:
            kept = self._kept.get(shrink)
        if kept is not None:
            image, kind = kept
        else:
            image = load(self._data, self.header.info.format, shrink=shrink)
            kind = classify(self._data, self.header.info.format, image.hasalpha())
        with vips_errors("corrupt or truncated image data"):
            if kept is None and (keep or len(plans) > 1):
                image = image.copy_memory()
            if kept is None and keep:
                with self._lock:
                    self._kept[shrink] = (image, kind)
            return {plan.params: _render(image, self.header, plan, kind) for plan in plans}


def render_many(data: bytes, params: Sequence[RenderParams], limits: Limits) -> list[Rendered]:
    """Every parameter set of one source, in the order given (equal sets render once).

    Raises ImageError subclasses only; libvips errors become CorruptImage.
    """
    return Decoder(data, limits).render(params)


def render_single(data: bytes, params: RenderParams, limits: Limits) -> Rendered:
    """One output: the on-demand path of the proxy."""
    return render_many(data, [params], limits)[0]


def _render(image: pyvips.Image, header: Header, plan: _Plan, kind: Transparency) -> Rendered:
    out = derive(image, plan.size, header.orientation, plan.placement, backdrop(kind, plan.params))
    fmt = plan.params.output or header.info.format
    data = encode(out, fmt, plan.params.quality, plan.params.effort)
    return Rendered(data, fmt.content_type, out.width, out.height)
