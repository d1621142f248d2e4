"""Read Magento 2 ``etc/view.xml`` files into the image entries Magento's own reader yields.

Why this exists: a Magento 2 product-image URL carries a hash of the image's parameters, and
those parameters come from the theme's view.xml files *after* Magento has parsed and merged
them. Every detail of that parse (integers, booleans, ``xsi:nil``, backgrounds, which file
wins) changes the hash, so this module reproduces Magento's reader, not XML in general.
Sources (magento/magento2 unless noted; commits in /tmp/magento2-notes.md):

* ``Catalog/Model/ImageExtractor.php`` (2.3.x onwards): for each ``<image id type>`` of an
  ``<images module>`` inside ``<media>``, ``type`` is always stored (``''`` when the attribute
  is missing); a child whose ``xsi:nil`` attribute is PHP-truthy becomes ``null``;
  ``<width>``/``<height>`` are ``(int)``-cast; ``<constrain>``, ``<aspect_ratio>``,
  ``<frame>``, ``<transparency>`` become ``in_array($text, [true, 1, 'true', '1'], true)``,
  i.e. ``true`` only for the exact strings ``true`` and ``1``; ``<background>`` is the first
  match of ``\\[(\\d{1,3}),\\s*(\\d{1,3}),\\s*(\\d{1,3})\\]`` as three ints, else ``[]``; any
  other child (``<angle>``) is kept as its raw text.
* ``Framework/Config/Converter.php``: only ``<vars>``, ``<exclude>`` and ``<media>`` children
  of ``<view>`` are read (a 2.0-style top-level ``<images>`` is ignored); a ``<var>`` with no
  child vars is its text, except that ``true``/``false`` in any case become booleans.
* ``Framework/Config/View.php`` ``read()``: the parent themes' files are read one by one,
  oldest ancestor first, and stacked with ``array_replace_recursive``; the module files plus
  the theme's own file are stacked last. So the real precedence, lowest first, is
  ``[grandparent, parent, <every module's etc/view.xml>, theme]`` -- modules override parent
  themes, not the other way round. ``array_replace_recursive`` replaces per image id *and per
  child element*, keeps the first position of an id, and a ``null`` (``xsi:nil``) replaces.

Deliberate strictness: where Magento's XSD (``Catalog/etc/view.xsd``: width/height
``xs:positiveInteger``, the four flags ``xs:boolean``, the background pattern) rejects a value
that production mode would silently turn into ``w:0`` or ``nobackground``, this module raises
``ViewXmlError`` instead: such a file is an operator mistake, never a size anyone wants.

Not reproduced: the module files and the theme file are merged by Magento at DOM level
(``Config/Dom.php``), where an ``xsi:nil`` attribute, once set by an earlier file, sticks to
the element even when a later file gives it a value; here every file is one
``array_replace_recursive`` layer. Only ``module="Magento_Catalog"`` images are product images
(``ImageFactory``/``ImageResize`` read no other module); other modules' images are skipped and
named in ``ViewConfig.ignored``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

CATALOG_MODULE = "Magento_Catalog"
WHITE_BORDERS_VAR = "product_image_white_borders"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_FLAGS = frozenset({"constrain", "aspect_ratio", "frame", "transparency"})
_XML_SPACE = " \t\r\n"
# ImageExtractor::processImageBackground; PCRE's \d and \s without /u are ASCII-only.
_CHANNEL, _PCRE_SPACE = r"([0-9]{1,3})", r"[ \t\n\x0b\f\r]*"
_BACKGROUND = re.compile(rf"\[{_CHANNEL},{_PCRE_SPACE}{_CHANNEL},{_PCRE_SPACE}{_CHANNEL}\]")
_MAX_SIDE = 2**31 - 1

Rgb = tuple[int, int, int]
_Value = int | bool | str | Rgb | None


class ViewXmlError(ValueError):
    """A view.xml file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class ImageEntry:
    """One ``<image id type>`` after merging, typed as Magento's ``getMediaAttributes`` gives it.

    ``None`` means absent or ``xsi:nil``: both make ``ParamsBuilder`` fall back to its default.
    ``image_type`` is ``''`` when the last file to mention the image has no ``type`` attribute.
    ``angle`` is not in Magento's XSD, but ``ParamsBuilder`` would hash it (``r:<text>``), so it
    is carried for the caller to reject.
    """

    image_id: str
    image_type: str
    width: int | None = None
    height: int | None = None
    constrain: bool | None = None
    aspect_ratio: bool | None = None
    frame: bool | None = None
    transparency: bool | None = None
    background: Rgb | None = None
    angle: str | None = None


@dataclass(frozen=True)
class ViewConfig:
    """Merged view.xml: product images by id (first-seen order) and the white-borders var.

    ``white_borders`` is ``product_image_white_borders`` of ``Magento_Catalog`` after PHP's
    ``(bool)`` cast, from the last file that sets it; ``None`` when no file does.
    """

    images: dict[str, ImageEntry]
    white_borders: bool | None
    ignored: tuple[str, ...] = field(default=())


@dataclass
class _FileData:
    images: dict[str, dict[str, _Value]]
    white_borders: bool | None
    ignored: list[str]


def read_view_xml(paths: Sequence[Path]) -> ViewConfig:
    """Read and merge view.xml files given lowest priority first (see the module docstring)."""
    merged: dict[str, dict[str, _Value]] = {}
    white_borders: bool | None = None
    ignored: list[str] = []
    for path in paths:
        data = _read_file(Path(path))
        for image_id, fields in data.images.items():
            merged.setdefault(image_id, {}).update(fields)
        if data.white_borders is not None:
            white_borders = data.white_borders
        ignored += data.ignored
    images = {image_id: _entry(image_id, fields) for image_id, fields in merged.items()}
    return ViewConfig(images=images, white_borders=white_borders, ignored=tuple(ignored))


def _read_file(path: Path) -> _FileData:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ViewXmlError(f"{path}: cannot read view.xml: {exc.strerror or exc}") from exc
    parser = ET.XMLParser(target=_NoDoctype(path))
    try:
        parser.feed(raw)
        root = parser.close()
    except ET.ParseError as exc:
        raise ViewXmlError(f"{path}: not well-formed XML: {exc}") from exc
    if root.tag != "view":
        raise ViewXmlError(f"{path}: root element is <{root.tag}>, expected <view>")
    data = _FileData(images={}, white_borders=None, ignored=[])
    for child in root:
        if child.tag == "vars" and child.get("module", "") == CATALOG_MODULE:
            for var in child.findall("var"):
                if var.get("name", "") == WHITE_BORDERS_VAR:
                    data.white_borders = _php_bool(_var_value(var))
        elif child.tag == "images":
            data.ignored.append(f"{path}: top-level <images> (Magento 2.0 layout) is not read")
        elif child.tag == "media":
            for media in child:
                if media.tag == "images":
                    _read_images(path, media, data)
    return data


class _NoDoctype(ET.TreeBuilder):
    """A tree builder that refuses any DOCTYPE: no DTD, so no entity is defined or fetched."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise ViewXmlError(f"{self.path}: a DOCTYPE is not allowed in view.xml")


def _read_images(path: Path, images: ET.Element, data: _FileData) -> None:
    module = images.get("module", "")
    if module != CATALOG_MODULE:
        data.ignored.append(f"{path}: images of module {module!r} are not product images")
        return
    for image in images.iter("image"):
        image_id = image.get("id")
        if not image_id:
            raise ViewXmlError(f"{path}: an <image> has no id attribute")
        fields = data.images.setdefault(image_id, {})
        fields["type"] = image.get("type", "")
        for child in image:
            fields[str(child.tag)] = _child_value(path, image_id, child)


def _child_value(path: Path, image_id: str, child: ET.Element) -> _Value:
    nil = child.get(_XSI_NIL)
    if nil is not None and nil not in ("", "0"):  # (bool) $attribute->getAttribute('xsi:nil')
        return None
    text = "".join(child.itertext())  # DOMNode::nodeValue
    where = f"{path}: image {image_id!r}: <{child.tag}>"
    if child.tag in ("width", "height"):
        digits = text.strip(_XML_SPACE)
        if not re.fullmatch(r"\+?[0-9]+", digits) or not 0 < int(digits) <= _MAX_SIDE:
            raise ViewXmlError(f"{where} must be a positive integer, got {text!r}")
        return int(digits)  # equals PHP's (int) for every xs:positiveInteger
    if child.tag in _FLAGS:
        if text.strip(_XML_SPACE) not in ("true", "false", "1", "0"):
            raise ViewXmlError(f"{where} must be true, false, 1 or 0, got {text!r}")
        return text in ("true", "1")  # strict in_array: ' true ' is false, as in Magento
    if child.tag == "background":
        match = _BACKGROUND.search(text)
        if match is None:
            raise ViewXmlError(f"{where} must look like [255, 255, 255], got {text!r}")
        red, green, blue = (int(group) for group in match.groups())
        return (red, green, blue)
    return text


def _var_value(var: ET.Element) -> _Value:
    """Converter::parseVarElement for a var: nested vars are an array (truthy when not empty)."""
    if var.findall("var"):
        return True
    text = "".join(var.itertext())
    if text.lower() in ("true", "false"):
        return text.lower() == "true"  # filter_var(..., FILTER_VALIDATE_BOOLEAN)
    return text


def _php_bool(value: _Value) -> bool:
    """PHP's (bool): only '', '0', 0, false and null are false."""
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def _entry(image_id: str, fields: dict[str, _Value]) -> ImageEntry:
    def number(name: str) -> int | None:
        value = fields.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def flag(name: str) -> bool | None:
        value = fields.get(name)
        return value if isinstance(value, bool) else None

    background = fields.get("background")
    angle = fields.get("angle")
    image_type = fields.get("type")
    return ImageEntry(
        image_id=image_id,
        image_type=image_type if isinstance(image_type, str) else "",
        width=number("width"),
        height=number("height"),
        constrain=flag("constrain"),
        aspect_ratio=flag("aspect_ratio"),
        frame=flag("frame"),
        transparency=flag("transparency"),
        background=background if isinstance(background, tuple) else None,
        angle=angle if isinstance(angle, str) else None,
    )
