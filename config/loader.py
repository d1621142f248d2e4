"""Loading settings: TOML file, then `MEDIAPROXY_<SECTION>_<KEY>` overrides, then checks.

Every problem is collected and raised together as one ConfigError, each naming its key,
so an operator fixes a config in one pass instead of one restart per typo.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from config import coerce, magento2
from config.errors import ConfigError
from config.schema import (
    LAYOUTS,
    MVENTORY_KEYS,
    NAME,
    RESERVED_SITE_NAMES,
    SECTIONS,
    SEED_SIZES,
    SITE_KEYS,
    demo_sites,
)
from config.settings import EMBEDDED_DEFAULT, Settings, SiteSettings

MIN_KEY_LENGTH = 16  # an upload key is a bearer secret: long enough not to be guessed


def load_settings(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (None: the embedded default with one demo site) and apply overrides."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    document = _read_toml(Path(path), problems) if path is not None else {}
    unreadable = bool(problems)  # then the file's own problem is all there is to say of it
    sections = {name: _section(name, document, environ, problems) for name in SECTIONS}
    unknown = set(document) - set(SECTIONS) - {"sites"}
    problems += [f"{name}: unknown section" for name in sorted(unknown)]
    resize = sections["resize"]
    sites_doc = document.get("sites", {}) if path is not None else demo_sites()
    base_dir = Path(path).parent if path is not None else Path.cwd()
    sites = {} if unreadable else _sites(sites_doc, resize.quality, base_dir, environ, problems)
    if problems:
        raise ConfigError(problems)
    return Settings(
        server=sections["server"],
        storage=sections["storage"],
        resize=resize,
        cache=sections["cache"],
        sites=sites,
        source=str(path) if path is not None else EMBEDDED_DEFAULT,
    )


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        problems.append(f"{path}: cannot read ({error.strerror})")
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{path}: not valid TOML ({error})")
    return {}


def _section(
    name: str, document: dict[str, Any], environ: Mapping[str, str], problems: list[str]
) -> Any:
    cls, coercers = SECTIONS[name]
    table = document.get(name, {})
    if not isinstance(table, dict):
        problems.append(f"{name}: expected a table")
        table = {}
    problems += [f"{name}.{key}: unknown key" for key in sorted(set(table) - set(coercers))]
    values: dict[str, Any] = {}
    for key, convert in coercers.items():
        env_name = f"MEDIAPROXY_{name}_{key}".upper()
        raw = environ[env_name] if env_name in environ else table.get(key)
        if raw is None:
            continue
        try:
            values[key] = convert(raw)
        except ValueError as error:
            where = env_name if env_name in environ else f"{name}.{key}"
            problems.append(f"{where}: {error}")
    return cls(**values)


def _sites(
    document: Any, quality: int, base_dir: Path, environ: Mapping[str, str], problems: list[str]
) -> dict[str, SiteSettings]:
    if not isinstance(document, dict) or not document:
        problems.append("sites: at least one [sites.NAME] table with `sizes` is required")
        return {}
    sites = {}
    for name, table in document.items():
        site = _site(name, table, quality, base_dir, environ, problems)
        if site is not None:
            sites[name] = site
    _check_routes(sites, problems)
    _check_key_spaces(sites, problems)
    return sites


def _site(
    name: str,
    table: Any,
    quality: int,
    base_dir: Path,
    environ: Mapping[str, str],
    problems: list[str],
) -> SiteSettings | None:
    where = f"sites.{name}"
    if not NAME.match(name) or name in RESERVED_SITE_NAMES:
        problems.append(f"{where}: site names are letters, digits, '.', '_', '-', not reserved")
        return None
    if not isinstance(table, dict):
        problems.append(f"{where}: expected a table")
        return None
    table = dict(table)
    keys_env = table.pop("upload_keys_env", None)
    layout = table.pop("layout", "mventory")
    if layout not in LAYOUTS:
        problems.append(f"{where}.layout: one of 'mventory', 'magento2', got {layout!r}")
        return None
    own_keys = (
        MVENTORY_KEYS.keys()
        if layout == "mventory"
        else magento2.KEYS.keys() | magento2.SPECIAL_KEYS
    )
    known = set(SITE_KEYS) | set(own_keys)
    problems += [
        f"{where}.{key}: unknown key for layout {layout!r}" for key in sorted(set(table) - known)
    ]
    if layout == "mventory" and "sizes" not in table:
        problems.append(f'{where}.sizes: required, e.g. sizes = "{SEED_SIZES}"')
        return None
    values: dict[str, Any] = {"quality": quality, "layout": layout}
    converters = SITE_KEYS | (MVENTORY_KEYS if layout == "mventory" else {})
    for key, convert in converters.items():
        if key in table:
            try:
                values[key] = convert(table[key])
            except ValueError as error:
                problems.append(f"{where}.{key}: {error}")
    if any(len(key) < MIN_KEY_LENGTH for key in values.get("upload_keys", ())):
        problems.append(f"{where}.upload_keys: keys must be at least {MIN_KEY_LENGTH} characters")
    values["upload_keys"] = values.get("upload_keys", ()) + _env_keys(
        keys_env, environ, where, problems
    )
    if layout == "magento2":
        values["magento2"] = magento2.read_magento2(table, where, base_dir, environ, problems)
        values["quality"] = values["magento2"].jpeg_quality
    site = SiteSettings(name=name, **values)
    _check_site(site, where, problems)  # also when its sizes were wrong: all problems at once
    return site if layout == "magento2" or "sizes" in values else None


def _env_keys(
    env_name: Any, environ: Mapping[str, str], where: str, problems: list[str]
) -> tuple[str, ...]:
    if env_name is None:
        return ()
    if not isinstance(env_name, str) or env_name not in environ:
        problems.append(f"{where}.upload_keys_env: environment variable {env_name!r} is not set")
        return ()
    keys = coerce.to_str_list(environ[env_name])
    if any(len(key) < MIN_KEY_LENGTH for key in keys):
        problems.append(
            f"{where}.upload_keys_env: {env_name} holds a key shorter than"
            f" {MIN_KEY_LENGTH} characters"
        )
    return keys


def _check_site(site: SiteSettings, where: str, problems: list[str]) -> None:
    if site.upload_sizes not in {"sync", "background", "none"}:
        problems.append(
            f"{where}.upload_sizes: one of 'sync', 'background', 'none', got {site.upload_sizes!r}"
        )
    if site.placeholder_status not in {200, 404}:
        problems.append(f"{where}.placeholder_status: 200 or 404, got {site.placeholder_status}")
    if site.layout == "mventory" and site.placeholder and not NAME.match(site.placeholder):
        problems.append(f"{where}.placeholder: a bare file name like 'small_image.jpg'")
    if site.layout == "magento2" and site.placeholder:
        try:
            magento2.rel(site.placeholder)
        except ValueError as error:
            problems.append(f"{where}.placeholder: {error}")


def _check_routes(sites: dict[str, SiteSettings], problems: list[str]) -> None:
    """A Magento 2 URL prefix must not shadow a mventory site, nor two sites one prefix."""
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    for site in sites.values():
        if site.magento2 is None:
            continue
        first = site.magento2.url_prefix.strip("/").split("/")[0]
        if first in sites and sites[first].layout == "mventory":
            problems.append(
                f"sites.{site.name}.url_prefix: {site.magento2.url_prefix!r} hides the "
                f"mventory site {first!r} (rename one)"
            )
        route = (site.magento2.url_prefix, site.magento2.hosts)
        if route in seen:
            problems.append(
                f"sites.{site.name}.url_prefix: same prefix and hosts as site {seen[route]!r}"
                " (give each its own `hosts`)"
            )
        seen[route] = site.name


def _check_key_spaces(sites: dict[str, SiteSettings], problems: list[str]) -> None:
    """No two sites may share storage keys: an upload or delete through one would leave
    the other's sizes of that original stale, and each would take the other's keys for
    its own originals."""
    spaces = {name: _key_space(site) for name, site in sites.items()}
    names = list(spaces)
    for n, name in enumerate(names):
        for other in names[:n]:
            a, b = spaces[name], spaces[other]
            if a.startswith(b) or b.startswith(a):
                key = "key_prefix" if sites[name].magento2 is not None else "name"
                problems.append(
                    f"sites.{name}.{key}: its keys ({a}...) overlap those of site {other!r}"
                    f" ({b}...);"
                    " give each site its own key_prefix (one site can answer several hosts)"
                )


def _key_space(site: SiteSettings) -> str:
    if site.magento2 is not None:
        return site.magento2.key_prefix.strip("/") + "/"
    return f"{site.name}/"
