"""Typed settings: what a running mediaproxy is configured with, after validation.

Every field here is public interface (SPEC §7): TOML `[section] key` and the environment
override `MEDIAPROXY_<SECTION>_<KEY>` name the same thing.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from config.sizes import SizeSpec

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    request_timeout: float = 30.0
    trusted_proxies: tuple[IPNetwork, ...] = ()
    max_upload_workers: int = 1
    access_log: bool = True
    keepalive_timeout: float = 75.0
    send_timeout: float = 60.0


@dataclass(frozen=True)
class StorageSettings:
    url: str = "file:./var/media"
    endpoint_url: str = ""
    region: str = "us-east-1"
    timeout: float = 10.0
    max_connections: int = 64


@dataclass(frozen=True)
class ResizeSettings:
    dynamic: bool = True
    quality: int = 85
    max_source_bytes: int = 50_000_000
    max_source_pixels: int = 50_000_000
    workers: int = 0
    queue: int = 64
    compact_memory: bool = False
    decode_memory: int = 134_217_728
    sibling_memory: int = 67_108_864  # decodes kept for render_siblings (rendering.siblings)

    @property
    def worker_count(self) -> int:
        """`workers = 0` means one per CPU this process may use."""
        return self.workers or len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class CacheSettings:
    memory_bytes: int = 67_108_864
    max_item_bytes: int = 2_097_152
    cache_control: str = "public, max-age=31536000"
    placeholder_cache_control: str = "public, max-age=300"
    memory_ttl: float = 10.0


@dataclass(frozen=True)
class HashParams:
    """An explicit Magento 2 hash-table entry (`[sites.NAME.hashes]`): Magento's image
    parameters; None means Magento's default for that parameter (SPEC §9)."""

    width: int | None = None
    height: int | None = None
    keep_aspect_ratio: bool | None = None
    keep_frame: bool | None = None
    constrain_only: bool | None = None
    keep_transparency: bool | None = None
    background: tuple[int, int, int] | None = None
    quality: int | None = None


@dataclass(frozen=True)
class Magento2Settings:
    """What a `layout = "magento2"` site adds (SPEC §9). `crypt_key` is the value of the
    `crypt_key_env` variable (never written in the TOML); `view_xml` paths are absolute."""

    url_prefix: str = "/media/catalog/product"
    key_prefix: str = "media/catalog/product"
    hosts: tuple[str, ...] = ()
    view_xml: tuple[Path, ...] = ()
    crypt_key: str | None = field(default=None, repr=False)
    magento_version: str = "2.4"
    jpeg_quality: int = 80
    white_borders: bool | None = None
    url_format: str = "hash"
    placeholders: tuple[tuple[str, str], ...] = ()
    hashes: tuple[tuple[str, HashParams], ...] = ()


@dataclass(frozen=True)
class SiteSettings:
    name: str
    sizes: tuple[SizeSpec, ...] = ()
    placeholder: str | None = None
    placeholder_status: int = 404
    upload_keys: tuple[str, ...] = ()
    upload_allow: tuple[IPNetwork, ...] = LOOPBACK
    upload_sizes: str = "sync"
    quality: int = 85
    frame: bool = False
    upscale: bool = False
    background: tuple[int, int, int] = (255, 255, 255)
    layout: str = "mventory"
    magento2: Magento2Settings | None = None
    # SPEC §10: variants negotiated from Accept, in order of preference ("avif", "webp").
    formats: tuple[str, ...] = ()
    webp_quality: int = 80
    avif_quality: int = 50
    avif_effort: int = 2  # libvips heifsave effort 0-9: 2 is ~6x faster than 4, ~8 % bigger
    # On an original's first miss, also render the sizes its decode gives almost for free
    # and store them in the background (rendering.siblings; README "Performance").
    render_siblings: bool = True

    def size(self, text: str) -> SizeSpec | None:
        """The configured spec spelled exactly `text`, or None (an unconfigured dim)."""
        return self._by_text.get(text)

    @cached_property
    def _by_text(self) -> dict[str, SizeSpec]:
        return {spec.text: spec for spec in self.sizes}


EMBEDDED_DEFAULT = "embedded default"


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    resize: ResizeSettings = field(default_factory=ResizeSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    sites: dict[str, SiteSettings] = field(default_factory=dict)
    source: str = EMBEDDED_DEFAULT  # the config file read, or this

    @property
    def embedded(self) -> bool:
        """No config file: the demo site of a first run (its sample is seeded)."""
        return self.source == EMBEDDED_DEFAULT
