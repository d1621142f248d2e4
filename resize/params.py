"""What to make of a source: Magento's image parameters as one typed, hashable value.

The field names and defaults are Magento's own (`keepAspectRatio`, `keepFrame`,
`constrainOnly`, `keepTransparency`, `backgroundColor`, `quality` on the image adapter), so
a layout can map a Magento 2 view.xml image, or a Magento 1 size string plus site options,
onto it without translation. Frozen, so equal parameters hash equal: a batch renders each
distinct value once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .formats import ImageFormat


@dataclass(frozen=True)
class RenderParams:
    """One output of one source. `width`/`height` None: that side is not given (both None:
    the source is re-encoded at its own size, which is all Magento 2's resize service does
    for such a set); `constrain_only` True never enlarges; `background` fills JPEG frames,
    and alpha frames when `keep_transparency` is off."""

    width: int | None = None
    height: int | None = None
    keep_aspect_ratio: bool = True
    keep_frame: bool = False
    constrain_only: bool = True
    keep_transparency: bool = True
    background: tuple[int, int, int] = (255, 255, 255)
    quality: int = 85
    # The format to write: None keeps the source's (SPEC §3); WEBP or AVIF make a variant
    # (SPEC §10), with `quality` on that format's scale and `effort` for AVIF's encoder.
    output: ImageFormat | None = None
    effort: int = 4

    def __post_init__(self) -> None:
        for name, side in (("width", self.width), ("height", self.height)):
            if side is not None and (isinstance(side, bool) or side < 1):
                raise ValueError(f"{name} must be a positive number of pixels, got {side!r}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be 1-100, got {self.quality}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(f"background must be three 0-255 values, got {self.background}")
        if not 0 <= self.effort <= 9:
            raise ValueError(f"effort must be 0-9, got {self.effort}")

    @property
    def resizes(self) -> bool:
        """False when neither side is given: Magento then never calls resize()."""
        return self.width is not None or self.height is not None

    def describe(self) -> str:
        """Short and readable, for error messages and logs: `300x frame q80`; only the
        options that differ from the defaults are named."""
        parts = [f"{self.width or ''}x{self.height or ''}" if self.resizes else "original size"]
        if self.keep_frame:
            parts.append("frame")
        if not self.keep_aspect_ratio:
            parts.append("stretch")
        if not self.constrain_only:
            parts.append("enlarge")
        if not self.keep_transparency:
            parts.append("opaque")
        if self.background != (255, 255, 255):
            parts.append("bg " + ",".join(map(str, self.background)))
        parts.append(f"q{self.quality}")
        if self.output is not None:
            parts.append(str(self.output))
        return " ".join(parts)

    def __str__(self) -> str:
        return self.describe()
