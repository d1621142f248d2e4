"""Magento `Varien_Image` geometry (SPEC §3: keepFrame off, constrainOnly on), in integers.

Pure arithmetic, no libvips: the proxy, the bulk tools and the tests all size images here.
"""

from __future__ import annotations

import math

JPEG_SHRINKS = (8, 4, 2)


def php_round(x: float) -> int:
    """PHP's round(): halves go away from zero (Python's round() goes to even)."""
    magnitude = math.floor(abs(x))
    if abs(x) - magnitude >= 0.5:  # exact: subtracting the floor never rounds
        magnitude += 1
    return -magnitude if x < 0 else magnitude


def _round_ratio(num: int, den: int) -> int:
    """php_round(num / den) for non-negative ints, computed exactly."""
    return (2 * num + den) // (2 * den)


def box(sw: int, sh: int, width: int | None, height: int | None) -> tuple[int, int]:
    """The spec with its empty side filled in from the source aspect: SPEC §3's `WxH`,
    which is also the canvas when framing.

    Sides are clamped to at least 1: a 10000x1 source at `300x` would otherwise ask for a
    box 0 pixels high (and PHP would divide by zero on the next line of the algorithm).
    """
    if sw < 1 or sh < 1:
        raise ValueError(f"source size must be positive, got {sw}x{sh}")
    if (width is not None and width < 1) or (height is not None and height < 1):
        raise ValueError(f"size sides must be positive, got {width}x{height}")
    if width is not None and height is not None:
        return width, height
    if width is not None:
        return width, max(1, _round_ratio(width * sh, sw))
    if height is not None:
        return max(1, _round_ratio(height * sw, sh)), height
    raise ValueError("a size needs a width, a height or both")


def fit(
    sw: int, sh: int, width: int | None, height: int | None, *, upscale: bool = False
) -> tuple[int, int]:
    """Output size of a `swxsh` source (as displayed) for spec `widthxheight`, exactly as
    Magento computes it; `upscale=True` drops the "never enlarge" rule."""
    w, h = box(sw, sh, width, height)
    dw, dh = w, h
    if not upscale and w >= sw and h >= sh:
        dw, dh = sw, sh
    # PHP compares sw / sh >= W / H and rounds dw / sw * sh in floats. We use exact integer
    # arithmetic instead, which is what PHP's results amount to:
    # - the comparison: two distinct ratios of sides below 2**26 differ by far more than a
    #   double's rounding error, so the cross-multiplied test never disagrees with floats;
    # - the rounding: floats can land just below an exact half (232x145 at 100x100:
    #   100 / 232 * 145 == 62.49999999999999, exactly 62.5). PHP's round() pre-rounds its
    #   argument to 15 significant digits, which restores the half and gives 63; rounding
    #   the exact fraction dw * sh / sw half-up gives 63 without relying on that.
    if sw * h >= w * sh:
        dh = _round_ratio(dw * sh, sw)
    else:
        dw = _round_ratio(dh * sw, sh)
    return max(1, dw), max(1, dh)


def jpeg_shrink(lw: int, lh: int, tw: int, th: int) -> int:
    """The largest JPEG shrink-on-load factor (8, 4, 2 or 1) whose output still covers a
    `tw`x`th` target, so the final resize only ever reduces. libvips sizes a shrunk load
    floor(side / factor) (a 7 px side at factor 8 fails to load), not libjpeg's ceil.
    Sizes are in the file's stored orientation, before autorot."""
    for factor in JPEG_SHRINKS:
        if lw // factor >= tw and lh // factor >= th:
            return factor
    return 1
