"""Render many outputs of one source, decoding it as few times as possible.

The outputs are grouped by their JPEG shrink-on-load factor; each group decodes once at
that factor and derives every output from the same decoded pixels with the same steps
(pipeline.derive). An output's bytes therefore depend only on (source, params): the key
rendered alone on demand and the same key rendered in a ten-size batch by `pregen` are
byte-identical, so re-running the bulk tool never rewrites an object with different bytes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pyvips

from .errors import SourceTooLarge
from .formats import ImageFormat
from .geometry import Placement, jpeg_shrink, place
from .libvips import load, vips_errors
from .limits import Limits
from .params import RenderParams
from .pipeline import derive, encode
from .probe import Header, read_header
from .transparency import Transparency, backdrop, classify


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


def render_many(data: bytes, params: Sequence[RenderParams], limits: Limits) -> list[Rendered]:
    """Every parameter set of one source, in the order given (equal sets render once).

    Raises ImageError subclasses only; libvips errors become CorruptImage.
    """
    header = read_header(data, limits)
    plans = {p: _plan(header, p, limits) for p in dict.fromkeys(params)}
    groups: dict[int, list[_Plan]] = defaultdict(list)
    for plan in plans.values():
        groups[plan.shrink].append(plan)
    rendered: dict[RenderParams, Rendered] = {}
    for shrink, group in groups.items():
        rendered.update(_render_group(data, header, shrink, group))
    return [rendered[p] for p in params]


def render_single(data: bytes, params: RenderParams, limits: Limits) -> Rendered:
    """One output: the on-demand path of the proxy."""
    return render_many(data, [params], limits)[0]


def _plan(header: Header, params: RenderParams, limits: Limits) -> _Plan:
    placement = place(params, header.info.width, header.info.height)
    (dw, dh), (cw, ch) = placement.size, placement.canvas
    if max(cw * ch, dw * dh) > limits.max_pixels:
        raise SourceTooLarge(f"{params} of this image is over the {limits.max_pixels} pixel limit")
    size = (dh, dw) if header.swaps else (dw, dh)
    shrink = 1
    if header.info.format is ImageFormat.JPEG:
        shrink = jpeg_shrink(header.stored_width, header.stored_height, *size)
    return _Plan(params, size, placement, shrink)


def _render_group(
    data: bytes, header: Header, shrink: int, plans: list[_Plan]
) -> dict[RenderParams, Rendered]:
    """Decode once at `shrink` and derive every plan from it. Only a group of several
    outputs is held in memory; a lone output streams through libvips."""
    image = load(data, header.info.format, shrink=shrink)
    kind = classify(data, header.info.format, image.hasalpha())
    with vips_errors("corrupt or truncated image data"):
        if len(plans) > 1:
            image = image.copy_memory()
        return {plan.params: _render(image, header, plan, kind) for plan in plans}


def _render(image: pyvips.Image, header: Header, plan: _Plan, kind: Transparency) -> Rendered:
    out = derive(image, plan.size, header.orientation, plan.placement, backdrop(kind, plan.params))
    fmt = plan.params.output or header.info.format
    data = encode(out, fmt, plan.params.quality, plan.params.effort)
    return Rendered(data, fmt.content_type, out.width, out.height)
