"""Magento 2 product-image cache hashes: ``catalog/product/cache/{hash}/...``, computed as Magento.

Why: the hash directory is the only size information in a Magento 2 image URL, so the origin
can serve (and refuse) hash URLs only if it rebuilds Magento's hash table exactly. Pipeline,
each step traced to Magento source (file and commit list in /tmp/magento2-notes.md):

1. ``Catalog/Model/Product/Image/ParamsBuilder::build()`` turns a view.xml image into
   ``[image_type, image_height, image_width, background, angle, quality, keep_aspect_ratio,
   keep_frame, keep_transparency, constrain_only, (watermark_file, watermark_image_opacity,
   watermark_position, watermark_width, watermark_height)]``; defaults: background
   ``[255, 255, 255]``, angle ``null``, aspect ratio / transparency / constrain ``true``, frame
   = ``(bool)`` of the ``product_image_white_borders`` var; quality ``(int)`` of
   ``system/upload_configuration/jpeg_quality``; values cast with ``(array)``/``(bool)``.
2. ``Catalog/Model/View/Asset/Image`` drops ``image_type`` and ``convertToReadableFormat()``
   renders the rest in that order, joined with ``_``: ``h:<h|empty>``, ``w:<w|empty>``,
   ``rgb<r,g,b>`` or ``nobackground``, ``r:<angle|empty>``, ``q:<quality>``,
   ``[non]proportional``, ``[no]frame``, ``[no]transparency``, ``do|notconstrainonly``.
3. The string is hashed: 2.3-2.4.7 ``Encryptor::hash($s, HASH_VERSION_MD5)`` =
   ``hash_hmac('md5', $s, <latest crypt key>)``; from 2.4.8 ``hash('md5', $s)`` with no key.

``magento_version`` values (what changes, and where it was read):
``"2.3.0"`` 2.3.0-2.3.3: the flags were tested with ``isset()``, so every set of parameters
renders ``proportional_frame_transparency_doconstrainonly`` (2.3.3 source);
``"2.3"``/``"2.4"`` 2.3.4-2.4.6: ``!empty()`` flags, raw latest key;
``"2.4.7"``: as 2.4, but a latest key starting ``base64`` is base64-decoded first;
``"2.4.8"``: keyless MD5 ("New paths are generated without dependency on an encryption key").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from layouts.magento2.viewxml import ImageEntry, Rgb, ViewConfig

MAGENTO_VERSIONS = ("2.3.0", "2.3", "2.4", "2.4.7", "2.4.8")
# app/code/Magento/Catalog/etc/view.xml: <var name="product_image_white_borders">1</var>
CATALOG_DEFAULT_WHITE_BORDERS = True
DEFAULT_JPEG_QUALITY = 80
DEFAULT_BACKGROUND: Rgb = (255, 255, 255)
# ConfigOptionsListConstants::STORE_KEY_ENCODED_RANDOM_STRING_PREFIX (2.4.7)
BASE64_KEY_PREFIX = "base64"
_PHP_TRIM = " \t\n\r\0\x0b"  # trim()'s default character list
_PCRE_SPACE = re.compile(r"[ \t\n\x0b\f\r]+")  # preg_split('/\s+/s', ...)


@dataclass(frozen=True)
class Watermark:
    """Watermark store config as ``ParamsBuilder::getWatermark`` adds it (strings or null)."""

    file: str
    opacity: str | None = None
    position: str | None = None
    width: str | None = None
    height: str | None = None


@dataclass(frozen=True)
class ImageParams:
    """What Magento hashes and renders with, in Magento's types.

    ``background`` ``None`` stands for PHP's empty array (rendered ``nobackground``).
    ``angle`` is kept as Magento would print it; with a watermark it makes the entry
    unsupported (see ``unsupported``). ``php_isset_flags`` reproduces 2.3.0-2.3.3.
    """

    width: int | None
    height: int | None
    keep_aspect_ratio: bool = True
    keep_frame: bool = CATALOG_DEFAULT_WHITE_BORDERS
    constrain_only: bool = True
    keep_transparency: bool = True
    background: Rgb | None = DEFAULT_BACKGROUND
    quality: int = DEFAULT_JPEG_QUALITY
    angle: str | None = None
    watermark: Watermark | None = None
    php_isset_flags: bool = False

    @property
    def resizes(self) -> bool:
        """``ImageResize`` resizes only when both sides are set; otherwise it only re-encodes."""
        return self.width is not None and self.height is not None

    @property
    def unsupported(self) -> str | None:
        """Why mediaproxy cannot render these parameters, or ``None`` when it can."""
        reasons = []
        if self.angle is not None:
            reasons.append(f"rotation (angle {self.angle!r})")
        if self.watermark is not None:
            reasons.append(f"watermark {self.watermark.file!r}")
        return " and ".join(reasons) + " not supported" if reasons else None


@dataclass(frozen=True)
class HashEntry:
    """One hash directory and every view.xml image (ids, distinct types) that shares it."""

    hash: str
    params: ImageParams
    image_ids: tuple[str, ...]
    image_types: tuple[str, ...]


def _check_version(magento_version: str) -> None:
    if magento_version not in MAGENTO_VERSIONS:
        allowed = ", ".join(MAGENTO_VERSIONS)
        raise ValueError(f"unknown magento_version {magento_version!r}; expected one of {allowed}")


def uses_crypt_key(magento_version: str) -> bool:
    """Whether the version keys its image hash with ``crypt/key`` (all before 2.4.8)."""
    _check_version(magento_version)
    return magento_version != "2.4.8"


def params_for(
    entry: ImageEntry,
    *,
    white_borders: bool,
    jpeg_quality: int,
    magento_version: str = "2.4",
    watermark: Watermark | None = None,
) -> ImageParams:
    """``ParamsBuilder::build()`` for one merged image; ``white_borders`` is the frame default."""
    _check_version(magento_version)

    def pick(value: bool | None, default: bool) -> bool:
        return default if value is None else value  # PHP's ``$x ?? $default``

    return ImageParams(
        width=entry.width,
        height=entry.height,
        keep_aspect_ratio=pick(entry.aspect_ratio, True),
        keep_frame=pick(entry.frame, white_borders),
        constrain_only=pick(entry.constrain, True),
        keep_transparency=pick(entry.transparency, True),
        background=DEFAULT_BACKGROUND if entry.background is None else entry.background,
        quality=jpeg_quality,
        angle=entry.angle,
        watermark=watermark,
        php_isset_flags=magento_version == "2.3.0",
    )


def readable(params: ImageParams) -> str:
    """``Image::convertToReadableFormat()`` joined with ``_``: the exact string Magento hashes."""

    def flag(value: bool, on: str, off: str, word: str) -> str:
        return (on if value or params.php_isset_flags else off) + word

    if params.background is None:
        background = "rgb" if params.php_isset_flags else "nobackground"
    else:
        background = "rgb" + ",".join(str(channel) for channel in params.background)
    parts = [
        f"h:{'empty' if params.height is None else params.height}",
        f"w:{'empty' if params.width is None else params.width}",
        background,
        f"r:{'empty' if params.angle is None else params.angle}",
        f"q:{params.quality}",
        flag(params.keep_aspect_ratio, "", "non", "proportional"),
        flag(params.keep_frame, "", "no", "frame"),
        flag(params.keep_transparency, "", "no", "transparency"),
        flag(params.constrain_only, "do", "not", "constrainonly"),
    ]
    if params.watermark is not None:
        mark = params.watermark
        values = (mark.file, mark.opacity, mark.position, mark.width, mark.height)
        parts += ["" if value is None else value for value in values]  # implode(null) is ''
    return "_".join(parts)


def signing_key(crypt_key: str, magento_version: str) -> bytes:
    """The HMAC key ``Encryptor::hash()`` uses: the last of the whitespace-separated keys.

    ``Encryptor::__construct``: ``preg_split('/\\s+/s', trim($key))``; ``hash()`` refuses an
    ``empty()`` latest key (``''`` or ``'0'``). From 2.4.7 a key ``base64<b64>`` is decoded.
    """
    if not uses_crypt_key(magento_version):
        raise ValueError(f"Magento {magento_version} hashes image parameters without the crypt key")
    latest = _PCRE_SPACE.split(crypt_key.strip(_PHP_TRIM))[-1]
    if latest in ("", "0"):
        raise ValueError("the Magento crypt key is empty: env.php crypt/key holds no usable key")
    if magento_version == "2.4.7" and latest.startswith(BASE64_KEY_PREFIX):
        encoded = latest[len(BASE64_KEY_PREFIX) :]
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            problem = f"the latest crypt key starts with 'base64' but is not base64: {exc}"
            raise ValueError(problem) from exc
    return latest.encode("utf-8")


def hash_of(params: ImageParams, key: bytes | None) -> str:
    """32 lowercase hex: HMAC-MD5 of ``readable(params)`` with ``key``, plain MD5 when ``None``."""
    data = readable(params).encode("utf-8")
    if key is None:
        return hashlib.md5(data, usedforsecurity=False).hexdigest()
    return hmac.new(key, data, hashlib.md5).hexdigest()


def build_table(
    view: ViewConfig,
    *,
    crypt_key: str | None,
    magento_version: str,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    white_borders: bool | None = None,
) -> dict[str, HashEntry]:
    """Hash -> entry for every ``Magento_Catalog`` image of ``view``, in view.xml order.

    ``white_borders`` ``None`` takes the view.xml var, else Magento_Catalog's own default (1).
    Images of other modules never reach this table (``read_view_xml`` skips them: Magento's
    ``ImageFactory`` and ``ImageResize`` only ask for ``Magento_Catalog``). Entries whose
    ``params.unsupported`` is set are kept, so the caller can name them in its error.
    ``crypt_key`` may be ``None`` only for a version that does not use it (2.4.8).
    """
    if uses_crypt_key(magento_version):
        if crypt_key is None:
            raise ValueError(f"Magento {magento_version} needs the crypt key to compute hashes")
        key: bytes | None = signing_key(crypt_key, magento_version)
    else:
        key = None
    if white_borders is None:
        white_borders = view.white_borders
    frame = CATALOG_DEFAULT_WHITE_BORDERS if white_borders is None else white_borders
    grouped: dict[str, tuple[ImageParams, list[str], list[str]]] = {}
    for entry in view.images.values():
        params = params_for(
            entry, white_borders=frame, jpeg_quality=jpeg_quality, magento_version=magento_version
        )
        _, ids, types = grouped.setdefault(hash_of(params, key), (params, [], []))
        ids.append(entry.image_id)
        if entry.image_type not in types:
            types.append(entry.image_type)
    return {
        digest: HashEntry(digest, params, tuple(ids), tuple(types))
        for digest, (params, ids, types) in grouped.items()
    }
