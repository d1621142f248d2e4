"""Magento 2 image-cache hashes (layouts/magento2) against rules read in Magento's source.

Every expected readable string below is written out by hand from Magento's code
(ParamsBuilder::build, View/Asset/Image::convertToReadableFormat, ImageExtractor::process);
none is produced by the code under test. Expected hashes are computed here with hmac/hashlib
over those literal strings, so a bug in the string builder cannot hide on both sides.

Fixtures in tests/fixtures/magento2/ are our own minimal files holding the facts these
view.xml files declare (image ids, types, sizes, flags and the white-borders var), written
from (no code or comments copied):
  luma_view.xml          magento/magento2 2f6e8b1af23cebc713dff345be0b39ed7c83569a
                         app/design/frontend/Magento/luma/etc/view.xml
  blank_view.xml         magento/magento2 f6d1b99fa6078c9ea173080b4139649319bc3486
                         app/design/frontend/Magento/blank/etc/view.xml
  catalog_view.xml       magento/magento2 a2d43394c7993f26d0a7d788f345009cb8291698
                         app/code/Magento/Catalog/etc/view.xml
  swatches_view.xml      magento/magento2 93db5b000011857f9834f04baff7267dbb416fb4
                         app/code/Magento/Swatches/etc/view.xml
  luma_view_mageos.xml   mage-os/mageos-magento2 ba99544f29957fe283b21c60cc6ef16f9f694e0b
                         app/design/frontend/Magento/luma/etc/view.xml (the current 2.4 line:
                         product_image_white_borders = 1; the magento/magento2 copy is older, 0)

Magento's merge order for Luma (Framework/Config/View::read): the parent theme (Blank) first,
then every module's etc/view.xml, then Luma itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from layouts.magento2 import (
    HashEntry,
    ImageParams,
    ViewConfig,
    ViewXmlError,
    Watermark,
    build_table,
    hash_of,
    params_for,
    read_view_xml,
    readable,
    signing_key,
)

FIXTURES = Path(__file__).parent / "fixtures" / "magento2"
KEY = "0123456789abcdef0123456789abcdef"
LUMA_FILES = ("blank_view.xml", "catalog_view.xml", "swatches_view.xml", "luma_view.xml")
LUMA_ORDER = [FIXTURES / name for name in LUMA_FILES]

# Blank's ids first (array_replace_recursive keeps the first position), then the ids the
# module files and Luma add. Luma (2f6e8b1) sets product_image_white_borders = 0: noframe.
STOCK_LUMA: tuple[tuple[str, str, str], ...] = (
    (
        "bundled_product_customization_page",
        "thumbnail",
        "h:140_w:140_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "cart_cross_sell_products",
        "thumbnail",
        "h:248_w:200_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "cart_page_product_thumbnail",
        "small_image",
        "h:165_w:165_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "category_page_grid",
        "small_image",
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "category_page_list",
        "small_image",
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "customer_account_my_tags_tag_view",
        "small_image",
        "h:100_w:100_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "customer_account_product_review_page",
        "image",
        "h:285_w:285_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "customer_shared_wishlist",
        "small_image",
        "h:113_w:113_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "gift_messages_checkout_small_image",
        "small_image",
        "h:75_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "gift_messages_checkout_thumbnail",
        "thumbnail",
        "h:100_w:100_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "mini_cart_product_thumbnail",
        "thumbnail",
        "h:75_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "new_products_content_widget_grid",
        "small_image",
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "new_products_content_widget_list",
        "small_image",
        "h:340_w:270_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "new_products_images_only_widget",
        "small_image",
        "h:78_w:78_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_base_image",
        "image",
        "h:265_w:265_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_comparison_list",
        "small_image",
        "h:140_w:140_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_page_image_large",
        "image",
        "h:empty_w:empty_rgb255,255,255_r:empty_q:80_"
        "proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_page_image_medium",
        "image",
        "h:560_w:700_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_page_image_small",
        "thumbnail",
        "h:110_w:88_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_page_main_image",
        "image",
        "h:560_w:700_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_page_main_image_default",
        "image",
        "h:560_w:700_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_page_more_views",
        "thumbnail",
        "h:110_w:88_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_stock_alert_email_product_image",
        "small_image",
        "h:76_w:76_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_small_image",
        "small_image",
        "h:135_w:135_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_thumbnail_image",
        "thumbnail",
        "h:75_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "recently_compared_products_grid_content_widget",
        "small_image",
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "recently_compared_products_images_names_widget",
        "thumbnail",
        "h:90_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "recently_compared_products_images_only_widget",
        "thumbnail",
        "h:76_w:76_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "recently_compared_products_list_content_widget",
        "small_image",
        "h:340_w:270_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "recently_viewed_products_grid_content_widget",
        "small_image",
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "recently_viewed_products_images_names_widget",
        "small_image",
        "h:90_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "recently_viewed_products_images_only_widget",
        "small_image",
        "h:76_w:76_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "recently_viewed_products_list_content_widget",
        "small_image",
        "h:340_w:270_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "related_products_list",
        "small_image",
        "h:190_w:152_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "review_page_product_image",
        "small_image",
        "h:285_w:285_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "rss_thumbnail",
        "thumbnail",
        "h:75_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "sendfriend_small_image",
        "small_image",
        "h:75_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "shared_wishlist_email",
        "small_image",
        "h:135_w:135_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "side_column_widget_product_thumbnail",
        "thumbnail",
        "h:90_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "upsell_products_list",
        "small_image",
        "h:190_w:152_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "wishlist_sidebar_block",
        "thumbnail",
        "h:90_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "wishlist_small_image",
        "small_image",
        "h:113_w:113_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "wishlist_thumbnail",
        "small_image",
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "swatch_image",
        "swatch_image",
        "h:20_w:30_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "swatch_thumb",
        "swatch_thumb",
        "h:90_w:110_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "swatch_image_base",
        "swatch_image",
        "h:20_w:30_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "swatch_thumb_base",
        "swatch_thumb",
        "h:90_w:110_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "category_page_grid-1",
        "small_image",
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_page_image_large_no_frame",
        "image",
        "h:empty_w:empty_rgb255,255,255_r:empty_q:80_"
        "proportional_noframe_transparency_doconstrainonly",
    ),
    (
        "product_page_image_medium_no_frame",
        "image",
        "h:700_w:700_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
    ),
)


def hmac_md5(text: str, key: bytes = KEY.encode()) -> str:
    return hmac.new(key, text.encode(), hashlib.md5).hexdigest()


def by_id(table: dict[str, HashEntry]) -> dict[str, str]:
    return {image_id: digest for digest, entry in table.items() for image_id in entry.image_ids}


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    xsi = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    path.write_text(f'<?xml version="1.0"?>\n<view {xsi}>{body}</view>\n', encoding="utf-8")
    return path


def images(*entries: str, module: str = "Magento_Catalog") -> str:
    return f'<media><images module="{module}">{"".join(entries)}</images></media>'


def one(tmp_path: Path, body: str) -> str:
    """The readable string of the only image in a one-file view (written to view.xml)."""
    view = read_view_xml([write(tmp_path, "view.xml", body)])
    table = build_table(view, crypt_key=KEY, magento_version="2.4")
    (entry,) = table.values()
    return readable(entry.params)


def test_every_stock_luma_image_hashes_as_magento() -> None:
    view = read_view_xml(LUMA_ORDER)
    table = build_table(view, crypt_key=KEY, magento_version="2.4")
    assert view.white_borders is False
    assert list(view.images) == [image_id for image_id, _, _ in STOCK_LUMA]
    hashes = by_id(table)
    for image_id, image_type, text in STOCK_LUMA:
        assert view.images[image_id].image_type == image_type
        assert hashes[image_id] == hmac_md5(text), image_id
        assert readable(table[hashes[image_id]].params) == text
    expected: dict[str, list[str]] = {}
    for image_id, _, text in STOCK_LUMA:
        expected.setdefault(hmac_md5(text), []).append(image_id)
    assert [(digest, list(entry.image_ids)) for digest, entry in table.items()] == list(
        expected.items()
    )


def test_table_entries_group_types_and_keep_magento_params() -> None:
    table = build_table(read_view_xml(LUMA_ORDER), crypt_key=KEY, magento_version="2.4")
    text = "h:75_w:75_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly"
    entry = table[hmac_md5(text)]
    assert entry.image_types == ("small_image", "thumbnail")
    assert entry.params == ImageParams(width=75, height=75, keep_frame=False)
    assert entry.params.resizes
    large = table[by_id(table)["product_page_image_large"]]
    assert large.image_ids == ("product_page_image_large", "product_page_image_large_no_frame")
    assert not large.params.resizes  # ImageResize resizes only when both sides are set


def test_modules_then_theme_without_the_parent_gives_the_same_hashes() -> None:
    view = read_view_xml(LUMA_ORDER[1:])
    assert list(view.images)[:4] == [
        "swatch_image",
        "swatch_thumb",
        "swatch_image_base",
        "swatch_thumb_base",
    ]
    hashes = by_id(build_table(view, crypt_key=KEY, magento_version="2.4"))
    assert hashes == {image_id: hmac_md5(text) for image_id, _, text in STOCK_LUMA}


def test_white_borders_override_on_keeps_explicit_frame_false() -> None:
    view = read_view_xml(LUMA_ORDER)
    hashes = by_id(build_table(view, crypt_key=KEY, magento_version="2.4", white_borders=True))
    framed = (
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_frame_transparency_doconstrainonly"
    )
    assert hashes["category_page_grid"] == hmac_md5(framed)
    large = (
        "h:empty_w:empty_rgb255,255,255_r:empty_q:80_"
        "proportional_frame_transparency_doconstrainonly"
    )
    no_frame = (
        "h:empty_w:empty_rgb255,255,255_r:empty_q:80_"
        "proportional_noframe_transparency_doconstrainonly"
    )
    assert hashes["product_page_image_large"] == hmac_md5(large)
    assert hashes["product_page_image_large_no_frame"] == hmac_md5(no_frame)


def test_current_luma_frames_by_default_and_override_off_removes_it() -> None:
    view = read_view_xml([FIXTURES / "catalog_view.xml", FIXTURES / "luma_view_mageos.xml"])
    assert view.white_borders is True
    # SPEC §9's own example string, for Luma's category_page_grid.
    framed = (
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_frame_transparency_doconstrainonly"
    )
    hashes = by_id(build_table(view, crypt_key=KEY, magento_version="2.4"))
    assert hashes["category_page_grid"] == hmac_md5(framed)
    off = by_id(build_table(view, crypt_key=KEY, magento_version="2.4", white_borders=False))
    unframed = (
        "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly"
    )
    assert off["category_page_grid"] == hmac_md5(unframed)


def test_white_borders_var_and_catalog_default() -> None:
    assert read_view_xml([FIXTURES / "catalog_view.xml"]).white_borders is True
    assert read_view_xml([FIXTURES / "blank_view.xml"]).white_borders is False
    swatches = read_view_xml([FIXTURES / "swatches_view.xml"])
    assert swatches.white_borders is None  # no file sets it: Magento_Catalog's own 1 applies
    hashes = by_id(build_table(swatches, crypt_key=KEY, magento_version="2.4"))
    text = "h:20_w:30_rgb255,255,255_r:empty_q:80_proportional_frame_transparency_doconstrainonly"
    assert hashes["swatch_image"] == hmac_md5(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("0", False), ("false", False), ("FALSE", False), ("true", True), ("no", True)],
)
def test_white_borders_var_is_cast_like_php(tmp_path: Path, value: str, expected: bool) -> None:
    # Converter::parseVarElement turns only true/false (any case) into booleans; ParamsBuilder
    # then applies (bool): '0' is false, every other non-empty string ('no'!) is true.
    var = f'<var name="product_image_white_borders">{value}</var>'
    body = f'<vars module="Magento_Catalog">{var}</vars>'
    assert read_view_xml([write(tmp_path, "v.xml", body)]).white_borders is expected


def test_jpeg_quality_goes_into_the_string(tmp_path: Path) -> None:
    view = read_view_xml([FIXTURES / "swatches_view.xml"])
    hashes = by_id(build_table(view, crypt_key=KEY, magento_version="2.4", jpeg_quality=90))
    text = "h:90_w:110_rgb255,255,255_r:empty_q:90_proportional_frame_transparency_doconstrainonly"
    assert hashes["swatch_thumb"] == hmac_md5(text)


def test_missing_and_nil_elements(tmp_path: Path) -> None:
    body = images(
        '<image id="a" type="small_image"><width>240</width><height xsi:nil="true"/></image>',
        '<image id="b" type="image"><frame xsi:nil="true"/><constrain>0</constrain>'
        "<aspect_ratio>false</aspect_ratio><transparency>1</transparency>"
        "<background>[10, 20,30]</background></image>",
        # (bool)'false' is true in PHP, so xsi:nil="false" still means nil.
        '<image id="c" type="thumbnail"><width> 100 </width><height>50</height>'
        '<frame xsi:nil="false">true</frame></image>',
        '<image id="d" type="thumbnail"><width>10</width><height>10</height>'
        '<frame xsi:nil="0">true</frame></image>',
    )
    view = read_view_xml([write(tmp_path, "v.xml", body)])
    a, b, c, d = view.images.values()
    assert (a.width, a.height, a.frame) == (240, None, None)
    assert (b.frame, b.constrain, b.aspect_ratio, b.transparency) == (None, False, False, True)
    assert b.background == (10, 20, 30)
    assert (c.width, c.frame) == (100, None)
    assert d.frame is True
    table = build_table(view, crypt_key=KEY, magento_version="2.4", white_borders=False)
    texts = [readable(entry.params) for entry in table.values()]
    assert texts == [
        "h:empty_w:240_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
        "h:empty_w:empty_rgb10,20,30_r:empty_q:80_nonproportional_noframe_transparency_notconstrainonly",
        "h:50_w:100_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly",
        "h:10_w:10_rgb255,255,255_r:empty_q:80_proportional_frame_transparency_doconstrainonly",
    ]
    assert list(table) == [hmac_md5(text) for text in texts]


def test_flags_are_true_only_for_the_exact_strings_true_and_1(tmp_path: Path) -> None:
    # ImageExtractor: in_array($nodeValue, [true, 1, 'true', '1'], true). XSD-valid ' true '
    # (whitespace) is therefore false in Magento.
    body = images('<image id="x" type="image"><frame> true </frame></image>')
    assert read_view_xml([write(tmp_path, "v.xml", body)]).images["x"].frame is False


def test_theme_overrides_one_element_of_a_module_image(tmp_path: Path) -> None:
    module = write(
        tmp_path,
        "module.xml",
        images(
            '<image id="grid" type="small_image"><width>100</width><height>100</height>'
            "<frame>true</frame><background>[1,2,3]</background></image>",
            '<image id="list" type="small_image"><width>200</width><height>100</height></image>',
        ),
    )
    theme = write(
        tmp_path,
        "theme.xml",
        images(
            '<image id="new" type="thumbnail"><width>5</width><height>5</height></image>',
            '<image id="grid" type="small_image"><height>50</height></image>',
            '<image id="list"><width xsi:nil="true"/></image>',
        ),
    )
    view = read_view_xml([module, theme])
    assert list(view.images) == ["grid", "list", "new"]
    grid, lst = view.images["grid"], view.images["list"]
    assert (grid.width, grid.height, grid.frame, grid.background) == (100, 50, True, (1, 2, 3))
    assert (lst.width, lst.height) == (None, 100)
    assert lst.image_type == ""  # a later <image> without type stores type '' (getAttribute)
    assert one_of(view, "grid") == (
        "h:50_w:100_rgb1,2,3_r:empty_q:80_proportional_frame_transparency_doconstrainonly"
    )
    assert one_of(view, "list") == (
        "h:100_w:empty_rgb255,255,255_r:empty_q:80_proportional_noframe_transparency_doconstrainonly"
    )


def one_of(view: ViewConfig, image_id: str) -> str:
    """The readable string of one image of a view, frame default off."""
    params = params_for(view.images[image_id], white_borders=False, jpeg_quality=80)
    return readable(params)


def test_other_modules_and_old_layout_are_not_product_images(tmp_path: Path) -> None:
    body = (
        images(
            '<image id="v" type="image"><width>1</width><height>1</height></image>',
            module="Vendor_X",
        )
        + '<images module="Magento_Catalog"><image id="old" type="image"/></images>'
        + images('<image id="p" type="image"><width>2</width><height>2</height></image>')
    )
    view = read_view_xml([write(tmp_path, "v.xml", body)])
    assert list(view.images) == ["p"]
    assert any("Vendor_X" in note for note in view.ignored)
    assert any("top-level <images>" in note for note in view.ignored)


def test_legacy_key_several_keys_and_empty_key() -> None:
    assert signing_key(KEY, "2.4") == KEY.encode()
    several = f"  oldkey00000000000000000000000001\n\toldkey2 \r\n{KEY}\n"
    assert signing_key(several, "2.3") == KEY.encode()
    params = ImageParams(width=240, height=300)
    text = "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_frame_transparency_doconstrainonly"
    assert hash_of(params, signing_key(several, "2.4")) == hmac_md5(text)
    for empty in ("", "  \n\t", "0", f"{KEY}\f"):  # PHP trim() keeps \f; empty('0') is true
        with pytest.raises(ValueError, match="crypt key is empty"):
            signing_key(empty, "2.4")


def test_2_4_7_decodes_base64_keys_only_there() -> None:
    raw = bytes(range(32))
    key = "base64" + base64.b64encode(raw).decode()
    assert signing_key(key, "2.4.7") == raw
    assert signing_key(key, "2.4") == key.encode()
    assert signing_key(f"{KEY} {key}", "2.4.7") == raw
    assert signing_key(KEY, "2.4.7") == KEY.encode()
    params = ImageParams(width=240, height=300)
    text = "h:300_w:240_rgb255,255,255_r:empty_q:80_proportional_frame_transparency_doconstrainonly"
    assert hash_of(params, signing_key(key, "2.4.7")) == hmac_md5(text, raw)
    with pytest.raises(ValueError, match="not base64"):
        signing_key("base64***", "2.4.7")


def test_2_4_8_hashes_without_the_key() -> None:
    view = read_view_xml([FIXTURES / "swatches_view.xml"])
    table = build_table(view, crypt_key=None, magento_version="2.4.8")
    text = "h:20_w:30_rgb255,255,255_r:empty_q:80_proportional_frame_transparency_doconstrainonly"
    assert by_id(table)["swatch_image"] == hashlib.md5(text.encode()).hexdigest()
    with pytest.raises(ValueError, match="without the crypt key"):
        signing_key(KEY, "2.4.8")
    with pytest.raises(ValueError, match="needs the crypt key"):
        build_table(view, crypt_key=None, magento_version="2.4")
    with pytest.raises(ValueError, match="unknown magento_version"):
        build_table(view, crypt_key=KEY, magento_version="2.5")


def test_2_3_0_renders_every_flag_as_set() -> None:
    # 2.3.0-2.3.3 tested the flags with isset(): false is set, so frame is always "frame".
    view = read_view_xml([FIXTURES / "blank_view.xml"])
    hashes = by_id(build_table(view, crypt_key=KEY, magento_version="2.3.0"))
    text = "h:90_w:90_rgb255,255,255_r:empty_q:80_proportional_frame_transparency_doconstrainonly"
    assert hashes["product_page_image_small"] == hmac_md5(text)
    empty = ImageParams(width=None, height=None, background=None, keep_frame=False)
    assert readable(empty) == (
        "h:empty_w:empty_nobackground_r:empty_q:80_proportional_noframe_transparency_doconstrainonly"
    )


def test_angle_and_watermark_are_hashed_but_unsupported(tmp_path: Path) -> None:
    body = images(
        '<image id="r" type="image"><width>9</width><height>9</height><angle>90</angle></image>'
    )
    assert one(tmp_path, body) == (
        "h:9_w:9_rgb255,255,255_r:90_q:80_proportional_frame_transparency_doconstrainonly"
    )
    entry = read_view_xml([tmp_path / "view.xml"]).images["r"]
    params = params_for(entry, white_borders=True, jpeg_quality=80)
    assert params.unsupported == "rotation (angle '90') not supported"
    marked = ImageParams(
        width=9, height=9, watermark=Watermark("stores/1/logo.png", "50", None, "60")
    )
    assert readable(marked) == (
        "h:9_w:9_rgb255,255,255_r:empty_q:80_proportional_frame_transparency_doconstrainonly"
        "_stores/1/logo.png_50__60_"
    )
    assert marked.unsupported == "watermark 'stores/1/logo.png' not supported"
    assert ImageParams(width=1, height=1).unsupported is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<media><images", "not well-formed XML"),
        ("", None),
        (images('<image id="x"><width>abc</width></image>'), "must be a positive integer"),
        (images('<image id="x"><width>0</width></image>'), "must be a positive integer"),
        (images('<image id="x"><height>1.5</height></image>'), "must be a positive integer"),
        (images('<image id="x"><width/></image>'), "must be a positive integer"),
        (images('<image id="x"><frame>yes</frame></image>'), "must be true, false, 1 or 0"),
        (images('<image id="x"><background>white</background></image>'), "must look like"),
        (images('<image type="image"/>'), "has no id"),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, body: str, problem: str | None) -> None:
    path = write(tmp_path, "broken.xml", body)
    if problem is None:
        assert read_view_xml([path]).images == {}
        return
    with pytest.raises(ViewXmlError, match=problem) as caught:
        read_view_xml([FIXTURES / "swatches_view.xml", path])
    assert str(path) in str(caught.value)


def test_unreadable_wrong_root_and_doctype(tmp_path: Path) -> None:
    missing = tmp_path / "missing.xml"
    with pytest.raises(ViewXmlError, match="cannot read") as caught:
        read_view_xml([missing])
    assert str(missing) in str(caught.value)
    wrong = tmp_path / "wrong.xml"
    wrong.write_text("<config/>")
    with pytest.raises(ViewXmlError, match="expected <view>"):
        read_view_xml([wrong])
    doctype = tmp_path / "doctype.xml"
    doctype.write_text('<!DOCTYPE view [<!ENTITY a "b">]><view>&a;</view>')
    with pytest.raises(ViewXmlError, match="DOCTYPE"):
        read_view_xml([doctype])
