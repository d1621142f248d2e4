"""The Magento 2 layout (SPEC §9).

viewxml.py  reads and merges a theme's view.xml files as Magento's own reader does
hashes.py   turns the merged images into Magento's ``catalog/product/cache/{hash}`` table
layout.py   the URL <-> key grammar built on that table (not re-exported here)

viewxml and hashes are stdlib-only, so the config layer, the server and the CLI can share them.
"""

from layouts.magento2.hashes import (
    MAGENTO_VERSIONS,
    HashEntry,
    ImageParams,
    Watermark,
    build_table,
    hash_of,
    params_for,
    readable,
    signing_key,
    uses_crypt_key,
)
from layouts.magento2.viewxml import ImageEntry, ViewConfig, ViewXmlError, read_view_xml

__all__ = [
    "MAGENTO_VERSIONS",
    "HashEntry",
    "ImageEntry",
    "ImageParams",
    "ViewConfig",
    "ViewXmlError",
    "Watermark",
    "build_table",
    "hash_of",
    "params_for",
    "read_view_xml",
    "readable",
    "signing_key",
    "uses_crypt_key",
]
