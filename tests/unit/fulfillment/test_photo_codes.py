"""The photo rule's check, without a database: which codes carry an order number, and reading real images
(zxing-cpp draws the codes, Pillow takes the "photo"), small labels in large photos included."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from orderhub.fulfillment.photos import (
    QUICK_SIDE,
    PhotoOtherOrder,
    PhotoWithoutCode,
    check_photo,
    check_shows_order,
    read_codes,
    shows_order,
)
from tests.integration.fulfillment.routing_setup import code_image, package_photo

ORDER = "DY_20260209_8a3f7b"


@pytest.mark.parametrize(("texts", "carries"), [
    ([ORDER], True),
    ([f"{ORDER}-2"], True),  # the parcel label
    ([f"订单号:{ORDER} 包裹1/2"], True),
    ([f"https://t.example.com/p?o={ORDER.upper()}&n=1"], True),  # Code 39 labels print capitals
    (["SF1500000077", ORDER], True),  # the waybill's barcode beside the order's
    ([f"{ORDER}0"], False),  # another number that starts like this one
    ([f"X{ORDER}"], False),
    (["DY_20260209_8a3f7c-1"], False),
    ([], False),
])
def test_a_code_carries_the_order_number_only_as_a_whole_word(texts: list[str], carries: bool) -> None:
    assert shows_order(texts, ORDER) is carries


def test_codes_are_read_from_photos_in_each_format_turned_and_enlarged() -> None:
    for fmt, symbology, scale in (("JPEG", zxingcpp.BarcodeFormat.QRCode, 4),
                                  ("PNG", zxingcpp.BarcodeFormat.DataMatrix, 4),
                                  ("WEBP", zxingcpp.BarcodeFormat.Code128, 2)):
        photo = package_photo(fmt, code=f"{ORDER}-1", symbology=symbology, scale=scale, turn=-5, zoom=1.3)
        check_photo(photo, max_bytes=1024 * 1024)
        assert read_codes(photo) == [f"{ORDER}-1"], (fmt, symbology)


def test_a_small_label_in_a_large_photo_is_found_at_full_size() -> None:
    box = Image.new("RGB", (4000, 3000), (200, 160, 90))
    box.paste(code_image(f"{ORDER}-1", scale=2).convert("RGB").rotate(4, expand=True, fillcolor=(255, 255, 255)),
              (900, 700))
    buffer = io.BytesIO()
    box.save(buffer, format="PNG")
    photo = buffer.getvalue()

    assert max(box.size) > QUICK_SIDE and read_codes(photo, max_side=QUICK_SIDE) == []  # too small when shrunk
    assert check_shows_order(photo, ORDER) == [f"{ORDER}-1"]


def test_a_photo_without_a_code_or_with_another_orders_is_refused_with_what_was_read() -> None:
    with pytest.raises(PhotoWithoutCode) as none:
        check_shows_order(package_photo(size=(800, 600)), ORDER)
    with pytest.raises(PhotoOtherOrder) as other:
        check_shows_order(package_photo(code="JD_20260209_000001-1"), ORDER)

    assert (none.value.status, none.value.code) == (422, "portal.photo_no_code")
    assert (other.value.status, other.value.code) == (422, "portal.photo_wrong_order")
    assert "JD_20260209_000001-1" in other.value.message and ORDER in other.value.message
    assert other.value.details[0]["messages"]["zh-CN"] == "识别到：JD_20260209_000001-1"
