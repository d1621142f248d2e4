"""Pure libvips work: sniff, probe and resize product images with Magento geometry.

No aiohttp or asyncio here: callers run these blocking functions in their own executor.
"""

from .errors import CorruptImage, ImageError, SourceTooLarge, UnsupportedImage
from .formats import IMAGE_SUFFIXES, ImageFormat, is_image_name, sniff
from .geometry import fit, php_round
from .libvips import configure_libvips
from .limits import Limits
from .probe import SourceInfo, probe
from .render import Rendered, RenderOptions, render_one, render_sizes

__all__ = [
    "IMAGE_SUFFIXES",
    "CorruptImage",
    "ImageError",
    "ImageFormat",
    "Limits",
    "RenderOptions",
    "Rendered",
    "SourceInfo",
    "SourceTooLarge",
    "UnsupportedImage",
    "configure_libvips",
    "fit",
    "is_image_name",
    "php_round",
    "probe",
    "render_one",
    "render_sizes",
    "sniff",
]
