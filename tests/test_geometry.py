"""Magento geometry: SPEC §3's seven vectors, every RenderParams option worked out by hand
from Magento's `_adaptResizeValues`/`_checkAspectRatio`, PHP rounding, and properties
checked against a line-by-line transcription of that PHP."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resize.geometry import Placement, box, fit, jpeg_shrink, php_round, place
from resize.params import RenderParams

SIDE = st.integers(min_value=1, max_value=5000)
SPEC_SIDE = st.one_of(st.none(), st.integers(min_value=1, max_value=2000))
SPEC_VECTORS = [
    ((1000, 800), (215, 170), (213, 170)),
    ((800, 600), (300, 300), (300, 225)),
    ((200, 1000), (300, 300), (60, 300)),
    ((200, 150), (300, 300), (200, 150)),
    ((200, 150), (300, 100), (133, 100)),
    ((1000, 800), (None, 500), (625, 500)),
    ((1000, 334), (300, None), (299, 100)),
]


@pytest.mark.parametrize(("source", "spec", "expected"), SPEC_VECTORS)
def test_spec_vectors(
    source: tuple[int, int], spec: tuple[int | None, int | None], expected: tuple[int, int]
) -> None:
    assert fit(*source, *spec) == expected
    unframed = place(RenderParams(*spec), *source)
    assert unframed == Placement(expected, expected, (0, 0))


@pytest.mark.parametrize(
    ("source", "spec", "expected"),
    [
        # 100 / 232 * 145 is 62.49999999999999 in floats, exactly 62.5: PHP gives 63.
        ((232, 145), (100, 100), (100, 63)),
        # a sliver: the empty side would round to 0
        ((10000, 1), (300, None), (300, 1)),
        ((1, 10000), (None, 300), (1, 300)),
        ((1, 1), (70, 70), (1, 1)),
    ],
)
def test_edge_vectors(
    source: tuple[int, int], spec: tuple[int | None, int | None], expected: tuple[int, int]
) -> None:
    assert fit(*source, *spec) == expected


@pytest.mark.parametrize(
    ("source", "spec", "expected"),
    [
        ((200, 150), (300, 300), (300, 225)),
        ((200, 150), (300, 100), (133, 100)),
        ((100, 100), (None, 500), (500, 500)),
        ((800, 600), (300, 300), (300, 225)),  # reducing is unchanged
    ],
)
def test_upscale(
    source: tuple[int, int], spec: tuple[int | None, int | None], expected: tuple[int, int]
) -> None:
    assert fit(*source, *spec, upscale=True) == expected


def _p(w: int | None, h: int | None, **flags: Any) -> RenderParams:
    return RenderParams(w, h, **flags)


FRAME: dict[str, Any] = {"keep_frame": True}
STRETCH: dict[str, Any] = {"keep_aspect_ratio": False}
ENLARGE: dict[str, Any] = {"constrain_only": False}


@pytest.mark.parametrize(
    ("source", "params", "size", "canvas", "offset"),
    [
        # keep_frame: the picture as unframed, centred at PHP round((W - w) / 2): a half
        # difference goes down/right (37.5 -> 38, 83.5 -> 84, 18.5 -> 19).
        ((1000, 800), _p(215, 170, **FRAME), (213, 170), (215, 170), (1, 0)),
        ((800, 600), _p(300, 300, **FRAME), (300, 225), (300, 300), (0, 38)),
        ((200, 1000), _p(300, 300, **FRAME), (60, 300), (300, 300), (120, 0)),
        ((200, 150), _p(300, 300, **FRAME), (200, 150), (300, 300), (50, 75)),
        ((200, 150), _p(300, 100, **FRAME), (133, 100), (300, 100), (84, 0)),
        ((63, 47), _p(100, 100, **FRAME), (63, 47), (100, 100), (19, 27)),
        # keep_frame with a side missing: `$frameHeight = $frameWidth`, a square frame
        ((1000, 334), _p(300, None, **FRAME), (300, 100), (300, 300), (0, 100)),
        ((1000, 800), _p(None, 500, **FRAME), (500, 400), (500, 500), (0, 50)),
        ((64, 48), _p(100, None, **FRAME), (64, 48), (100, 100), (18, 26)),
        # keep_aspect_ratio off: exactly the frame, constrain_only not consulted
        ((1000, 800), _p(215, 170, **STRETCH), (215, 170), (215, 170), (0, 0)),
        ((200, 150), _p(300, 300, **STRETCH), (300, 300), (300, 300), (0, 0)),
        ((1000, 334), _p(300, None, **STRETCH), (300, 100), (300, 100), (0, 0)),
        ((1000, 334), _p(300, None, **STRETCH, **FRAME), (300, 300), (300, 300), (0, 0)),
        # constrain_only off: may enlarge, to the frame on one side
        ((200, 150), _p(300, 300, **ENLARGE), (300, 225), (300, 225), (0, 0)),
        ((200, 150), _p(300, 100, **ENLARGE), (133, 100), (133, 100), (0, 0)),
        ((100, 100), _p(None, 500, **ENLARGE), (500, 500), (500, 500), (0, 0)),
        ((200, 150), _p(300, 300, **ENLARGE, **FRAME), (300, 225), (300, 300), (0, 38)),
        # neither side: not resized, and so never framed or stretched either
        ((640, 480), _p(None, None), (640, 480), (640, 480), (0, 0)),
        ((640, 480), _p(None, None, **FRAME, **STRETCH), (640, 480), (640, 480), (0, 0)),
        ((1, 1), _p(None, None, **ENLARGE), (1, 1), (1, 1), (0, 0)),
    ],
)
def test_place(
    source: tuple[int, int],
    params: RenderParams,
    size: tuple[int, int],
    canvas: tuple[int, int],
    offset: tuple[int, int],
) -> None:
    assert place(params, *source) == Placement(size, canvas, offset)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, 1),
        (1.5, 2),
        (2.5, 3),
        (-0.5, -1),
        (-2.5, -3),
        (2.4999999999999996, 2),
        (0.49999999999999994, 0),
        (212.5, 213),
        (7.0, 7),
        (0.0, 0),
    ],
)
def test_php_round_halves_away_from_zero(value: float, expected: int) -> None:
    assert php_round(value) == expected


@pytest.mark.parametrize(
    ("source", "spec"),
    [((0, 10), (10, 10)), ((10, 10), (None, None)), ((10, 10), (0, 10)), ((10, 10), (10, -1))],
)
def test_invalid_input(source: tuple[int, int], spec: tuple[int | None, int | None]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is for config errors
        fit(*source, *spec)


def _round_fraction(x: Fraction) -> int:
    """PHP round() of an exact value (what its 15-digit pre-rounding amounts to here)."""
    return math.floor(x + Fraction(1, 2))


def _reference(sw: int, sh: int, w: int | None, h: int | None) -> tuple[int, int]:
    """SPEC §3 transcribed line by line over exact fractions, plus the >= 1 clamp."""
    if w is None:
        w = max(1, _round_fraction(Fraction(h or 0) * sw / sh))
    if h is None:
        h = max(1, _round_fraction(Fraction(w) * sh / sw))
    dw, dh = w, h
    if w >= sw and h >= sh:
        dw, dh = sw, sh
    if Fraction(sw, sh) >= Fraction(w, h):
        dh = _round_fraction(Fraction(dw, sw) * sh)
    else:
        dw = _round_fraction(Fraction(dh, sh) * sw)
    return max(1, dw), max(1, dh)


@given(SIDE, SIDE, SPEC_SIDE, SPEC_SIDE)
def test_matches_spec_transcription(sw: int, sh: int, w: int | None, h: int | None) -> None:
    if w is None and h is None:
        return
    assert fit(sw, sh, w, h) == _reference(sw, sh, w, h)


@given(SIDE, SIDE, SPEC_SIDE, SPEC_SIDE, st.booleans())
def test_properties(sw: int, sh: int, w: int | None, h: int | None, upscale: bool) -> None:
    if w is None and h is None:
        return
    dw, dh = fit(sw, sh, w, h, upscale=upscale)
    bw, bh = box(sw, sh, w, h)
    assert min(dw, dh) >= 1
    assert dw <= bw, "never exceeds the box"
    assert dh <= bh, "never exceeds the box"
    if not upscale:
        assert dw <= sw, "never enlarges"
        assert dh <= sh, "never enlarges"
    else:
        assert dw == bw or dh == bh, "upscaling fills the box on one side"
    if dw > 1 and dh > 1:
        # one side is the exact aspect of the other, rounded: within half a pixel
        error = abs(dh * sw - dw * sh)
        assert 2 * error <= sw or 2 * error <= sh


def _magento(params: RenderParams, sw: int, sh: int) -> Placement:
    """Magento 2's `_adaptResizeValues` and `_checkAspectRatio` transcribed line by line
    over exact fractions (plus our >= 1 clamp). Neither side given: the resize service
    does not call resize() at all."""
    fw, fh = params.width, params.height
    if fw is None and fh is None:
        return Placement((sw, sh), (sw, sh), (0, 0))
    if not params.keep_frame:
        if fw is None:
            fw = max(1, _round_fraction(Fraction(fh or 0) * Fraction(sw, sh)))
        elif fh is None:
            fh = max(1, _round_fraction(Fraction(fw) * Fraction(sh, sw)))
    elif fw is None:
        fw = fh
    elif fh is None:
        fh = fw
    assert fw is not None
    assert fh is not None
    dw, dh = fw, fh
    if params.keep_aspect_ratio:
        if params.constrain_only and fw >= sw and fh >= sh:
            dw, dh = sw, sh
        if Fraction(sw, sh) >= Fraction(fw, fh):
            dh = _round_fraction(Fraction(dw, sw) * sh)
        else:
            dw = _round_fraction(Fraction(dh, sh) * sw)
        dw, dh = max(1, dw), max(1, dh)
    dst_y = _round_fraction(Fraction(fh - dh, 2))
    dst_x = _round_fraction(Fraction(fw - dw, 2))
    if not params.keep_frame:
        fw, fh, dst_x, dst_y = dw, dh, 0, 0
    return Placement((dw, dh), (fw, fh), (dst_x, dst_y))


PARAMS = st.builds(
    RenderParams,
    width=SPEC_SIDE,
    height=SPEC_SIDE,
    keep_aspect_ratio=st.booleans(),
    keep_frame=st.booleans(),
    constrain_only=st.booleans(),
)


@given(SIDE, SIDE, PARAMS)
def test_place_matches_magento_transcription(sw: int, sh: int, params: RenderParams) -> None:
    placement = place(params, sw, sh)
    assert placement == _magento(params, sw, sh)
    (dw, dh), (cw, ch), (x, y) = placement.size, placement.canvas, placement.offset
    assert min(dw, dh) >= 1
    assert 0 <= x <= cw - dw, "the picture lies inside the canvas"
    assert 0 <= y <= ch - dh, "the picture lies inside the canvas"
    assert (cw - dw) - 2 * x in (0, -1), "centred; an odd margin pixel goes left/top"
    assert (ch - dh) - 2 * y in (0, -1), "centred; an odd margin pixel goes left/top"


@given(SIDE, SIDE, st.integers(1, 5000), st.integers(1, 5000))
def test_jpeg_shrink_is_largest_covering_factor(lw: int, lh: int, tw: int, th: int) -> None:
    factor = jpeg_shrink(lw, lh, tw, th)
    assert factor in (1, 2, 4, 8)
    if factor > 1:
        assert lw // factor >= tw
        assert lh // factor >= th
    if factor < 8:
        bigger = factor * 2
        assert lw // bigger < tw or lh // bigger < th
