"""Settings for mediaproxy: TOML + environment, validated, typed. Imports nothing else of ours."""

from config.errors import ConfigError
from config.loader import load_settings
from config.schema import DEMO_SAMPLE, DEMO_SITE, SEED_SIZES
from config.settings import (
    CacheSettings,
    ResizeSettings,
    ServerSettings,
    Settings,
    SiteSettings,
    StorageSettings,
)
from config.sizes import SizeSpec, parse_sizes

__all__ = [
    "DEMO_SAMPLE",
    "DEMO_SITE",
    "SEED_SIZES",
    "CacheSettings",
    "ConfigError",
    "ResizeSettings",
    "ServerSettings",
    "Settings",
    "SiteSettings",
    "SizeSpec",
    "StorageSettings",
    "load_settings",
    "parse_sizes",
]
