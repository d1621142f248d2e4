"""Denial-of-service limits checked before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """`max_pixels` bounds the source as its header declares it, and also any output
    (an upscaled or framed image), since both cost memory in proportion to their area."""

    max_bytes: int = 50_000_000
    max_pixels: int = 50_000_000
