"""Package photos: checked to be a real JPEG, PNG or WebP image under the size limit, kept in a photo store.

The rule says a package photo shows the order number. That is checked for real: zxing-cpp reads every
barcode and QR code in the photo (any angle, size or contrast it can find), and one of them must carry
the parcel's order number (`check_shows_order`); the packer photographs the parcel with its label.

The store is a small interface so a disk folder (the default, `ORDERHUB_PHOTO_DIR`) and an S3-compatible
bucket are interchangeable; the database keeps only the key, type, size and digest (`parcel_photo`).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import zxingcpp
from PIL import Image, ImageOps, UnidentifiedImageError

from orderhub.core.errors import InvalidInput, OrderHubError

# Pillow's format name → what the photo is stored and served as.
ACCEPTED = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
# Bigger than any phone camera takes: refuses decompression bombs before they are decoded.
MAX_PIXELS = 50_000_000
# A label's code is read first in the photo shrunk to this long side (a 12 MP photo: ~0.2 s instead of ~1.5 s);
# only a photo where that finds no code carrying the order number is read again at full size (a small label).
QUICK_SIDE = 2000


class NotAnImage(InvalidInput):
    code = "portal.photo_not_image"


class PhotoTooLarge(OrderHubError):
    code, status = "portal.photo_too_large", 413


class PhotoWithoutCode(InvalidInput):
    """No barcode or QR code could be read in the photo: it does not show the order number."""

    code = "portal.photo_no_code"


class PhotoOtherOrder(InvalidInput):
    """The photo's codes carry something else than the parcel's order number (another parcel's label)."""

    code = "portal.photo_wrong_order"


@dataclass(frozen=True)
class CheckedPhoto:
    content: bytes
    content_type: str
    extension: str
    sha256: str


def check_photo(content: bytes, *, max_bytes: int) -> CheckedPhoto:
    """The photo as a verified image: refused when empty, over `max_bytes`, or not a JPEG/PNG/WebP that decodes."""
    if len(content) > max_bytes:
        raise PhotoTooLarge(f"photo is {len(content)} bytes; the limit is {max_bytes} "
                            f"/ 照片过大，上限 {max_bytes} 字节",
                            details=[{"field": "photo", "rule": "photo.max_bytes", "message": str(max_bytes)}])
    try:
        with Image.open(io.BytesIO(content)) as image:
            kind = image.format
            if image.width * image.height > MAX_PIXELS:
                raise NotAnImage(f"photo is {image.width}×{image.height} pixels; too many / 照片像素过多",
                                 details=[{"field": "photo", "rule": "photo.pixels", "message": "too many pixels"}])
            # verify() walks the whole file: a truncated or forged image fails here, not when someone opens it.
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        kind = None
    if kind not in ACCEPTED:
        raise NotAnImage("the upload is not a JPEG, PNG or WebP image / 上传的文件不是 JPEG、PNG 或 WebP 图片",
                         details=[{"field": "photo", "rule": "photo.image", "message": "not an image"}])
    content_type, extension = ACCEPTED[kind]
    return CheckedPhoto(content, content_type, extension, hashlib.sha256(content).hexdigest())


def read_codes(content: bytes, *, max_side: int | None = None) -> list[str]:
    """The text of every barcode and QR code in an image `check_photo` accepted, as zxing-cpp reads it; with
    `max_side`, in the image shrunk to fit it (JPEGs are then decoded at the smaller size straight away)."""
    with Image.open(io.BytesIO(content)) as image:
        if max_side is not None:
            image.draft("L", (max_side, max_side))
        # Upright as the phone held it, in grey: what the decoder works on anyway (any mode, CMYK JPEGs too).
        grey = ImageOps.exif_transpose(image).convert("L")
    if max_side is not None:
        grey.thumbnail((max_side, max_side))
    return [code.text for code in zxingcpp.read_barcodes(grey) if code.text]


def shows_order(texts: list[str], order_no: str) -> bool:
    """Whether a code carries the order number as a whole word: the number itself, the parcel label
    `ORDER_NO-PARCEL`, or a label text or link around it. Case is ignored: Code 39 labels print upper case."""
    word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(order_no)}(?![A-Za-z0-9_])", re.IGNORECASE)
    return any(word.search(text) for text in texts)


def check_shows_order(content: bytes, order_no: str) -> list[str]:
    """The codes read in the photo, one carrying `order_no`; otherwise PhotoWithoutCode or PhotoOtherOrder."""
    texts = read_codes(content, max_side=QUICK_SIDE)
    if not shows_order(texts, order_no):
        with Image.open(io.BytesIO(content)) as image:
            larger = max(image.size) > QUICK_SIDE
        if larger:
            texts = read_codes(content)
    if not texts:
        raise PhotoWithoutCode(
            f"no barcode or QR code can be read in the photo; photograph the parcel with its label showing order "
            f"{order_no} / 照片中识别不到条码或二维码，请拍清包裹上显示订单号 {order_no} 的面单",
            details=[{"field": "photo", "rule": "photo.order_code", "message": "no readable code",
                      "messages": {"zh-CN": "识别不到条码或二维码", "en": "no readable barcode or QR code"}}])
    if not shows_order(texts, order_no):
        read = ", ".join(text[:64] for text in texts[:3])
        raise PhotoOtherOrder(
            f"the codes in the photo ({read}) do not carry order number {order_no}; is it another parcel? "
            f"/ 照片中的条码（{read}）不是订单 {order_no}，请确认包裹",
            details=[{"field": "photo", "rule": "photo.order_no", "message": read,
                      "messages": {"zh-CN": f"识别到：{read}", "en": f"read: {read}"}}])
    return texts


class PhotoStore(Protocol):
    """Where photo bytes live; keys are relative, slash-separated, made of [A-Za-z0-9_.-/]."""

    def put(self, key: str, content: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...


class DiskPhotoStore:
    """Photos as files under one folder, written whole (temp file, then rename) so a reader never sees half."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"photo key {key!r} leaves the photo folder")
        return path

    def put(self, key: str, content: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(content)
        partial.replace(path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()
