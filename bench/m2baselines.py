"""The yardsticks for a Magento 2 table: plain pyvips, in this process, no storage.

Every output gets the size, frame and encoding mediaproxy gives it (`resize.place` for the
geometry and the frame offset, the set's background, an embedded ICC profile applied,
JPEG at the set's quality with optimised Huffman tables and no metadata), so only the
decode strategy differs between them and mediaproxy:

    naive        per set, load the full original, resize, frame, save: Magento's resize
                 service (GD decodes the whole original for every parameter set)
    thumbnail    per set, `thumbnail_buffer` (shrink-on-load), frame, save: the same
                 loop written the way libvips' docs recommend
    decode_once  decode each original once, at the JPEG shrink-on-load factor every set
                 allows, and derive every set from those pixels

Geometry is worked out on the stored size: the corpus originals carry no EXIF rotation.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyvips

from bench.corpus import Original
from resize import Placement, RenderParams, place
from resize.geometry import jpeg_shrink

Job = tuple[Original, RenderParams]
_KEEP_NONE = pyvips.enums.ForeignKeep.NONE


def naive(job: Job) -> bytes:
    original, params = job
    image = pyvips.Image.new_from_buffer(original.data, "", access="sequential")
    return finish(image, place(params, image.width, image.height), params)


def thumbnail(job: Job) -> bytes:
    original, params = job
    header = pyvips.Image.new_from_buffer(original.data, "", access="sequential")
    placement = place(params, header.width, header.height)
    width, height = placement.size
    # "force": the box is already the aspect-correct size, and must be met to the pixel.
    image = pyvips.Image.thumbnail_buffer(
        original.data, width, height=height, size="force", no_rotate=True
    )
    return finish(image, placement, params)


def decode_once(data: bytes, params: Sequence[RenderParams]) -> list[bytes]:
    header = pyvips.Image.new_from_buffer(data, "", access="sequential")
    placements = [place(p, header.width, header.height) for p in params]
    shrink = 1
    if header.get("vips-loader").startswith("jpegload"):
        shrink = min(jpeg_shrink(header.width, header.height, *pl.size) for pl in placements)
    options = {"shrink": shrink} if shrink > 1 else {}
    image = pyvips.Image.new_from_buffer(data, "", **options).copy_memory()
    return [finish(image, pl, p) for pl, p in zip(placements, params, strict=True)]


def finish(image: pyvips.Image, placement: Placement, params: RenderParams) -> bytes:
    """Resize to the placement's size, to sRGB, onto its frame, and encode."""
    width, height = placement.size
    if (image.width, image.height) != (width, height):
        image = image.resize(width / image.width, vscale=height / image.height)
    if image.get_typeof("icc-profile-data"):
        image = image.icc_transform("srgb", embedded=True)
    if placement.framed:
        (left, top), (canvas_w, canvas_h) = placement.offset, placement.canvas
        fill = list(params.background[: image.bands])
        image = image.embed(left, top, canvas_w, canvas_h, extend="background", background=fill)
    data = image.jpegsave_buffer(Q=params.quality, optimize_coding=True, keep=_KEEP_NONE)
    return bytes(data)


def sizes(outputs: Sequence[bytes]) -> list[tuple[int, int]]:
    """Width and height of each encoded output, from its header."""
    headers = (pyvips.Image.new_from_buffer(data, "") for data in outputs)
    return [(image.width, image.height) for image in headers]
