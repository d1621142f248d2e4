"""What a source is and how big, from its header, under the limits.

The order matters: the byte limit first (nothing is parsed), then the magic bytes (415
before libvips is involved), then the header through libvips (422 if unreadable), then the
pixel limit from the header, so a decompression bomb is refused without decoding a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

from .errors import SourceTooLarge, UnsupportedImage
from .formats import ImageFormat, sniff
from .libvips import load
from .limits import Limits


@dataclass(frozen=True)
class SourceInfo:
    """Format and size as displayed, i.e. after EXIF orientation (5-8 swap the sides)."""

    format: ImageFormat
    width: int
    height: int


@dataclass(frozen=True)
class Header:
    """SourceInfo plus what rendering needs: the stored size and the EXIF orientation."""

    info: SourceInfo
    stored_width: int
    stored_height: int
    orientation: int

    @property
    def swaps(self) -> bool:
        """Orientations 5-8 turn the image a quarter, so the sides trade places."""
        return self.orientation >= 5


# JPEG's own limit. A PNG may be 1x49,000,000 within the pixel limit, and libvips then
# spends ~7 s of CPU per size on its millions of rows: an upload that never finishes.
MAX_SOURCE_SIDE = 65_535


def probe(data: bytes, limits: Limits) -> SourceInfo:
    """Check `data` against `limits` and describe it; raises ImageError subclasses."""
    return read_header(data, limits).info


def read_header(data: bytes, limits: Limits) -> Header:
    """probe(), keeping the details render needs."""
    if len(data) > limits.max_bytes:
        raise SourceTooLarge(f"source is {len(data)} bytes, over the {limits.max_bytes} limit")
    fmt = sniff(data)
    if fmt is None:
        raise UnsupportedImage("empty file" if not data else "not a JPEG, PNG, WebP or GIF image")
    image = load(data, fmt)
    width, height = image.width, image.height
    if max(width, height) > MAX_SOURCE_SIDE:
        raise SourceTooLarge(
            f"source is {width}x{height} pixels, a side over the {MAX_SOURCE_SIDE} pixel limit"
        )
    if width * height > limits.max_pixels:
        raise SourceTooLarge(
            f"source is {width}x{height} pixels, over the {limits.max_pixels} pixel limit"
        )
    orientation = _orientation(image)
    shown = (height, width) if orientation >= 5 else (width, height)
    return Header(SourceInfo(fmt, *shown), width, height, orientation)


def _orientation(image: pyvips.Image) -> int:
    """EXIF orientation 1-8; absent or out-of-range values mean upright (1)."""
    if not image.get_typeof("orientation"):
        return 1
    value = image.get("orientation")
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
