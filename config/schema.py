"""What a config file may say: each section's keys and how each value is read.

The loader (config.loader) walks these tables, so a new setting is one line here plus
its field and default in config.settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from config import coerce
from config.settings import CacheSettings, ResizeSettings, ServerSettings, StorageSettings
from config.sizes import parse_sizes
from config.storageurl import checked_storage_url

Coercer = Callable[[Any], Any]
SEED_SIZES = "300x, 300x300, 70x70, 170x170, 215x170, 65x65, 310x, 210x, 90x"
DEMO_SITE = "demo"
DEMO_SAMPLE = "s/a/sample.jpg"  # the original the embedded default seeds, below the site
RESERVED_SITE_NAMES = {"healthz", "readyz", "metrics"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

SECTIONS: dict[str, tuple[type, dict[str, Coercer]]] = {
    "server": (
        ServerSettings,
        {
            "host": coerce.to_str,
            "port": partial(coerce.to_int, minimum=0, maximum=65535),
            "request_timeout": coerce.to_float,
            "trusted_proxies": coerce.to_networks,
            "max_upload_workers": partial(coerce.to_int, minimum=1, maximum=256),
            "access_log": coerce.to_bool,
            "keepalive_timeout": coerce.to_float,
            "send_timeout": coerce.to_float,
        },
    ),
    "storage": (
        StorageSettings,
        {
            "url": checked_storage_url,
            "endpoint_url": coerce.to_http_url,
            "region": coerce.to_str,
            "timeout": coerce.to_float,
            "max_connections": partial(coerce.to_int, minimum=1, maximum=4096),
        },
    ),
    "resize": (
        ResizeSettings,
        {
            "dynamic": coerce.to_bool,
            "quality": partial(coerce.to_int, minimum=1, maximum=100),
            "max_source_bytes": partial(coerce.to_int, minimum=1),
            "max_source_pixels": partial(coerce.to_int, minimum=1),
            "workers": partial(coerce.to_int, minimum=0, maximum=1024),
            "queue": partial(coerce.to_int, minimum=0),
            "compact_memory": coerce.to_bool,
            "decode_memory": partial(coerce.to_int, minimum=0),
            "sibling_memory": partial(coerce.to_int, minimum=0),
        },
    ),
    "cache": (
        CacheSettings,
        {
            "memory_bytes": partial(coerce.to_int, minimum=0),
            "max_item_bytes": partial(coerce.to_int, minimum=0),
            "cache_control": coerce.to_str,
            "placeholder_cache_control": coerce.to_str,
            "memory_ttl": coerce.to_float,
        },
    ),
}

SITE_KEYS: dict[str, Coercer] = {
    "placeholder": coerce.to_str,
    "placeholder_status": partial(coerce.to_int, minimum=200, maximum=404),
    "upload_keys": coerce.to_str_list,
    "upload_allow": coerce.to_networks,
    "upload_sizes": coerce.to_str,
    "formats": coerce.to_formats,
    "webp_quality": partial(coerce.to_int, minimum=1, maximum=100),
    "avif_quality": partial(coerce.to_int, minimum=1, maximum=100),
    "avif_effort": partial(coerce.to_int, minimum=0, maximum=9),
    "render_siblings": coerce.to_bool,
}
MVENTORY_KEYS: dict[str, Coercer] = {
    "sizes": parse_sizes,
    "quality": partial(coerce.to_int, minimum=1, maximum=100),
    "frame": coerce.to_bool,
    "upscale": coerce.to_bool,
    "background": coerce.to_rgb,
}
LAYOUTS = ("mventory", "magento2")


def demo_sites() -> dict[str, Any]:
    """The embedded default's one site, when no config file is given."""
    return {DEMO_SITE: {"sizes": SEED_SIZES + ", 1200x", "placeholder": "placeholder.jpg"}}
