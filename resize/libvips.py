"""The one place that sets libvips up and calls its loaders.

Loading only through the four loaders we name keeps the attack surface to what SPEC §4
allows: every other loader (SVG, PDF, TIFF, HEIF, ImageMagick, matrix, CSV...) stays blocked,
so even a bug in our sniffing cannot hand attacker bytes to one of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyvips

from .errors import CorruptImage
from .formats import ImageFormat

# Buffer and source loaders only; the file loaders stay blocked too.
ALLOWED_LOADERS = (
    "VipsForeignLoadJpegBuffer",
    "VipsForeignLoadJpegSource",
    "VipsForeignLoadPngBuffer",
    "VipsForeignLoadPngSource",
    "VipsForeignLoadWebpBuffer",
    "VipsForeignLoadWebpSource",
    "VipsForeignLoadNsgifBuffer",
    "VipsForeignLoadNsgifSource",
)
_LOAD_OPERATION = {
    ImageFormat.JPEG: "jpegload_buffer",
    ImageFormat.PNG: "pngload_buffer",
    ImageFormat.WEBP: "webpload_buffer",
    ImageFormat.GIF: "gifload_buffer",
}
# g_warning()s of libvips that say nothing about our output, dropped by exact text.
# "unknown EXIF resolution unit": libvips/foreign/exif.c, vips_image_resolution_from_exif(),
# on every header load of a source whose EXIF ResolutionUnit is outside 1-3. libvips then
# falls back to the JFIF resolution, and we strip all metadata from outputs anyway.
IGNORED_WARNINGS = frozenset({"VIPS: unknown EXIF resolution unit"})
_lock = threading.Lock()
_configured = False


def configure_libvips() -> None:
    """Turn the operation cache off (every source is different, so it only holds memory)
    and block every loader but ours. Idempotent and thread-safe; probe and render call it
    themselves, the app and CLI call it at start so a broken libvips fails early."""
    global _configured
    with _lock:
        if _configured:
            return
        pyvips.cache_set_max(0)
        pyvips.cache_set_max_mem(0)
        pyvips.cache_set_max_files(0)
        pyvips.block_untrusted_set(True)
        pyvips.operation_block_set("VipsForeignLoad", True)
        _warnings_only()
        logging.getLogger("pyvips").addFilter(drop_ignored_warnings)
        for name in ALLOWED_LOADERS:
            if not pyvips.type_find("VipsOperation", name):
                raise RuntimeError(f"this libvips has no {name} loader")
            pyvips.operation_block_set(name, False)
        _configured = True


def _warnings_only() -> None:
    """Route only libvips' warnings and errors to Python logging.

    pyvips installs a GLib handler for every level, so each of libvips' INFO notes
    ("threadpool completed with 2 workers", ~10 a render) calls back into Python from a
    libvips thread, which must take the GIL first and stalls the pipeline while the event
    loop holds it (measured: +5-7 % product-page throughput without them). This touches
    pyvips internals, so a pyvips without them keeps its default handler.
    """
    try:
        flags, glib = pyvips.GLogLevelFlags, pyvips.glib_lib
        handler_id, callback = pyvips._log_handler_id, pyvips._log_handler_cb
    except AttributeError:
        return
    levels = flags.LEVEL_WARNING | flags.LEVEL_CRITICAL | flags.LEVEL_ERROR
    glib.g_log_remove_handler(b"VIPS", handler_id)
    # pyvips removes the handler this module global names at exit: keep it current.
    pyvips._log_handler_id = glib.g_log_set_handler(
        b"VIPS", levels | flags.FLAG_FATAL | flags.FLAG_RECURSION, callback, pyvips.ffi.NULL
    )


def drop_ignored_warnings(record: logging.LogRecord) -> bool:
    """A logging filter on pyvips' logger: False (drop) for IGNORED_WARNINGS only, so every
    other libvips warning or error still reaches the log."""
    return record.getMessage() not in IGNORED_WARNINGS


def load(data: bytes, fmt: ImageFormat, *, shrink: int = 1) -> pyvips.Image:
    """Open `data` with the loader for `fmt`: a lazy image, only the header is read.

    `fail_on="truncated"` makes a cut-off file an error when its pixels are read instead
    of a grey bottom half; `shrink` is the shrink-on-load factor (1, 2, 4 or 8): JPEG's
    DCT scaling, or WebP's scaled decode (libwebp's rescaler; each side comes out as
    round(side / shrink), never below floor(side / shrink)). GIF and WebP load their
    first frame only.
    """
    configure_libvips()
    options: dict[str, object] = {"access": "sequential", "fail_on": "truncated"}
    if shrink > 1:
        if fmt is ImageFormat.JPEG:
            options["shrink"] = shrink
        elif fmt is ImageFormat.WEBP:
            options["scale"] = 1 / shrink
        else:
            raise ValueError(f"shrink-on-load is only used for JPEG and WebP, not {fmt}")
    with vips_errors("unreadable image header"):
        return getattr(pyvips.Image, _LOAD_OPERATION[fmt])(data, **options)


@contextmanager
def vips_errors(reason: str) -> Iterator[None]:
    """Turn a libvips failure into CorruptImage with a short public reason; libvips' own
    text (paths, internal names) stays in the chained cause for logs only."""
    try:
        yield
    except pyvips.Error as exc:
        raise CorruptImage(reason) from exc
