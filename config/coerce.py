"""Turning TOML values and environment strings into typed setting values.

Each function raises ValueError with a message that completes `"<key>: "`; the loader
adds the key and collects the message instead of stopping at the first one.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any
from urllib.parse import urlsplit

from config.settings import IPNetwork

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def to_int(value: Any, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    try:
        number = int(str(value).replace("_", "")) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        raise ValueError(f"must be between {minimum}{upper or ' and more'}, got {number}")
    return number


def to_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"must be a number above 0, got {number}")
    return number


def to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def to_http_url(value: Any) -> str:
    """An http(s) URL with a host, or "" (none: the backend's default)."""
    text = to_str(value)
    parts = urlsplit(text)
    if text and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValueError(f"expected an http:// or https:// URL with a host, got {text!r}")
    return text


def to_str_list(value: Any) -> tuple[str, ...]:
    """A TOML list of strings, or a comma-separated string (the environment's form)."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError(f"expected a list of strings, got {value!r}")


FORMATS = ("avif", "webp")  # in the order a browser's Accept is honoured (SPEC §10)


def to_formats(value: Any) -> tuple[str, ...]:
    """`["webp", "avif"]` → ("avif", "webp"): the preference order is fixed, not the list's."""
    names = to_str_list(value)
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not one of {', '.join(map(repr, FORMATS))}")
    return tuple(name for name in FORMATS if name in names)


def to_networks(value: Any) -> tuple[IPNetwork, ...]:
    networks = []
    for text in to_str_list(value):
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not an address or CIDR like 10.0.0.0/8") from None
    return tuple(networks)


def to_rgb(value: Any) -> tuple[int, int, int]:
    text = to_str(value).lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"expected a colour like '#ffffff', got {value!r}")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
