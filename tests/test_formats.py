"""WebP and AVIF variants (SPEC §10): keys, rendering, pregen and deletes, over both backends.

HTTP negotiation from Accept is in tests/test_formats_http.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pyvips

from bulk import PregenOptions, pregen
from bulk.delete import keys_of
from config import ConfigError, Settings, load_settings
from layouts import NotAnImage, Router
from resize import ImageFormat, Limits, RenderParams, render_many
from storage import GetStatus, Storage
from tests import images

SITE = """
[sites.t1]
sizes = "300x, 70x70"
formats = [{formats}]
"""


def settings_with(tmp_path: Path, formats: str = '"webp", "avif"', extra: str = "") -> Settings:
    path = tmp_path / "mediaproxy.toml"
    path.write_text(SITE.format(formats=formats) + extra)
    return load_settings(path, {})


@contextmanager
def variant_loaders() -> Iterator[None]:
    """mediaproxy blocks every loader but the four source formats; a test reading back what
    it wrote unblocks the WebP (already allowed) and HEIF/AVIF loaders for a moment."""
    pyvips.operation_block_set("VipsForeignLoadHeifBuffer", False)
    try:
        yield
    finally:
        pyvips.operation_block_set("VipsForeignLoadHeifBuffer", True)


def decode(data: bytes) -> pyvips.Image:
    with variant_loaders():
        return pyvips.Image.new_from_buffer(data, "").copy_memory()


def test_formats_are_ordered_by_preference_and_validated(tmp_path: Path) -> None:
    assert settings_with(tmp_path, '"webp", "avif"').sites["t1"].formats == ("avif", "webp")
    path = tmp_path / "bad.toml"
    path.write_text(SITE.format(formats='"jxl"'))
    with pytest.raises(ConfigError, match=r"sites\.t1\.formats: .jxl. is not one of"):
        load_settings(path, {})


def test_variant_keys_are_the_size_key_plus_the_extension(tmp_path: Path) -> None:
    layout = Router.from_settings(settings_with(tmp_path)).layouts["t1"]
    names = [size.name for size in layout.sizes]
    assert names == ["300x", "300x.avif", "300x.webp", "70x70", "70x70.avif", "70x70.webp"]
    assert keys_of(layout, "1/3/a.jpg") == [
        "t1/full/1/3/a.jpg",
        "t1/300x/1/3/a.jpg",
        "t1/300x/1/3/a.jpg.avif",
        "t1/300x/1/3/a.jpg.webp",
        "t1/70x70/1/3/a.jpg",
        "t1/70x70/1/3/a.jpg.avif",
        "t1/70x70/1/3/a.jpg.webp",
    ]
    # the variant key is a URL too (nginx asks the bucket for $uri.webp)
    request = Router.from_settings(settings_with(tmp_path)).parse("/t1/300x/1/3/a.jpg.webp")
    assert (request.key, request.original) == ("t1/300x/1/3/a.jpg.webp", "t1/full/1/3/a.jpg")


def test_a_site_without_formats_has_no_variants(tmp_path: Path) -> None:
    path = tmp_path / "plain.toml"
    path.write_text('[sites.t1]\nsizes = "300x"\n')
    router = Router.from_settings(load_settings(path, {}))
    assert [size.name for size in router.layouts["t1"].sizes] == ["300x"]
    # without the format, `a.jpg.webp` is still a variant's key, never an original with
    # sizes of its own (they would land on a.jpg's variants once the format is turned on)
    with pytest.raises(NotAnImage):
        router.parse("/t1/300x/a.jpg.webp")
    assert router.parse("/t1/full/a.jpg.webp").key == "t1/full/a.jpg.webp"  # a plain file
    assert router.layouts["t1"].size_keys("a.jpg.webp") == {}  # what delete would remove


@pytest.mark.parametrize("fmt", [ImageFormat.WEBP, ImageFormat.AVIF])
def test_variants_keep_alpha_and_decode(fmt: ImageFormat) -> None:
    source = images.png(400, 300, alpha=True)
    plain, variant = render_many(
        source, [RenderParams(200, 200), RenderParams(200, 200, output=fmt, quality=60)], Limits()
    )
    assert variant.content_type == f"image/{fmt.value}"
    image = decode(variant.data)
    assert (image.width, image.height) == (plain.width, plain.height) == (200, 150)
    assert image.hasalpha()
    assert image.get_fields().count("exif-data") == 0  # metadata stripped


async def read(storage: Storage, key: str) -> bytes | None:
    found = await storage.get(key)
    if found.status is not GetStatus.OK or found.body is None:
        return None
    return await found.body.read()


async def test_pregen_makes_every_variant_then_nothing(storage: Storage, tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    for rel in ("a/b/ab.jpg", "c/d/cd.png"):
        await storage.put(f"t1/full/{rel}", images.jpeg(640, 480), content_type="image/jpeg")
    first = await pregen(storage, settings, PregenOptions(formats=("webp",), jobs=2))
    assert (first.made, first.failures) == (2 * 2 * 2, [])  # originals x sizes x (jpeg, webp)
    webp = await read(storage, "t1/300x/a/b/ab.jpg.webp")
    assert webp is not None
    assert decode(webp).width == 300
    assert await read(storage, "t1/300x/a/b/ab.jpg.avif") is None
    second = await pregen(storage, settings, PregenOptions(jobs=2))
    assert (second.made, second.skipped) == (2 * 2, 2 * 2 * 2)  # only the AVIFs were missing
    avif = await read(storage, "t1/70x70/c/d/cd.png.avif")
    assert avif is not None
    assert (decode(avif).width, decode(avif).height) == (70, 53)
    third = await pregen(storage, settings, PregenOptions(jobs=2))
    assert third.made == 0
