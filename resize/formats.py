"""The four source formats we resize, recognised by magic bytes alone.

Sniffing is done in Python, before libvips sees the data, so that a file named `.jpg`
that is really HTML, SVG or PDF is refused (415) without any loader being consulted.
"""

from __future__ import annotations

from enum import StrEnum


class ImageFormat(StrEnum):
    """The source formats, plus AVIF, which is only ever written (SPEC §10 variants)."""

    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    GIF = "gif"
    AVIF = "avif"

    @property
    def content_type(self) -> str:
        return f"image/{self.value}"


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Names that must hold an image of one of these formats (uploads check by content; pregen
# and migrate only consider these). Any other name is a plain file, stored as-is.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
VARIANT_SUFFIXES = (".webp", ".avif")


def is_image_name(name: str) -> bool:
    """Whether `name` names an original: an image suffix, and not the shape of a format
    variant's key (`a.jpg.webp` is where a.jpg's WebP sizes go, SPEC §10: as an original
    of its own its sizes would be written over those)."""
    lower = name.lower()
    if not lower.endswith(IMAGE_SUFFIXES):
        return False
    stem, _, ext = lower.rpartition(".")
    return not (f".{ext}" in VARIANT_SUFFIXES and stem.endswith(IMAGE_SUFFIXES))


def sniff(data: bytes) -> ImageFormat | None:
    """The format `data` claims by its first bytes, or None; never reads further."""
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if data.startswith(_PNG_MAGIC):
        return ImageFormat.PNG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return ImageFormat.GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    return None
