"""A Magento 2 site's hash table from its settings: view.xml files and the crypt key,
plus explicit `[sites.NAME.hashes]` entries (which win over computed ones)."""

from __future__ import annotations

from config import SiteSettings
from config.settings import HashParams, Magento2Settings
from layouts.magento2.hashes import (
    CATALOG_DEFAULT_WHITE_BORDERS,
    DEFAULT_BACKGROUND,
    HashEntry,
    ImageParams,
    build_table,
)
from layouts.magento2.viewxml import ViewXmlError, read_view_xml


def hash_table(site: SiteSettings) -> tuple[dict[str, HashEntry], list[str]]:
    """The table, and every problem found (each naming its key) instead of raising."""
    settings = site.magento2
    assert settings is not None
    where = f"sites.{site.name}"
    problems: list[str] = []
    table: dict[str, HashEntry] = {}
    white_borders = settings.white_borders
    if settings.view_xml:
        try:
            view = read_view_xml(settings.view_xml)
            table = build_table(
                view,
                crypt_key=settings.crypt_key,
                magento_version=settings.magento_version,
                jpeg_quality=settings.jpeg_quality,
                white_borders=settings.white_borders,
            )
            if white_borders is None:
                white_borders = view.white_borders
        except (ViewXmlError, ValueError) as error:
            problems.append(f"{where}.view_xml: {error}")
    for entry in table.values():
        if entry.params.unsupported:
            ids = ", ".join(entry.image_ids)
            problems.append(f"{where}.view_xml: image {ids}: {entry.params.unsupported}")
    frame = CATALOG_DEFAULT_WHITE_BORDERS if white_borders is None else white_borders
    for digest, explicit in settings.hashes:
        params = explicit_params(explicit, settings, default_frame=frame)
        table[digest] = HashEntry(digest, params, ("explicit",), ())
    return table, problems


def explicit_params(
    explicit: HashParams, settings: Magento2Settings, *, default_frame: bool
) -> ImageParams:
    """An explicit entry with Magento's defaults (ParamsBuilder) for what it leaves out."""
    return ImageParams(
        width=explicit.width,
        height=explicit.height,
        keep_aspect_ratio=_or(explicit.keep_aspect_ratio, True),
        keep_frame=_or(explicit.keep_frame, default_frame),
        constrain_only=_or(explicit.constrain_only, True),
        keep_transparency=_or(explicit.keep_transparency, True),
        background=explicit.background or DEFAULT_BACKGROUND,
        quality=explicit.quality or settings.jpeg_quality,
    )


def _or(value: bool | None, default: bool) -> bool:
    return default if value is None else value
