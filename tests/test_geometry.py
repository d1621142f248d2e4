"""SPEC §3 geometry: the seven published vectors, PHP rounding, and properties."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resize.geometry import box, fit, jpeg_shrink, php_round

SIDE = st.integers(min_value=1, max_value=5000)
SPEC_SIDE = st.one_of(st.none(), st.integers(min_value=1, max_value=2000))


@pytest.mark.parametrize(
    ("source", "spec", "expected"),
    [
        ((1000, 800), (215, 170), (213, 170)),
        ((800, 600), (300, 300), (300, 225)),
        ((200, 1000), (300, 300), (60, 300)),
        ((200, 150), (300, 300), (200, 150)),
        ((200, 150), (300, 100), (133, 100)),
        ((1000, 800), (None, 500), (625, 500)),
        ((1000, 334), (300, None), (299, 100)),
    ],
)
def test_spec_vectors(
    source: tuple[int, int], spec: tuple[int | None, int | None], expected: tuple[int, int]
) -> None:
    assert fit(*source, *spec) == expected


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
