"""libvips' log: the one harmless warning some sources print on every render is dropped,
every other warning still reaches Python logging."""

from __future__ import annotations

import logging
import struct

import pytest
import pyvips

from resize import Limits, RenderParams, configure_libvips, render_single
from resize.libvips import drop_ignored_warnings
from tests import images


def exif_segment(resolution_unit: int) -> bytes:
    """A JPEG APP1 EXIF segment whose IFD0 holds a 72x72 resolution in a unit libvips
    does not know (it knows 1-3)."""
    entries, first_value = 3, 8 + 2 + 3 * 12 + 4
    ifd0 = struct.pack("<H", entries)
    ifd0 += struct.pack("<HHII", 0x011A, 5, 1, first_value)  # XResolution, a RATIONAL
    ifd0 += struct.pack("<HHII", 0x011B, 5, 1, first_value + 8)  # YResolution
    ifd0 += struct.pack("<HHIHH", 0x0128, 3, 1, resolution_unit, 0)  # ResolutionUnit, SHORT
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + struct.pack("<I", 0)
    tiff += struct.pack("<II", 72, 1) * 2
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def odd_unit_jpeg() -> bytes:
    data = images.jpeg(64, 48)
    return data[:2] + exif_segment(4) + data[2:]  # right after SOI


def test_unknown_exif_resolution_unit_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    configure_libvips()
    vips_log = logging.getLogger("pyvips")
    vips_log.removeFilter(drop_ignored_warnings)
    try:  # the source really makes libvips warn, once per load
        with caplog.at_level(logging.WARNING, logger="pyvips"):  # the CLI sets ERROR
            pyvips.Image.jpegload_buffer(odd_unit_jpeg())
        assert "VIPS: unknown EXIF resolution unit" in caplog.messages
    finally:
        vips_log.addFilter(drop_ignored_warnings)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pyvips"):
        rendered = render_single(odd_unit_jpeg(), RenderParams(32, None), Limits())
    assert rendered.width == 32
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        ("VIPS: unknown EXIF resolution unit", False),
        ("VIPS: error in tile 0 x 120", True),
        ("VIPS: unknown EXIF resolution unit, and more", True),
    ],
)
def test_only_that_warning_is_dropped(message: str, kept: bool) -> None:
    record = logging.LogRecord("pyvips", logging.WARNING, __file__, 1, message, None, None)
    assert drop_ignored_warnings(record) is kept
