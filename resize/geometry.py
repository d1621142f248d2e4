"""Magento's image geometry (`_adaptResizeValues` and `_checkAspectRatio` of the image
adapter, the same in Magento 1's Varien_Image_Adapter_Gd2 and Magento 2's AbstractAdapter),
in exact integers.

Pure arithmetic, no libvips: the proxy, the bulk tools and the tests all size images here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .params import RenderParams

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


def _check_source(sw: int, sh: int) -> None:
    if sw < 1 or sh < 1:
        raise ValueError(f"source size must be positive, got {sw}x{sh}")


def _check(sw: int, sh: int, width: int | None, height: int | None) -> None:
    _check_source(sw, sh)
    if (width is not None and width < 1) or (height is not None and height < 1):
        raise ValueError(f"size sides must be positive, got {width}x{height}")
    if width is None and height is None:
        raise ValueError("a size needs a width, a height or both")


def box(sw: int, sh: int, width: int | None, height: int | None) -> tuple[int, int]:
    """The size with its empty side filled in from the source aspect (SPEC §3's `WxH`):
    Magento's "calculate lacking dimension" when it does not keep a frame.

    Sides are clamped to at least 1: a 10000x1 source at `300x` would otherwise ask for a
    box 0 pixels high (and PHP would divide by zero on the next line of the algorithm).
    """
    _check(sw, sh, width, height)
    if width is not None and height is not None:
        return width, height
    if width is not None:
        return width, max(1, _round_ratio(width * sh, sw))
    assert height is not None
    return max(1, _round_ratio(height * sw, sh)), height


def frame_box(
    sw: int, sh: int, width: int | None, height: int | None, *, keep_frame: bool
) -> tuple[int, int]:
    """The frame Magento sizes the picture into. With keepFrame the lacking side is NOT
    derived from the aspect: `$frameHeight = $frameWidth` makes `300x` a 300x300 square."""
    if not keep_frame:
        return box(sw, sh, width, height)
    _check(sw, sh, width, height)
    side = width if width is not None else height
    assert side is not None
    return (width or side), (height or side)


def picture(
    sw: int, sh: int, fw: int, fh: int, *, keep_aspect_ratio: bool, constrain_only: bool
) -> tuple[int, int]:
    """`_checkAspectRatio`: the picture's size inside an `fw`x`fh` frame. Without
    keepAspectRatio it is the frame itself, and constrainOnly is not even looked at
    (Magento tests it inside the aspect branch), so a stretch may enlarge."""
    if not keep_aspect_ratio:
        return fw, fh
    dw, dh = fw, fh
    if constrain_only and fw >= sw and fh >= sh:
        dw, dh = sw, sh
    # PHP compares sw / sh >= W / H and rounds dw / sw * sh in floats. We use exact integer
    # arithmetic instead, which is what PHP's results amount to:
    # - the comparison: two distinct ratios of sides below 2**26 differ by far more than a
    #   double's rounding error, so the cross-multiplied test never disagrees with floats;
    # - the rounding: floats can land just below an exact half (232x145 at 100x100:
    #   100 / 232 * 145 == 62.49999999999999, exactly 62.5). PHP's round() pre-rounds its
    #   argument to 15 significant digits, which restores the half and gives 63; rounding
    #   the exact fraction dw * sh / sw half-up gives 63 without relying on that.
    if sw * fh >= fw * sh:
        dh = _round_ratio(dw * sh, sw)
    else:
        dw = _round_ratio(dh * sw, sh)
    return max(1, dw), max(1, dh)


def fit(
    sw: int, sh: int, width: int | None, height: int | None, *, upscale: bool = False
) -> tuple[int, int]:
    """Output size for SPEC §3 (aspect kept, no frame); `upscale=True` drops the "never
    enlarge" rule."""
    fw, fh = box(sw, sh, width, height)
    return picture(sw, sh, fw, fh, keep_aspect_ratio=True, constrain_only=not upscale)


@dataclass(frozen=True)
class Placement:
    """Where one output's pixels go, in the source's displayed orientation: the picture is
    resized to `size` and pasted at `offset` on a `canvas` (equal to `size` unframed)."""

    size: tuple[int, int]
    canvas: tuple[int, int]
    offset: tuple[int, int]

    @property
    def framed(self) -> bool:
        return self.canvas != self.size


def place(params: RenderParams, sw: int, sh: int) -> Placement:
    """Magento's `_adaptResizeValues` for a displayed `sw`x`sh` source.

    No width and no height: not resized at all (Magento 2's resize service skips resize()),
    so the source's own size with no frame, whatever keep_frame says.
    """
    if not params.resizes:
        _check_source(sw, sh)
        return Placement((sw, sh), (sw, sh), (0, 0))
    fw, fh = frame_box(sw, sh, params.width, params.height, keep_frame=params.keep_frame)
    dw, dh = picture(
        sw,
        sh,
        fw,
        fh,
        keep_aspect_ratio=params.keep_aspect_ratio,
        constrain_only=params.constrain_only,
    )
    if not params.keep_frame:
        return Placement((dw, dh), (dw, dh), (0, 0))
    # `$dstX = round(($frameWidth - $dstWidth) / 2)`: the picture never exceeds the frame,
    # so the difference is >= 0 and the float is exact, a whole or a half; PHP rounds a
    # half up, i.e. (d + 1) // 2. Flooring it (d // 2) put every odd difference 1 px
    # up/left of where Magento puts it.
    return Placement((dw, dh), (fw, fh), ((fw - dw + 1) // 2, (fh - dh + 1) // 2))


def jpeg_shrink(lw: int, lh: int, tw: int, th: int) -> int:
    """The largest JPEG shrink-on-load factor (8, 4, 2 or 1) whose output still covers a
    `tw`x`th` target, so the final resize only ever reduces. libvips sizes a shrunk load
    floor(side / factor) (a 7 px side at factor 8 fails to load), not libjpeg's ceil.
    Sizes are in the file's stored orientation, before autorot."""
    for factor in JPEG_SHRINKS:
        if lw // factor >= tw and lh // factor >= th:
            return factor
    return 1
