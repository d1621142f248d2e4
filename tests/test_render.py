"""resize/ against real libvips: formats, colour, orientation, frames, limits, determinism."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resize import (
    CorruptImage,
    ImageError,
    ImageFormat,
    Limits,
    Rendered,
    RenderParams,
    SourceTooLarge,
    UnsupportedImage,
    configure_libvips,
    place,
    probe,
    render_many,
    render_single,
    sniff,
)
from resize.pipeline import resize_exact
from tests import images

LIMITS = Limits()
SEEDS = "300x, 300x300, 70x70, 170x170, 215x170, 65x65, 310x, 210x, 90x, 1200x"
METADATA = ("exif-data", "xmp-data", "iptc-data", "icc-profile-data")


def params(size: str, **options: Any) -> RenderParams:
    """`300x`-style sizes, as the tests used to spell them, plus RenderParams options."""
    width, height = (int(side) if side else None for side in size.split("x"))
    return RenderParams(width, height, **options)


def render(data: bytes, size: str, **options: Any) -> Rendered:
    return render_single(data, params(size, **options), LIMITS)


def decode(rendered: Rendered) -> pyvips.Image:
    """Re-read an output with libvips, checking it is what it says it is."""
    image = pyvips.Image.new_from_buffer(rendered.data, "")
    assert (image.width, image.height) == (rendered.width, rendered.height)
    assert sniff(rendered.data) == ImageFormat(rendered.content_type.removeprefix("image/"))
    return image


def is_red(pixel: list[float]) -> bool:
    return pixel[0] > 180 and pixel[1] < 90 and pixel[2] < 90


@cache
def source(name: str) -> bytes:
    """Each source is built once per session; generating them is most of the test time."""
    makers: dict[str, Callable[[], bytes]] = {
        "jpeg": lambda: images.jpeg(64, 48),
        "progressive": lambda: images.jpeg(64, 48, progressive=True),
        "cmyk": lambda: images.jpeg(64, 48, cmyk=True),
        "p3": lambda: images.jpeg(64, 48, icc=True),
        "rotated": lambda: images.jpeg(64, 48, orientation=6),
        "png": lambda: images.png(64, 48),
        "png-alpha": lambda: images.png(64, 48, alpha=True),
        "webp": lambda: images.webp(64, 48),
        "gif": lambda: images.gif(64, 48),
        "gif-animated": lambda: images.gif(32, 24, frames=2),
        "large-jpeg": lambda: images.jpeg(1600, 1200),
        "large-rotated": lambda: images.jpeg(1200, 900, orientation=6),
        "large-png": lambda: images.png(400, 300, alpha=True),
        "large-gif": lambda: images.gif(240, 180),
    }
    return makers[name]()


@pytest.mark.parametrize(
    ("name", "size", "fmt", "expected"),
    [
        ("jpeg", "40x40", ImageFormat.JPEG, (40, 30)),
        ("progressive", "40x40", ImageFormat.JPEG, (40, 30)),
        ("cmyk", "x24", ImageFormat.JPEG, (32, 24)),
        ("p3", "20x", ImageFormat.JPEG, (20, 15)),
        ("rotated", "24x", ImageFormat.JPEG, (24, 32)),
        ("png", "215x170", ImageFormat.PNG, (64, 48)),
        ("png-alpha", "33x33", ImageFormat.PNG, (33, 25)),
        ("webp", "30x30", ImageFormat.WEBP, (30, 23)),
        ("gif", "30x30", ImageFormat.GIF, (30, 23)),
        ("gif-animated", "16x", ImageFormat.GIF, (16, 12)),
    ],
)
def test_formats(name: str, size: str, fmt: ImageFormat, expected: tuple[int, int]) -> None:
    rendered = render(source(name), size)
    assert rendered.content_type == fmt.content_type
    assert (rendered.width, rendered.height) == expected
    image = decode(rendered)
    assert image.interpretation in ("srgb", "b-w")
    for field in METADATA:
        assert not image.get_typeof(field), f"{field} left in a {name} output"


@pytest.mark.parametrize("name", ["cmyk", "p3"])
def test_colour_is_converted_to_srgb(name: str) -> None:
    image = decode(render(source(name), "32x"))
    assert (image.interpretation, image.bands) == ("srgb", 3)
    assert is_red(image.getpoint(3, 3)), "the red corner is still red after conversion"


def test_greyscale_stays_grey_unless_framed_in_colour() -> None:
    data = images.jpeg(64, 48, grey=True)
    image = decode(render(data, "32x"))
    assert (image.interpretation, image.bands) == ("b-w", 1)
    image = decode(render(data, "40x40", keep_frame=True, background=(255, 0, 0)))
    assert image.bands == 3
    assert is_red(image.getpoint(20, 1))


def test_sixteen_bit_png_becomes_eight_bit_keeping_alpha() -> None:
    data = images.png(64, 48, alpha=True, bits=16)
    assert pyvips.Image.new_from_buffer(data, "").format == "ushort"
    image = decode(render(data, "32x"))
    assert (image.format, image.bands, image.get("bits-per-sample")) == ("uchar", 4, 8)
    assert image.getpoint(1, 12)[3] == 0
    assert image.getpoint(30, 12)[3] == 255


def test_exif_orientation_turns_the_image() -> None:
    assert probe(source("rotated"), LIMITS).width == 48  # stored 64x48, displayed 48x64
    image = decode(render(source("rotated"), "24x32"))
    assert (image.width, image.height) == (24, 32)
    assert is_red(image.getpoint(21, 2)), "stored top-left corner is now top-right"
    assert not is_red(image.getpoint(2, 2))
    assert not image.get_typeof("orientation")


def test_png_alpha_is_kept() -> None:
    image = decode(render(source("png-alpha"), "32x"))
    assert image.bands == 4
    assert image.getpoint(1, 12)[3] == 0, "transparent stays transparent"
    assert image.getpoint(30, 12)[3] == 255


def test_premultiplied_resize_leaves_no_dark_fringe() -> None:
    data = images.png_white_on_transparent(64, 48)
    image = decode(render(data, "20x"))
    visible = image[3] >= 16
    for band in range(3):
        assert visible.ifthenelse(image[band], 255).min() >= 240


def test_animated_gif_gives_its_first_frame_only() -> None:
    # Upscaled to twice its height: were a page-height of 24 carried over from the
    # loader (libvips sets none for one page today), gifsave would write two frames.
    image = decode(render(source("gif-animated"), "64x48", constrain_only=False))
    assert image.get("n-pages") == 1
    assert is_red(image.getpoint(2, 2))
    assert not is_red(image.getpoint(60, 44))


def test_frame_never_enlarges_the_image_inside() -> None:
    # `100x` framed is a 100x100 square: Magento fills the lacking side of a frame with
    # the given one, not from the aspect ratio.
    image = decode(render(source("jpeg"), "100x", keep_frame=True))
    assert (image.width, image.height) == (100, 100)
    assert min(image.getpoint(5, 5)) > 240, "white frame around the 64x48 original"
    assert is_red(image.getpoint(20, 28)), "original corner at (18, 26)"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", UnsupportedImage),
        (images.html(), UnsupportedImage),
        (images.svg(), UnsupportedImage),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", UnsupportedImage),
        (images.truncated_jpeg(keep=0.02), CorruptImage),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, CorruptImage),
        (b"GIF89a" + b"\xff" * 40, CorruptImage),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 40, CorruptImage),
        (images.png_header_claiming(100_000, 100_000), SourceTooLarge),
    ],
    ids=["empty", "html", "svg", "pdf", "jpeg-header-cut", "png", "gif", "webp", "bomb"],
)
def test_probe_errors(data: bytes, error: type[ImageError]) -> None:
    with pytest.raises(error) as caught:
        probe(data, LIMITS)
    assert caught.value.status == {UnsupportedImage: 415, CorruptImage: 422}.get(error, 413)
    with pytest.raises(error):
        render(data, "70x70")


def test_pixel_limit_reads_only_the_header() -> None:
    """With the limit lifted the 60000x60000 claim is reported, not decoded (10 GB)."""
    bomb = images.png_header_claiming(60_000, 60_000)
    info = probe(bomb, Limits(max_pixels=10**11))
    assert (info.format, info.width, info.height) == (ImageFormat.PNG, 60_000, 60_000)


@pytest.mark.parametrize(("width", "height"), [(1, 65_536), (49_000_000, 1)])
def test_a_side_over_65535_is_too_large_whatever_the_pixel_count(width: int, height: int) -> None:
    """A 1x49,000,000 PNG is within 50 MP but costs libvips seconds per size."""
    with pytest.raises(SourceTooLarge, match="a side over the 65535 pixel limit") as caught:
        probe(images.png_header_claiming(width, height), Limits(max_pixels=10**11))
    assert caught.value.status == 413


def test_byte_limit_comes_first() -> None:
    with pytest.raises(SourceTooLarge):
        probe(images.html(), Limits(max_bytes=10))
    with pytest.raises(SourceTooLarge):
        render_single(source("jpeg"), params("70x70"), Limits(max_bytes=100))


def test_truncated_pixels_are_corrupt_not_grey() -> None:
    data = images.truncated_jpeg(keep=0.5)
    assert probe(data, LIMITS).width == 64
    with pytest.raises(CorruptImage) as caught:
        render(data, "32x")
    assert caught.value.status == 422
    assert "VipsJpeg" not in caught.value.reason


def test_output_over_the_pixel_limit_is_refused() -> None:
    with pytest.raises(SourceTooLarge):
        render(source("jpeg"), "x10000", constrain_only=False)
    with pytest.raises(SourceTooLarge):
        render(source("jpeg"), "9000x9000", keep_frame=True)
    with pytest.raises(SourceTooLarge):
        render(source("jpeg"), "9000x9000", keep_aspect_ratio=False)


def batch_params() -> list[RenderParams]:
    """The seed sizes, then one of each option, so every pipeline step is in the batch."""
    sizes = [params(text.strip()) for text in SEEDS.split(",")]
    return [
        *sizes,
        params("300x", keep_frame=True),
        params("215x170", keep_frame=True, background=(0, 0, 255)),
        params("215x170", keep_aspect_ratio=False),
        params("x1300", constrain_only=False),
        params("70x70", keep_frame=True, keep_transparency=False, background=(0, 255, 0)),
        params("x", quality=60),  # neither side: the original size, re-encoded
        params("90x", quality=60),
    ]


@pytest.mark.parametrize("name", ["large-jpeg", "large-rotated", "large-png", "large-gif"])
def test_batch_and_single_renders_are_byte_identical(name: str) -> None:
    every = batch_params()
    batch = render_many(source(name), every, LIMITS)
    assert len(batch) == len(every)
    for one, out in zip(every, batch, strict=True):
        assert render_single(source(name), one, LIMITS) == out, one
    shuffled = [*every[::-2], *every[::-3], every[0]]  # other order, other groups, repeats
    expected = [batch[every.index(one)] for one in shuffled]
    assert render_many(source(name), shuffled, LIMITS) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sw=st.integers(1, 120),
    sh=st.integers(1, 120),
    width=st.one_of(st.none(), st.integers(1, 160)),
    height=st.one_of(st.none(), st.integers(1, 160)),
    orientation=st.sampled_from([1, 6]),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_output_is_exactly_the_computed_size(
    sw: int,
    sh: int,
    width: int | None,
    height: int | None,
    orientation: int,
    flags: tuple[bool, bool, bool],
) -> None:
    aspect, frame, constrain = flags
    one = RenderParams(
        width, height, keep_aspect_ratio=aspect, keep_frame=frame, constrain_only=constrain
    )
    data = images.jpeg(sw, sh, orientation=orientation)
    shown = (sh, sw) if orientation == 6 else (sw, sh)
    image = decode(render_single(data, one, LIMITS))
    assert (image.width, image.height) == place(one, *shown).canvas


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 700), st.integers(1, 700), st.integers(1, 700), st.integers(1, 700))
def test_libvips_resize_lands_on_the_exact_size(w: int, h: int, tw: int, th: int) -> None:
    """resize_exact relies on libvips' own rounding hitting the target; its crop/pad
    fallback would hide a libvips that slips by a pixel, so check libvips directly."""
    image = pyvips.Image.black(w, h, bands=3).copy(interpretation="srgb").cast("uchar")
    out = image.resize(tw / w, vscale=th / h)
    assert (out.width, out.height) == (tw, th)


@settings(max_examples=60, deadline=None)
@given(st.integers(8, 300), st.integers(8, 300), st.integers(2, 300), st.integers(2, 300))
def test_alpha_edges_get_no_dark_halo(w: int, h: int, tw: int, th: int) -> None:
    """White on transparent stays white at every partly transparent edge pixel: without
    premultiplying around the resize, the black of transparent pixels bleeds in."""
    image = pyvips.Image.new_from_buffer(images.png_white_on_transparent(w, h), "")
    out = resize_exact(image, tw, th)
    rgb, alpha = out[:3], out[3]
    visible = (alpha > 0).ifthenelse(rgb, 255)
    assert visible.min() >= 250


def test_only_our_loaders_are_open() -> None:
    configure_libvips()
    configure_libvips()  # idempotent
    with pytest.raises(pyvips.Error):
        pyvips.Image.new_from_buffer(images.svg(), "")
    with pytest.raises(pyvips.Error):
        pyvips.Image.svgload_buffer(images.svg())
    assert pyvips.Image.new_from_buffer(source("webp"), "").width == 64


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"quality": 0}, "quality"),
        ({"quality": 101}, "quality"),
        ({"background": (0, 0, 256)}, "background"),
        ({"background": (0, 0)}, "background"),
        ({"width": 0}, "width"),
        ({"height": -1}, "height"),
    ],
)
def test_params_are_validated(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RenderParams(**options)
