"""Why an image could not be resized, as a status the caller can answer with.

    ImageError            422   base: a short public `reason`, never libvips' own text
    ├── UnsupportedImage  415   not JPEG/PNG/WebP/GIF by its magic bytes (HTML, SVG, PDF, empty)
    ├── CorruptImage      422   right magic bytes, but the header or pixels are unreadable
    └── SourceTooLarge    413   over the byte limit, or the header claims too many pixels

The statuses are plain ints so that resize/ stays free of HTTP code: proxy/ maps them to
responses and the bulk tools write `reason` to their error log.
"""

from __future__ import annotations

from problems import Problem


class ImageError(Problem):
    """Base of every error resize/ raises on bad input; `reason` is always given."""

    status = 422

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class UnsupportedImage(ImageError):
    status = 415


class CorruptImage(ImageError):
    status = 422


class SourceTooLarge(ImageError):
    status = 413
