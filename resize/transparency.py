"""What Magento's Gd2 adapter does with a source's transparency, as two decisions the
pipeline can act on: flatten the picture onto the background, and what colour the frame is.

Gd2 sorts sources three ways (`_getTransparency`), and so do we:

    NONE    no alpha at all (JPEG, opaque PNG/WebP/GIF)
    KEYED   one transparent palette index: GIF, palette PNG with tRNS. GD loads these as
            palette images and copies them with the transparent index skipped.
    ALPHA   a true alpha channel: PNG colour type 4 or 6 (Gd2's `checkAlpha` reads that
            byte of the file, offset 25), and WebP with alpha.

keepTransparency then decides (`_fillBackgroundColor`, `resize`, `save`):
- on: the frame is transparent and the picture keeps its alpha, whatever the kind;
- off, KEYED: the frame and the transparent pixels become `background` (flattened);
- off, ALPHA, resized: only the frame is `background`. Magento 2's resize() turns alpha
  blending off (`_saveAlpha`) before it copies the picture in, so the picture's own alpha
  replaces the background beneath it and survives (Magento 1 blends: it flattens);
- off, ALPHA, not resized (no width, no height): `save()` blends the picture onto
  `background` and writes no alpha: flattened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .formats import ImageFormat
from .params import RenderParams

_PNG_COLOUR_TYPE = 25  # IHDR: 8 magic + 4 length + 4 type + 4 width + 4 height + 1 depth


class Transparency(Enum):
    NONE = "none"
    KEYED = "keyed"
    ALPHA = "alpha"


def classify(data: bytes, fmt: ImageFormat, has_alpha: bool) -> Transparency:
    """The kind of transparency Gd2 would see in `data`; `has_alpha` is libvips' view
    (libvips gives every transparent source an alpha band, keyed or not)."""
    if not has_alpha:
        return Transparency.NONE
    if fmt is ImageFormat.WEBP:
        return Transparency.ALPHA
    # Gd2's checkAlpha: `(ord(<byte 25>) & 6 & 4) == 4`, colour types 4 and 6
    if fmt is ImageFormat.PNG and len(data) > _PNG_COLOUR_TYPE and data[_PNG_COLOUR_TYPE] & 4:
        return Transparency.ALPHA
    return Transparency.KEYED


@dataclass(frozen=True)
class Backdrop:
    """How one output treats alpha: `flatten` composites the picture onto `colour` and
    drops alpha; otherwise alpha is kept and a frame is `colour`, or transparent when
    `transparent_frame`."""

    colour: tuple[int, int, int]
    flatten: bool = False
    transparent_frame: bool = False


def backdrop(kind: Transparency, params: RenderParams) -> Backdrop:
    """The module docstring's table, for one source kind and one parameter set."""
    colour = params.background
    if kind is Transparency.NONE:
        return Backdrop(colour)
    if params.keep_transparency:
        return Backdrop(colour, transparent_frame=True)
    if kind is Transparency.KEYED:
        return Backdrop(colour, flatten=params.resizes)
    return Backdrop(colour, flatten=not params.resizes)
