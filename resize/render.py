"""Render many sizes of one source, decoding it as few times as possible.

The sizes are grouped by their JPEG shrink-on-load factor; each group decodes once at that
factor and derives every size from the same decoded pixels with the same steps
(pipeline.derive). A size's bytes therefore depend only on (source, size, options): the
key rendered alone on demand and the same key rendered in a ten-size batch by `pregen` are
byte-identical, so re-running the bulk tool never rewrites an object with different bytes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pyvips

from config.sizes import SizeSpec

from .errors import SourceTooLarge
from .formats import ImageFormat
from .geometry import box, fit, jpeg_shrink
from .libvips import load, vips_errors
from .limits import Limits
from .pipeline import derive, encode
from .probe import Header, read_header


@dataclass(frozen=True)
class RenderOptions:
    """Per-site output options (SPEC §3): JPEG/WebP quality, frame, upscale, frame colour."""

    quality: int = 85
    frame: bool = False
    upscale: bool = False
    background: tuple[int, int, int] = (255, 255, 255)

    def __post_init__(self) -> None:
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be 1-100, got {self.quality}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(f"background must be three 0-255 values, got {self.background}")


@dataclass(frozen=True)
class Rendered:
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class _Plan:
    """One size worked out from the header alone, before any pixel is decoded."""

    key: str
    size: tuple[int, int]  # resize target in the stored orientation, before autorot
    canvas: tuple[int, int]  # the output: the fitted size, or the frame
    shrink: int


def render_sizes(
    data: bytes, specs: Sequence[SizeSpec], options: RenderOptions, limits: Limits
) -> dict[str, Rendered]:
    """Every spec of one source, keyed by `spec.text`, in the order given.

    Raises ImageError subclasses only; libvips errors become CorruptImage.
    """
    header = read_header(data, limits)
    plans = [_plan(header, spec, options, limits) for spec in specs]
    groups: dict[int, list[_Plan]] = defaultdict(list)
    for plan in plans:
        groups[plan.shrink].append(plan)
    rendered: dict[str, Rendered] = {}
    for shrink, group in groups.items():
        rendered.update(_render_group(data, header, shrink, group, options))
    return {plan.key: rendered[plan.key] for plan in plans}


def render_one(data: bytes, spec: SizeSpec, options: RenderOptions, limits: Limits) -> Rendered:
    """One size: the on-demand path of the proxy."""
    return render_sizes(data, [spec], options, limits)[spec.text]


def _plan(header: Header, spec: SizeSpec, options: RenderOptions, limits: Limits) -> _Plan:
    sw, sh = header.info.width, header.info.height
    dw, dh = fit(sw, sh, spec.width, spec.height, upscale=options.upscale)
    canvas = box(sw, sh, spec.width, spec.height) if options.frame else (dw, dh)
    if max(canvas[0] * canvas[1], dw * dh) > limits.max_pixels:
        raise SourceTooLarge(
            f"{spec.text} of this image is over the {limits.max_pixels} pixel limit"
        )
    size = (dh, dw) if header.swaps else (dw, dh)
    shrink = 1
    if header.info.format is ImageFormat.JPEG:
        shrink = jpeg_shrink(header.stored_width, header.stored_height, *size)
    return _Plan(spec.text, size, canvas, shrink)


def _render_group(
    data: bytes, header: Header, shrink: int, plans: list[_Plan], options: RenderOptions
) -> dict[str, Rendered]:
    """Decode once at `shrink` and derive every plan from it. Only a group of several
    sizes is held in memory; a lone size streams through libvips."""
    image = load(data, header.info.format, shrink=shrink)
    with vips_errors("corrupt or truncated image data"):
        if len(plans) > 1:
            image = image.copy_memory()
        return {plan.key: _render(image, header, plan, options) for plan in plans}


def _render(image: pyvips.Image, header: Header, plan: _Plan, options: RenderOptions) -> Rendered:
    out = derive(image, plan.size, header.orientation, plan.canvas, options.background)
    fmt = header.info.format
    data = encode(out, fmt, options.quality)
    return Rendered(data, fmt.content_type, out.width, out.height)
