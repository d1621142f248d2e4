"""The keys a `layout = "magento2"` site adds (SPEC §9), read into Magento2Settings.

Only the settings are read here. Reading the view.xml files and computing the hash table
is the layouts package's work; `mediaproxy config check` runs both and reports every
problem of either at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from config import coerce
from config.settings import HashParams, Magento2Settings

# The same list as layouts.magento2.hashes.MAGENTO_VERSIONS (a test keeps them equal).
VERSIONS = ("2.3.0", "2.3", "2.4", "2.4.7", "2.4.8")
URL_FORMATS = ("hash", "query", "both")
_HASH = re.compile(r"[0-9a-f]{32}")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*")
HASH_KEYS: dict[str, Callable[[Any], Any]] = {
    "width": partial(coerce.to_int, minimum=1, maximum=10_000),
    "height": partial(coerce.to_int, minimum=1, maximum=10_000),
    "keep_aspect_ratio": coerce.to_bool,
    "keep_frame": coerce.to_bool,
    "constrain_only": coerce.to_bool,
    "keep_transparency": coerce.to_bool,
    "background": coerce.to_rgb,
    "quality": partial(coerce.to_int, minimum=1, maximum=100),
}
UNSUPPORTED_HASH_KEYS = {"angle", "rotate", "watermark", "watermark_file"}


def _prefix(value: Any, *, leading_slash: bool) -> str:
    text = coerce.to_str(value).strip()
    body = text.removeprefix("/") if leading_slash else text
    if (leading_slash and not text.startswith("/")) or (not leading_slash and text.startswith("/")):
        where = "start with '/'" if leading_slash else "not start with '/'"
        raise ValueError(f"must {where}, got {value!r}")
    if not all(_PREFIX_SEGMENT.fullmatch(part) for part in body.split("/")):
        raise ValueError(f"expected path segments like 'media/catalog/product', got {value!r}")
    return text


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"one of {', '.join(map(repr, choices))}, got {value!r}")
        return str(value)

    return convert


def rel(value: Any) -> str:
    text = coerce.to_str(value)
    if not _REL.fullmatch(text):
        raise ValueError(f"a path relative to key_prefix like 'placeholder/x.jpg', got {value!r}")
    return text


def _placeholders(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError('expected a table like { small_image = "placeholder/small_image.jpg" }')
    return tuple((str(kind), rel(path)) for kind, path in value.items())


KEYS: dict[str, Callable[[Any], Any]] = {
    "url_prefix": partial(_prefix, leading_slash=True),
    "key_prefix": partial(_prefix, leading_slash=False),
    "hosts": lambda value: tuple(host.lower() for host in coerce.to_str_list(value)),
    "magento_version": _one_of(VERSIONS),
    "jpeg_quality": partial(coerce.to_int, minimum=1, maximum=100),
    "white_borders": coerce.to_bool,
    "url_format": _one_of(URL_FORMATS),
    "placeholders": _placeholders,
}
SPECIAL_KEYS = {"view_xml", "crypt_key_env", "hashes"}


def read_magento2(
    table: dict[str, Any],
    where: str,
    base_dir: Path,
    environ: Mapping[str, str],
    problems: list[str],
) -> Magento2Settings:
    """The magento2 keys of one site table (the caller has checked for unknown keys)."""
    values: dict[str, Any] = {}
    for key, convert in KEYS.items():
        if key in table:
            try:
                values[key] = convert(table[key])
            except ValueError as error:
                problems.append(f"{where}.{key}: {error}")
    if "view_xml" in table:
        try:
            paths = coerce.to_str_list(table["view_xml"])
            values["view_xml"] = tuple((base_dir / path).resolve() for path in paths)
        except ValueError as error:
            problems.append(f"{where}.view_xml: {error}")
    env_name = table.get("crypt_key_env")
    if env_name is not None:
        if not isinstance(env_name, str) or not environ.get(env_name, "").strip():
            problems.append(
                f"{where}.crypt_key_env: environment variable {env_name!r} is not set "
                "(env.php crypt/key; or give explicit [sites.NAME.hashes] entries)"
            )
        else:
            values["crypt_key"] = environ[env_name]
    values["hashes"] = _hashes(table.get("hashes", {}), f"{where}.hashes", problems)
    settings = Magento2Settings(**values)
    keyless = settings.magento_version == "2.4.8"  # 2.4.8 hashes without the crypt key
    if settings.view_xml and settings.crypt_key is None and env_name is None and not keyless:
        problems.append(f"{where}.crypt_key_env: required with view_xml (hashes need the key)")
    if not settings.view_xml and not settings.hashes:
        problems.append(f"{where}: give view_xml (+ crypt_key_env) and/or [{where}.hashes] entries")
    return settings


def _hashes(table: Any, where: str, problems: list[str]) -> tuple[tuple[str, HashParams], ...]:
    if not isinstance(table, dict):
        problems.append(f"{where}: expected a table of hash = {{ width = ..., height = ... }}")
        return ()
    entries = []
    for digest, params in table.items():
        at = f"{where}.{digest}"
        if not _HASH.fullmatch(digest):
            problems.append(f"{at}: a hash is 32 lowercase hex characters")
            continue
        if not isinstance(params, dict):
            problems.append(f"{at}: expected a table like {{ width = 240, height = 300 }}")
            continue
        values = {}
        for key, value in params.items():
            if key in UNSUPPORTED_HASH_KEYS:
                problems.append(
                    f"{at}.{key}: not supported (mediaproxy does not rotate or watermark)"
                )
            elif key not in HASH_KEYS:
                problems.append(f"{at}.{key}: unknown key (known: {', '.join(HASH_KEYS)})")
            else:
                try:
                    values[key] = HASH_KEYS[key](value)
                except ValueError as error:
                    problems.append(f"{at}.{key}: {error}")
        entries.append((digest, HashParams(**values)))
    return tuple(entries)
