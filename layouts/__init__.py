"""URL ↔ storage key grammars. Nothing outside this package spells a key.

base.py      Size, ImageRequest, SiteLayout: originals_prefix + rel, size.prefix + rel
mventory.py  /{site}/{dim}/{rel} (Magento 1 / mVentory): the URL path is the key
router.py    which site a request target (path, query, Host) belongs to
segments.py  what a relative image path may contain
errors.py    BadPath (400), UnknownImage (404), NotAnImage (415)
"""

from layouts.base import ImageRequest, SiteLayout, Size
from layouts.errors import BadPath, LayoutError, NotAnImage, UnknownImage
from layouts.mventory import FULL, MventoryLayout
from layouts.router import LayoutConfigError, Router, build_layout
from layouts.segments import parse_rel, valid_rel

__all__ = [
    "FULL",
    "BadPath",
    "ImageRequest",
    "LayoutConfigError",
    "LayoutError",
    "MventoryLayout",
    "NotAnImage",
    "Router",
    "SiteLayout",
    "Size",
    "UnknownImage",
    "build_layout",
    "parse_rel",
    "valid_rel",
]
