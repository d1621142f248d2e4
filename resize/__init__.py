"""Pure libvips work: sniff, probe and resize product images with Magento geometry.

No aiohttp or asyncio here, and nothing of ours outside this package: callers run these
blocking functions in their own executor and describe each output as a RenderParams.
"""

from .errors import CorruptImage, ImageError, SourceTooLarge, UnsupportedImage
from .formats import IMAGE_SUFFIXES, ImageFormat, is_image_name, sniff
from .geometry import Placement, fit, php_round, place
from .libvips import configure_libvips
from .limits import Limits
from .params import RenderParams
from .probe import SourceInfo, probe, read_header
from .render import Decoder, Rendered, render_many, render_single

__all__ = [
    "IMAGE_SUFFIXES",
    "CorruptImage",
    "Decoder",
    "ImageError",
    "ImageFormat",
    "Limits",
    "Placement",
    "RenderParams",
    "Rendered",
    "SourceInfo",
    "SourceTooLarge",
    "UnsupportedImage",
    "configure_libvips",
    "fit",
    "is_image_name",
    "php_round",
    "place",
    "probe",
    "read_header",
    "render_many",
    "render_single",
    "sniff",
]
