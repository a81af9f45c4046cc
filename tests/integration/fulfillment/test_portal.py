"""The outsourced-warehouse portal on SQLite and PostgreSQL: scoped users, photos, the photo rule, the report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from sqlalchemy import select

from orderhub.auth import service as auth
from orderhub.auth.errors import InvalidScope, OutsideScope
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.fulfillment import portal, scans, service
from orderhub.fulfillment.errors import PhotoRequired, UnknownShipment
from orderhub.fulfillment.model import ParcelPhoto, ScanKind
from orderhub.fulfillment.photos import (
    DiskPhotoStore,
    NotAnImage,
    PhotoOtherOrder,
    PhotoTooLarge,
    PhotoWithoutCode,
)
from orderhub.fulfillment.scans import Scan, ScanRules
from orderhub.fulfillment.tables import load_tables
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import (
    STAFF,
    approved_order,
    package_photo,
    photograph,
    put_stock,
    set_up_warehouses,
)

pytestmark = pytest.mark.usefixtures("merchant", "warehouses")
TABLES = load_tables()
GZ_STAFF = Actor("gz-packer", "portal")
GZ_RULES = ScanRules(scope="WH-GZ")
STEPS = (ScanKind.PICK_STARTED, ScanKind.PICKED, ScanKind.PACKED, ScanKind.SHIPPED)


@pytest.fixture
def warehouses(runtime: Runtime, merchant: None) -> None:
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=5)
    put_stock(runtime, "WH-GZ", R_TEA=5)


def routed(runtime: Runtime, place: str, sku: str) -> str:
    order_no = approved_order(runtime, place, lines=[(sku, 1)])
    service.route_order(runtime.uow(), order_no=order_no, tables=TABLES, actor=STAFF)
    return order_no


@pytest.fixture
def gz_order(runtime: Runtime) -> str:
    return routed(runtime, "广州", "R-TEA")


@pytest.fixture
def hz_order(runtime: Runtime) -> str:
    return routed(runtime, "杭州", "R-CUP")


def scan(order_no: str, kind: ScanKind, clock: FixedClock, minutes: int, *, warehouse: str = "WH-GZ") -> Scan:
    return Scan("pda-gz", f"{order_no}-{kind.value}-{warehouse}", warehouse, f"{order_no}-1", kind,
                clock.now() - timedelta(hours=2) + timedelta(minutes=minutes))


def scan_to(runtime: Runtime, clock: FixedClock, order_no: str, kinds: tuple[ScanKind, ...],
            rules: ScanRules = GZ_RULES) -> None:
    for kind in kinds:
        scans.apply_scan(runtime.uow(), scan=scan(order_no, kind, clock, STEPS.index(kind)), actor=GZ_STAFF,
                         rules=rules)


def test_a_3pl_user_must_be_held_to_a_known_warehouse(runtime: Runtime) -> None:
    with pytest.raises(InvalidScope, match="needs a warehouse"):
        auth.create_user(runtime.uow(), username="gz", password="correct-horse-9", role="3pl")
    with pytest.raises(InvalidScope, match="unknown warehouse"):
        auth.create_user(runtime.uow(), username="gz", password="correct-horse-9", role="3pl", warehouse="WH-XX")
    with pytest.raises(InvalidScope, match="every warehouse"):
        auth.create_user(runtime.uow(), username="gz", password="correct-horse-9", role="ops", warehouse="WH-GZ")

    auth.create_user(runtime.uow(), username="gz", password="correct-horse-9", role="3pl", warehouse="WH-GZ")
    secret = auth.create_token(runtime.uow(), username="gz", name="pda").secret
    principal = auth.principal_for_token(runtime.uow(), secret)

    assert principal is not None and principal.warehouse_code == "WH-GZ"
    assert principal.warehouse_for(None) == "WH-GZ"
    with pytest.raises(OutsideScope):
        principal.warehouse_for("WH-HZ")


def test_a_scoped_scan_for_another_warehouse_is_refused_and_its_parcels_look_unknown(
        runtime: Runtime, clock: FixedClock, hz_order: str) -> None:
    with pytest.raises(OutsideScope) as naming_other:
        scans.apply_scan(runtime.uow(), scan=scan(hz_order, ScanKind.PICK_STARTED, clock, 0, warehouse="WH-HZ"),
                         actor=GZ_STAFF, rules=GZ_RULES)
    with pytest.raises(UnknownShipment) as not_ours:
        scans.apply_scan(runtime.uow(), scan=scan(hz_order, ScanKind.PICK_STARTED, clock, 0), actor=GZ_STAFF,
                         rules=GZ_RULES)
    with pytest.raises(OutsideScope):
        scans.apply_batch(runtime.uow(), scans=[scan(hz_order, ScanKind.PICK_STARTED, clock, 0, warehouse="WH-HZ")],
                          actor=GZ_STAFF, rules=GZ_RULES)

    assert naming_other.value.status == 403 and "WH-GZ" in naming_other.value.message
    # Exactly what a parcel that does not exist gets: nothing says where it ships from.
    assert "WH-HZ" not in not_ours.value.message and not_ours.value.code == "fulfillment.unknown_shipment"
    with runtime.reading() as session:
        assert portal.list_parcels(session, warehouse="WH-GZ") == []
        with pytest.raises(UnknownShipment):
            portal.visible_parcel(session, order_no=hz_order, parcel_no=1, warehouse="WH-GZ")
        assert portal.visible_parcel(session, order_no=hz_order, parcel_no=1, warehouse=None).warehouse_code == "WH-HZ"


def test_a_warehouse_lists_only_its_own_parcels_with_order_number_status_and_waybill(
        runtime: Runtime, clock: FixedClock, gz_order: str, hz_order: str) -> None:
    scan_to(runtime, clock, gz_order, STEPS[:2])
    with runtime.reading() as session:
        listed = portal.list_parcels(session, warehouse="WH-GZ")

    assert [(p.order_no, p.parcel_no, p.status, p.waybill_no, p.photos) for p in listed] == [
        (gz_order, 1, "picked", None, 0)]


def test_a_package_photo_must_be_a_real_image_under_the_limit(runtime: Runtime, tmp_path: Path,
                                                               gz_order: str, hz_order: str) -> None:
    store = DiskPhotoStore(tmp_path)
    label = f"{gz_order}-1"

    def attach(content: bytes, *, order_no: str = gz_order, max_bytes: int = 1024 * 1024) -> ParcelPhoto:
        return portal.attach_photo(runtime.uow(), store, order_no=order_no, parcel_no=1, warehouse="WH-GZ",
                                   content=content, max_bytes=max_bytes, actor=GZ_STAFF)

    for bad in (b"", b"%PDF-1.7 not a photo", package_photo("PNG")[:40], b"\xff\xd8\xff\xe0" + b"\x00" * 100,
                package_photo("GIF", code=label)):
        with pytest.raises(NotAnImage):
            attach(bad)
    with pytest.raises(PhotoTooLarge) as too_large:
        attach(package_photo(code=label), max_bytes=100)
    with pytest.raises(UnknownShipment):
        attach(package_photo(code=f"{hz_order}-1"), order_no=hz_order)

    stored = [attach(package_photo(fmt, code=label)) for fmt in ("JPEG", "PNG", "WEBP")]

    assert too_large.value.status == 413
    assert [row.content_type for row in stored] == ["image/jpeg", "image/png", "image/webp"]
    assert store.get(stored[1].storage_key) == package_photo("PNG", code=label)
    assert stored[0].storage_key.startswith(f"WH-GZ/20261120/{gz_order}-1-")
    with runtime.reading() as session:
        assert len(session.scalars(select(ParcelPhoto)).all()) == 3


def test_a_package_photo_must_show_a_code_carrying_the_parcels_order_number(
        runtime: Runtime, tmp_path: Path, gz_order: str, hz_order: str) -> None:
    store = DiskPhotoStore(tmp_path / "photos")
    other_gz = routed(runtime, "广州", "R-TEA")

    def attach(content: bytes, *, order_code: bool = True) -> ParcelPhoto:
        return portal.attach_photo(runtime.uow(), store, order_no=gz_order, parcel_no=1, warehouse="WH-GZ",
                                   content=content, max_bytes=1024 * 1024, actor=GZ_STAFF,
                                   require_order_code=order_code)

    with pytest.raises(PhotoWithoutCode) as no_code:
        attach(package_photo(size=(640, 480)))
    # Another parcel's label, one of another warehouse, and a number that only starts like this one's.
    refused = []
    for code in (f"{other_gz}-1", f"{hz_order}-1", f"{gz_order}7"):
        with pytest.raises(PhotoOtherOrder) as wrong:
            attach(package_photo(code=code))
        refused.append(wrong.value)
    assert (no_code.value.status, no_code.value.code) == (422, "portal.photo_no_code")
    assert gz_order in no_code.value.message and "订单号" in no_code.value.message
    assert [(e.status, e.code) for e in refused] == [(422, "portal.photo_wrong_order")] * 3
    assert other_gz in refused[0].message and gz_order in refused[0].message
    assert not (tmp_path / "photos").exists()
    with runtime.reading() as session:
        assert session.scalars(select(ParcelPhoto)).all() == []

    # Turned and enlarged as a phone sees a label (not a pixel copy of the code): a QR code of the parcel label,
    # a Code 128 barcode of the order number, a QR link carrying it in capitals (Code 39 labels print them).
    accepted = [
        attach(package_photo(code=f"{gz_order}-1", turn=8, zoom=1.7)),
        attach(package_photo("PNG", code=gz_order, symbology=zxingcpp.BarcodeFormat.Code128, scale=2, turn=-4,
                             zoom=1.2)),
        attach(package_photo("WEBP", code=f"https://t.example.com/p?o={gz_order.upper()}&n=1", turn=3)),
        attach(package_photo(size=(640, 480)), order_code=False),
    ]

    assert [photo.content_type for photo in accepted] == ["image/jpeg", "image/png", "image/webp", "image/jpeg"]
    with runtime.reading() as session:
        assert portal.parcel_view(session, order_no=gz_order, parcel_no=1, warehouse="WH-GZ").photos == 4


def test_an_outsourced_parcel_ships_only_with_a_photo_unless_the_rule_is_off(
        runtime: Runtime, clock: FixedClock, tmp_path: Path, gz_order: str) -> None:
    scan_to(runtime, clock, gz_order, STEPS[:3])
    with pytest.raises(PhotoRequired) as refused:
        scan_to(runtime, clock, gz_order, STEPS[3:])
    photograph(runtime, tmp_path, gz_order, 1)
    scan_to(runtime, clock, gz_order, STEPS[3:])
    other = routed(runtime, "广州", "R-TEA")
    scan_to(runtime, clock, other, STEPS, rules=ScanRules(scope="WH-GZ", photo_required=False))

    assert refused.value.status == 409 and "photo" in refused.value.message
    with runtime.reading() as session:
        assert {p.order_no: p.status for p in portal.list_parcels(session, warehouse="WH-GZ")} == {
            gz_order: "shipped", other: "shipped"}


def test_the_daily_report_counts_on_time_photos_and_wrong_parcel_scans(
        runtime: Runtime, clock: FixedClock, tmp_path: Path, gz_order: str, hz_order: str) -> None:
    late = routed(runtime, "广州", "R-TEA")
    photograph(runtime, tmp_path, gz_order, 1)
    scan_to(runtime, clock, gz_order, STEPS)
    scan_to(runtime, clock, late, STEPS[:3])
    clock.advance(timedelta(hours=30))
    scan_to(runtime, clock, late, STEPS[3:], rules=ScanRules(scope="WH-GZ", photo_required=False))
    # Offline, the Guangzhou PDA scanned Hangzhou's parcel and a typo: only the first is a wrong parcel.
    scans.apply_batch(runtime.uow(), scans=[scan(hz_order, ScanKind.PACKED, clock, 0),
                                            scan("PH_20261121_000000", ScanKind.PACKED, clock, 1)],
                      actor=GZ_STAFF, rules=GZ_RULES)
    shipped_day = (clock.now() - timedelta(hours=2)).astimezone(runtime.settings.zone).date()

    with runtime.reading() as session:
        report = portal.daily_report(session, warehouse="WH-GZ", day=shipped_day, zone=runtime.settings.zone)
        first_day = portal.daily_report(session, warehouse="WH-GZ", day=shipped_day - timedelta(days=1),
                                        zone=runtime.settings.zone)
        hangzhou = portal.daily_report(session, warehouse="WH-HZ", day=shipped_day, zone=runtime.settings.zone)

    assert (first_day.shipped, first_day.on_time, first_day.with_photo) == (1, 1, 1)
    assert (first_day.on_time_rate, first_day.photo_compliance) == (1.0, 1.0)
    assert (report.shipped, report.on_time, report.with_photo, report.wrong_parcel_scans) == (1, 0, 0, 1)
    assert (report.on_time_rate, report.photo_compliance, report.wrong_ship_rate) == (0.0, 0.0, 1.0)
    assert (hangzhou.shipped, hangzhou.on_time_rate, hangzhou.wrong_parcel_scans) == (0, None, 0)
