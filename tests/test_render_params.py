"""RenderParams against real libvips: frame offsets read back from pixels, stretching,
enlarging, the original size, and Magento's transparency rules (resize/transparency.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import pyvips

from resize import Limits, Rendered, RenderParams, place, render_single, sniff
from resize.transparency import Backdrop, Transparency, backdrop, classify
from tests import images

LIMITS = Limits()
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def solid(w: int, h: int, colour: tuple[int, ...] = RED) -> pyvips.Image:
    image = pyvips.Image.black(w, h).new_from_image(list(colour)).cast("uchar")
    return image.copy(interpretation="srgb" if len(colour) >= 3 else "b-w")


def with_alpha(image: pyvips.Image) -> pyvips.Image:
    """Adds alpha: the left quarter fully transparent, the rest opaque."""
    opaque = pyvips.Image.xyz(image.width, image.height)[0] >= image.width // 4
    return image.bandjoin(opaque.ifthenelse(255, 0).cast("uchar"))


def render(data: bytes, w: int | None, h: int | None, **options: Any) -> pyvips.Image:
    """Render and decode, checking the output is what it says it is."""
    rendered: Rendered = render_single(data, RenderParams(w, h, **options), LIMITS)
    image = pyvips.Image.new_from_buffer(rendered.data, "")
    assert (image.width, image.height) == (rendered.width, rendered.height)
    return image


def near(pixel: list[float], expected: list[int]) -> bool:
    """Equal within lossy WebP's error."""
    return all(abs(a - b) <= 3 for a, b in zip(pixel, expected, strict=True))


def pixels(image: pyvips.Image) -> list[list[tuple[int, ...]]]:
    mem, bands = image.write_to_memory(), image.bands
    return [
        [tuple(mem[(y * image.width + x) * bands :][:bands]) for x in range(image.width)]
        for y in range(image.height)
    ]


def box_of(image: pyvips.Image, colour: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(left, top, width, height) of the pixels exactly `colour`; they must form a solid
    rectangle and every other pixel must differ from it."""
    rows = pixels(image)
    hits = [(x, y) for y, row in enumerate(rows) for x, px in enumerate(row) if px == colour]
    xs, ys = {x for x, _ in hits}, {y for _, y in hits}
    left, top, width, height = min(xs), min(ys), len(xs), len(ys)
    assert len(hits) == width * height, "not a solid rectangle"
    assert (max(xs) - left + 1, max(ys) - top + 1) == (width, height)
    return left, top, width, height


@pytest.mark.parametrize(
    ("source", "size", "flags", "expected"),
    [
        # (left, top, width, height) of the picture; odd margins put the extra pixel
        # left/above, as PHP's round((W - w) / 2) does (floor put it right/below)
        ((63, 47), (100, 100), {}, (19, 27, 63, 47)),
        ((80, 60), (30, 30), {}, (0, 4, 30, 23)),
        ((60, 80), (30, 30), {}, (4, 0, 23, 30)),
        ((20, 15), (30, 10), {}, (9, 0, 13, 10)),
        ((64, 48), (100, None), {}, (18, 26, 64, 48)),  # a square frame
        ((10, 5), (None, 7), {}, (0, 2, 7, 4)),  # a square frame
        ((20, 15), (30, 30), {"constrain_only": False}, (0, 4, 30, 23)),
        ((20, 15), (30, 30), {"keep_aspect_ratio": False}, (0, 0, 30, 30)),
    ],
)
def test_frame_offsets_read_from_pixels(
    source: tuple[int, int],
    size: tuple[int | None, int | None],
    flags: dict[str, Any],
    expected: tuple[int, int, int, int],
) -> None:
    data = bytes(solid(*source).pngsave_buffer())
    image = render(data, *size, keep_frame=True, background=BLUE, **flags)
    placement = place(RenderParams(*size, keep_frame=True, **flags), *source)
    assert (image.width, image.height) == placement.canvas
    assert (*placement.offset, *placement.size) == expected
    assert box_of(image, RED) == expected
    frame = [px for row in pixels(image) for px in row if px != RED]
    assert set(frame) <= {BLUE}, "everything else is the frame colour"


def test_jpeg_frame_is_the_background() -> None:
    image = render(images.jpeg(64, 48), 40, 40, keep_frame=True, background=BLUE)
    assert (image.width, image.height, image.bands) == (40, 40, 3)
    top, middle = image.getpoint(20, 1), image.getpoint(20, 20)
    assert top[2] > 230
    assert max(top[0], top[1]) < 30
    assert middle[2] < 230


def test_stretch_and_enlarge() -> None:
    data = images.jpeg(64, 48)
    assert render(data, 128, None).width == 64, "constrain_only never enlarges"
    assert (render(data, 128, None, constrain_only=False).height) == 96
    stretched = render(data, 40, 60, keep_aspect_ratio=False)
    assert (stretched.width, stretched.height) == (40, 60)
    enlarged = render(data, 100, 100, keep_aspect_ratio=False)  # constrain_only ignored
    assert (enlarged.width, enlarged.height) == (100, 100)


def test_neither_side_is_the_original_size_re_encoded() -> None:
    data = images.jpeg(64, 48, orientation=6)
    image = render(data, None, None, keep_frame=True, quality=50)
    assert (image.width, image.height) == (48, 64), "displayed size, upright"
    assert not image.get_typeof("exif-data")
    best = render_single(data, RenderParams(quality=95), LIMITS)
    assert len(best.data) > len(render_single(data, RenderParams(quality=50), LIMITS).data)


def png_alpha() -> bytes:
    return bytes(with_alpha(solid(40, 20)).pngsave_buffer())


def gif_keyed() -> bytes:
    return bytes(with_alpha(solid(40, 20)).gifsave_buffer())


def png_palette() -> bytes:
    return bytes(with_alpha(images.photo(40, 20)).pngsave_buffer(palette=True))


def png_grey_alpha() -> bytes:
    return bytes(with_alpha(solid(40, 20, (90,))).pngsave_buffer())


def webp_alpha() -> bytes:
    return bytes(with_alpha(solid(40, 20)).webpsave_buffer(lossless=True))


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (png_alpha, Transparency.ALPHA),
        (png_grey_alpha, Transparency.ALPHA),
        (webp_alpha, Transparency.ALPHA),
        (gif_keyed, Transparency.KEYED),
        (png_palette, Transparency.KEYED),
        (lambda: images.png(40, 20), Transparency.NONE),
        (lambda: images.gif(40, 20), Transparency.NONE),
    ],
)
def test_sources_are_classified_as_gd2_sees_them(
    make: Callable[[], bytes], kind: Transparency
) -> None:
    data = make()
    fmt = sniff(data)
    assert fmt is not None
    assert classify(data, fmt, pyvips.Image.new_from_buffer(data, "").hasalpha()) is kind


@pytest.mark.parametrize(
    ("kind", "keep", "resizes", "expected"),
    [
        (Transparency.NONE, True, True, Backdrop(GREEN)),
        (Transparency.NONE, False, False, Backdrop(GREEN)),
        (Transparency.ALPHA, True, True, Backdrop(GREEN, transparent_frame=True)),
        (Transparency.KEYED, True, False, Backdrop(GREEN, transparent_frame=True)),
        (Transparency.ALPHA, False, True, Backdrop(GREEN)),
        (Transparency.ALPHA, False, False, Backdrop(GREEN, flatten=True)),
        (Transparency.KEYED, False, True, Backdrop(GREEN, flatten=True)),
        (Transparency.KEYED, False, False, Backdrop(GREEN)),
    ],
)
def test_backdrop_table(kind: Transparency, keep: bool, resizes: bool, expected: Backdrop) -> None:
    size = 30 if resizes else None
    params = RenderParams(size, size, keep_transparency=keep, background=GREEN)
    assert backdrop(kind, params) == expected


@pytest.mark.parametrize("make", [png_alpha, webp_alpha, gif_keyed])
def test_keep_transparency_frames_with_transparent_pixels(make: Callable[[], bytes]) -> None:
    image = render(make(), 60, 60, keep_frame=True, background=GREEN)
    assert (image.width, image.height, image.bands) == (60, 60, 4)
    assert image.getpoint(30, 2)[3] == 0, "transparent frame"
    assert image.getpoint(2, 30)[3] == 0, "transparent frame"
    assert image.getpoint(12, 30)[3] == 0, "the picture's transparent quarter"
    assert image.getpoint(40, 30)[3] == 255


@pytest.mark.parametrize("make", [png_alpha, webp_alpha])
def test_opaque_frame_keeps_the_pictures_alpha(make: Callable[[], bytes]) -> None:
    """Magento 2 Gd2 resize(): `_saveAlpha` turns blending off, so only the frame takes
    the background; the picture's own alpha replaces it."""
    image = render(make(), 60, 60, keep_frame=True, keep_transparency=False, background=GREEN)
    assert image.bands == 4
    assert near(image.getpoint(30, 2), [0, 255, 0, 255]), "opaque background frame"
    assert image.getpoint(12, 30)[3] == 0, "the picture's transparent quarter"
    assert near(image.getpoint(40, 30), [255, 0, 0, 255])


def test_grey_alpha_gets_colour_for_a_coloured_frame() -> None:
    options = {"keep_frame": True, "keep_transparency": False, "background": GREEN}
    image = render(png_grey_alpha(), 60, 60, **options)
    assert (image.interpretation, image.bands) == ("srgb", 4)
    assert image.getpoint(30, 2) == [0, 255, 0, 255]
    assert image.getpoint(40, 30) == [90, 90, 90, 255]


@pytest.mark.parametrize("make", [gif_keyed, png_palette])
def test_keyed_transparency_is_flattened_when_resized(make: Callable[[], bytes]) -> None:
    image = render(make(), 60, 60, keep_frame=True, keep_transparency=False, background=GREEN)
    assert not image.hasalpha() or image[3].min() == 255, "nothing transparent is left"
    assert image.getpoint(30, 2)[:3] == [0, 255, 0], "background frame"
    assert image.getpoint(12, 30)[:3] == [0, 255, 0], "transparent pixels became background"


def test_original_size_flattens_alpha_but_leaves_keyed_alone() -> None:
    """Gd2 save() without resize(): a PNG with an alpha channel is blended onto the
    background, a GIF is written back with its transparent index."""
    flat = render(png_alpha(), None, None, keep_transparency=False, background=GREEN)
    assert (flat.width, flat.height, flat.bands) == (40, 20, 3)
    assert flat.getpoint(2, 10) == [0, 255, 0]
    keyed = render(gif_keyed(), None, None, keep_transparency=False, background=GREEN)
    assert keyed.bands == 4
    assert keyed.getpoint(2, 10)[3] == 0
    kept = render(png_alpha(), None, None)
    assert (kept.bands, kept.getpoint(2, 10)[3]) == (4, 0)
