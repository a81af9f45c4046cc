"""Package photos: checked to be a real JPEG, PNG or WebP image under the size limit, kept in a photo store.

The store is a small interface so a disk folder (the default, `ORDERHUB_PHOTO_DIR`) and an S3-compatible
bucket are interchangeable; the database keeps only the key, type, size and digest (`parcel_photo`).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image, UnidentifiedImageError

from orderhub.core.errors import InvalidInput, OrderHubError

# Pillow's format name → what the photo is stored and served as.
ACCEPTED = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
# Bigger than any phone camera takes: refuses decompression bombs before they are decoded.
MAX_PIXELS = 50_000_000


class NotAnImage(InvalidInput):
    code = "portal.photo_not_image"


class PhotoTooLarge(OrderHubError):
    code, status = "portal.photo_too_large", 413


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
