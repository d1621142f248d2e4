"""Test images generated on the fly, so no binary blobs live in the repository.

Photo-like (gradients plus seeded noise) so encoders do real work, deterministic, and
marked: the top-left quarter of every image is pure red, so a test can follow a corner
through rotation. Sizes are as stored in the file, before any EXIF orientation.
"""

from __future__ import annotations

import struct
import zlib

import pyvips

RED = (255, 0, 0)


def photo(w: int, h: int) -> pyvips.Image:
    """An 8-bit sRGB image: red/green gradients (never pure red), blue noise, red corner."""
    xyz = pyvips.Image.xyz(w, h)
    red = xyz[0] * (150 / max(w - 1, 1)) + 40
    green = xyz[1] * (150 / max(h - 1, 1)) + 40
    blue = pyvips.Image.gaussnoise(w, h, mean=128, sigma=30, seed=1)
    image = red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")
    corner = pyvips.Image.black(max(1, w // 4), max(1, h // 4)).new_from_image(list(RED))
    return image.insert(corner.cast("uchar").copy(interpretation="srgb"), 0, 0)


def jpeg(
    w: int,
    h: int,
    *,
    progressive: bool = False,
    orientation: int | None = None,
    cmyk: bool = False,
    quality: int = 90,
    icc: bool = False,
    grey: bool = False,
) -> bytes:
    """A JPEG; `orientation` writes an EXIF tag, `cmyk` a CMYK JPEG with no profile,
    `icc` embeds a Display P3 profile (so the pixels need converting to sRGB), `grey`
    makes a one-band greyscale JPEG."""
    image = photo(w, h)
    keep = pyvips.enums.ForeignKeep.ALL
    if grey:
        image = image.colourspace("b-w")
    elif cmyk:
        image = image.colourspace("cmyk")
        keep = pyvips.enums.ForeignKeep.NONE
    elif icc:
        image = image.icc_transform("p3")
    if orientation is not None:
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return bytes(image.jpegsave_buffer(Q=quality, interlace=progressive, keep=keep))


def png(w: int, h: int, *, alpha: bool = False, bits: int = 8) -> bytes:
    """A PNG; with `alpha`, the left quarter is fully transparent, the rest opaque;
    `bits=16` writes 16 bits per sample."""
    image = photo(w, h)
    if alpha:
        opaque = (pyvips.Image.xyz(w, h)[0] >= w // 4).ifthenelse(255, 0).cast("uchar")
        image = image.bandjoin(opaque)
    if bits == 16:
        image = image.colourspace("rgb16")
    return bytes(image.pngsave_buffer(bitdepth=bits))


def png_white_on_transparent(w: int, h: int) -> bytes:
    """Left half transparent black, right half opaque white: resizing without
    premultiplied alpha smears the black into a grey fringe at the edge."""
    right = pyvips.Image.xyz(w, h)[0] >= w // 2
    image = right.ifthenelse([255, 255, 255, 255], [0, 0, 0, 0]).cast("uchar")
    return bytes(image.copy(interpretation="srgb").pngsave_buffer())


def webp(w: int, h: int) -> bytes:
    return bytes(photo(w, h).webpsave_buffer(Q=90))


def gif(w: int, h: int, *, frames: int = 1) -> bytes:
    """A GIF; with `frames` > 1 an animation whose later frames are all blue."""
    image = photo(w, h)
    if frames > 1:
        blue = pyvips.Image.black(w, h).new_from_image([0, 0, 255]).cast("uchar")
        image = image.join(blue.copy(interpretation="srgb"), "vertical")
        for _ in range(frames - 2):
            image = image.join(blue.copy(interpretation="srgb"), "vertical")
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "page-height", h)
    return bytes(image.gifsave_buffer())


def truncated_jpeg(w: int = 64, h: int = 48, *, keep: float = 0.5) -> bytes:
    """A JPEG cut off after `keep` of its bytes: the header reads, the pixels do not."""
    data = jpeg(w, h)
    return data[: int(len(data) * keep)]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_claiming(w: int, h: int) -> bytes:
    """A ~70-byte PNG with valid CRCs whose IHDR claims `w`x`h` RGB pixels: a
    decompression bomb's header, to be refused before any pixel is decoded."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def svg() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" '
        b'height="100"><rect width="100" height="100" fill="red"/></svg>'
    )


def html() -> bytes:
    return b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body></body></html>"
