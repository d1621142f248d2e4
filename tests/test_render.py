"""resize/ against real libvips: formats, colour, orientation, frames, limits, determinism."""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.sizes import SizeSpec, parse_sizes
from resize import (
    CorruptImage,
    ImageError,
    ImageFormat,
    Limits,
    Rendered,
    RenderOptions,
    SourceTooLarge,
    UnsupportedImage,
    configure_libvips,
    fit,
    probe,
    render_one,
    render_sizes,
    sniff,
)
from resize.geometry import box
from resize.pipeline import resize_exact
from tests import images

LIMITS = Limits()
DEFAULTS = RenderOptions()
SEEDS = "300x, 300x300, 70x70, 170x170, 215x170, 65x65, 310x, 210x, 90x"
METADATA = ("exif-data", "xmp-data", "iptc-data", "icc-profile-data")


def spec(text: str) -> SizeSpec:
    return SizeSpec.parse(text)


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
    rendered = render_one(source(name), spec(size), DEFAULTS, LIMITS)
    assert rendered.content_type == fmt.content_type
    assert (rendered.width, rendered.height) == expected
    image = decode(rendered)
    assert image.interpretation in ("srgb", "b-w")
    for field in METADATA:
        assert not image.get_typeof(field), f"{field} left in a {name} output"


@pytest.mark.parametrize("name", ["cmyk", "p3"])
def test_colour_is_converted_to_srgb(name: str) -> None:
    image = decode(render_one(source(name), spec("32x"), DEFAULTS, LIMITS))
    assert (image.interpretation, image.bands) == ("srgb", 3)
    assert is_red(image.getpoint(3, 3)), "the red corner is still red after conversion"


def test_greyscale_stays_grey_unless_framed_in_colour() -> None:
    data = images.jpeg(64, 48, grey=True)
    image = decode(render_one(data, spec("32x"), DEFAULTS, LIMITS))
    assert (image.interpretation, image.bands) == ("b-w", 1)
    options = RenderOptions(frame=True, background=(255, 0, 0))
    image = decode(render_one(data, spec("40x40"), options, LIMITS))
    assert image.bands == 3
    assert is_red(image.getpoint(20, 1))


def test_sixteen_bit_png_becomes_eight_bit_keeping_alpha() -> None:
    data = images.png(64, 48, alpha=True, bits=16)
    assert pyvips.Image.new_from_buffer(data, "").format == "ushort"
    image = decode(render_one(data, spec("32x"), DEFAULTS, LIMITS))
    assert (image.format, image.bands, image.get("bits-per-sample")) == ("uchar", 4, 8)
    assert image.getpoint(1, 12)[3] == 0
    assert image.getpoint(30, 12)[3] == 255


def test_exif_orientation_turns_the_image() -> None:
    assert probe(source("rotated"), LIMITS).width == 48  # stored 64x48, displayed 48x64
    image = decode(render_one(source("rotated"), spec("24x32"), DEFAULTS, LIMITS))
    assert (image.width, image.height) == (24, 32)
    assert is_red(image.getpoint(21, 2)), "stored top-left corner is now top-right"
    assert not is_red(image.getpoint(2, 2))
    assert not image.get_typeof("orientation")


def test_png_alpha_is_kept() -> None:
    image = decode(render_one(source("png-alpha"), spec("32x"), DEFAULTS, LIMITS))
    assert image.bands == 4
    assert image.getpoint(1, 12)[3] == 0, "transparent stays transparent"
    assert image.getpoint(30, 12)[3] == 255


def test_premultiplied_resize_leaves_no_dark_fringe() -> None:
    data = images.png_white_on_transparent(64, 48)
    image = decode(render_one(data, spec("20x"), DEFAULTS, LIMITS))
    visible = image[3] >= 16
    for band in range(3):
        assert visible.ifthenelse(image[band], 255).min() >= 240


def test_animated_gif_gives_its_first_frame_only() -> None:
    # Upscaled to twice its height: were a page-height of 24 carried over from the
    # loader (libvips sets none for one page today), gifsave would write two frames.
    options = RenderOptions(upscale=True)
    image = decode(render_one(source("gif-animated"), spec("64x48"), options, LIMITS))
    assert image.get("n-pages") == 1
    assert is_red(image.getpoint(2, 2))
    assert not is_red(image.getpoint(60, 44))


def test_frame_pads_to_the_box_on_background() -> None:
    options = RenderOptions(frame=True, background=(0, 0, 255))
    rendered = render_one(source("jpeg"), spec("40x40"), options, LIMITS)
    assert (rendered.width, rendered.height) == (40, 40)
    image = decode(rendered)
    top, middle = image.getpoint(20, 1), image.getpoint(20, 20)
    assert top[2] > 230
    assert max(top[0], top[1]) < 30
    assert middle[2] < 230


def test_frame_never_enlarges_the_image_inside() -> None:
    options = RenderOptions(frame=True)
    image = decode(render_one(source("jpeg"), spec("100x"), options, LIMITS))
    assert (image.width, image.height) == (100, 75)
    assert min(image.getpoint(5, 5)) > 240, "white frame around the 64x48 original"
    assert is_red(image.getpoint(20, 15)), "original corner at (18, 13)"


def test_frame_is_transparent_for_alpha_images() -> None:
    options = RenderOptions(frame=True)
    image = decode(render_one(source("png-alpha"), spec("40x40"), options, LIMITS))
    assert (image.width, image.height, image.bands) == (40, 40, 4)
    assert image.getpoint(30, 1)[3] == 0
    assert image.getpoint(30, 20)[3] == 255


def test_upscale() -> None:
    assert render_one(source("jpeg"), spec("128x"), DEFAULTS, LIMITS).width == 64
    rendered = render_one(source("jpeg"), spec("128x"), RenderOptions(upscale=True), LIMITS)
    assert (rendered.width, rendered.height) == (128, 96)
    decode(rendered)


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
        render_one(data, spec("70x70"), DEFAULTS, LIMITS)


def test_pixel_limit_reads_only_the_header() -> None:
    """With the limit lifted the 100000x100000 claim is reported, not decoded (30 GB)."""
    bomb = images.png_header_claiming(100_000, 100_000)
    info = probe(bomb, Limits(max_pixels=10**11))
    assert (info.format, info.width, info.height) == (ImageFormat.PNG, 100_000, 100_000)


def test_byte_limit_comes_first() -> None:
    with pytest.raises(SourceTooLarge):
        probe(images.html(), Limits(max_bytes=10))
    with pytest.raises(SourceTooLarge):
        render_one(source("jpeg"), spec("70x70"), DEFAULTS, Limits(max_bytes=100))


def test_truncated_pixels_are_corrupt_not_grey() -> None:
    data = images.truncated_jpeg(keep=0.5)
    assert probe(data, LIMITS).width == 64
    with pytest.raises(CorruptImage) as caught:
        render_one(data, spec("32x"), DEFAULTS, LIMITS)
    assert caught.value.status == 422
    assert "VipsJpeg" not in caught.value.reason


def test_output_over_the_pixel_limit_is_refused() -> None:
    with pytest.raises(SourceTooLarge):
        render_one(source("jpeg"), spec("x10000"), RenderOptions(upscale=True), LIMITS)
    with pytest.raises(SourceTooLarge):
        render_one(source("jpeg"), spec("9000x9000"), RenderOptions(frame=True), LIMITS)


@pytest.mark.parametrize("name", ["large-jpeg", "large-rotated", "large-png", "large-gif"])
def test_batch_and_single_renders_are_byte_identical(name: str) -> None:
    specs = parse_sizes(f"{SEEDS}, 1200x")
    batch = render_sizes(source(name), specs, DEFAULTS, LIMITS)
    assert list(batch) == [s.text for s in specs]
    for one in specs:
        assert render_one(source(name), one, DEFAULTS, LIMITS) == batch[one.text], one.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sw=st.integers(1, 120),
    sh=st.integers(1, 120),
    width=st.one_of(st.none(), st.integers(1, 160)),
    height=st.one_of(st.none(), st.integers(1, 160)),
    orientation=st.sampled_from([1, 6]),
    upscale=st.booleans(),
    frame=st.booleans(),
)
def test_output_is_exactly_the_computed_size(
    sw: int,
    sh: int,
    width: int | None,
    height: int | None,
    orientation: int,
    upscale: bool,
    frame: bool,
) -> None:
    if width is None and height is None:
        return
    text = f"{width or ''}x{height or ''}"
    data = images.jpeg(sw, sh, orientation=orientation)
    shown = (sh, sw) if orientation == 6 else (sw, sh)
    expected = fit(*shown, width, height, upscale=upscale)
    if frame:
        expected = box(*shown, width, height)
    options = RenderOptions(upscale=upscale, frame=frame)
    image = decode(render_one(data, spec(text), options, LIMITS))
    assert (image.width, image.height) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 700),
    st.integers(1, 700),
    st.integers(1, 700),
    st.integers(1, 700),
    st.booleans(),
)
def test_resize_exact_hits_every_size(w: int, h: int, tw: int, th: int, alpha: bool) -> None:
    image = pyvips.Image.black(w, h, bands=4 if alpha else 3).copy(interpretation="srgb")
    out = resize_exact(image.cast("uchar"), tw, th)
    assert (out.width, out.height) == (tw, th)


def test_only_our_loaders_are_open() -> None:
    configure_libvips()
    configure_libvips()  # idempotent
    with pytest.raises(pyvips.Error):
        pyvips.Image.new_from_buffer(images.svg(), "")
    with pytest.raises(pyvips.Error):
        pyvips.Image.svgload_buffer(images.svg())
    assert pyvips.Image.new_from_buffer(source("webp"), "").width == 64


def test_resize_package_stays_free_of_asyncio_and_aiohttp() -> None:
    for path in Path(__file__).parent.parent.joinpath("resize").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n.split(".")[0] in ("aiohttp", "asyncio")], path


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="quality"):
        RenderOptions(quality=0)
    with pytest.raises(ValueError, match="background"):
        RenderOptions(background=(0, 0, 256))
