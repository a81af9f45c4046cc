"""The warehouse portal: a warehouse's parcels, their package photos, and its daily report.

Every use case takes the warehouse it acts for. A parcel of another warehouse is answered exactly as a
parcel that does not exist (UnknownShipment, 404), so a user held to one warehouse learns nothing of
the others' orders. The console's warehouse page is built on these functions and on `scans`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, one_of
from orderhub.fulfillment import repository, scans
from orderhub.fulfillment.errors import (
    AmbiguousParcel,
    MalformedShipmentRef,
    OtherWarehouse,
    ShipmentCancelled,
    UnknownPhoto,
    UnknownShipment,
)
from orderhub.fulfillment.model import (
    FLOW,
    IN_WAREHOUSE,
    SCAN_TARGET,
    ParcelPhoto,
    ScanKind,
    ScanOutcome,
    Shipment,
    ShipmentStatus,
    WarehouseScan,
)
from orderhub.fulfillment.photos import PhotoStore, check_photo, check_shows_order
from orderhub.logistics import service as logistics
from orderhub.orders import service as orders
from orderhub.orders.model import Order

# Shipped within this long of allocation (the shipment's planning) counts as on time.
ON_TIME = timedelta(hours=24)
# Refused scans that mean "this parcel is not ours": a scanner about to send out another warehouse's parcel.
# A user held to one warehouse is told `unknown_shipment` (nothing leaks); the report still counts it when
# the parcel exists elsewhere.
WRONG_PARCEL_CODES = (OtherWarehouse.code, UnknownShipment.code)
# What is typed or scanned into the console's scan box: a parcel label, or an order number.
ORDER_NO = re.compile(r"^[A-Za-z0-9_]{1,32}$")
# The scan that takes a parcel out of each status.
NEXT_KIND = {FLOW[FLOW.index(target) - 1]: kind for kind, target in SCAN_TARGET.items()}


def visible_parcel(session: Session, *, order_no: str, parcel_no: int, warehouse: str | None) -> Shipment:
    """The order's parcel if `warehouse` (None: any) ships it; otherwise UnknownShipment, as if it did not exist."""
    reference = f"{order_no}-{parcel_no}"
    order_id = orders.order_ids(session, [order_no]).get(order_no)
    shipment = None if order_id is None else repository.parcel(session, order_id, parcel_no)
    if shipment is None or (warehouse is not None and shipment.warehouse_code != warehouse):
        raise UnknownShipment(reference)
    return shipment


@dataclass(frozen=True)
class ParcelView:
    id: int
    order_no: str
    parcel_no: int
    warehouse_code: str
    carrier_code: str
    status: str
    waybill_no: str | None
    photos: int
    created_at: datetime
    photo_ids: tuple[int, ...] = ()  # oldest first
    shipped_at: datetime | None = None  # when its ship scan happened (`shipped_parcels` only)

    @property
    def reference(self) -> str:
        return scans.shipment_ref(self.order_no, self.parcel_no)


def _views(session: Session, rows: Sequence[tuple[Shipment, str, datetime | None]]) -> list[ParcelView]:
    ids = [shipment.id for shipment, _, _ in rows]
    waybills = logistics.shipment_waybill_numbers(session, shipment_ids=ids)
    photos = photo_ids(session, ids)
    return [ParcelView(shipment.id, order_no, shipment.parcel_no, shipment.warehouse_code, shipment.carrier_code,
                       shipment.status, waybills.get(shipment.id), len(photos.get(shipment.id, ())),
                       shipment.created_at, tuple(photos.get(shipment.id, ())), shipped_at)
            for shipment, order_no, shipped_at in rows]


def photo_ids(session: Session, shipment_ids: Collection[int]) -> dict[int, list[int]]:
    """Each shipment's package photos, oldest first; shipments without one are left out."""
    if not shipment_ids:
        return {}
    found: dict[int, list[int]] = {}
    for shipment_id, photo_id in session.execute(
            select(ParcelPhoto.shipment_id, ParcelPhoto.id).where(one_of(session, ParcelPhoto.shipment_id,
                                                                           list(shipment_ids)))
            .order_by(ParcelPhoto.id)):
        found.setdefault(shipment_id, []).append(photo_id)
    return found


def list_parcels(session: Session, *, warehouse: str, status: ShipmentStatus | None = None,
                 statuses: Collection[ShipmentStatus] | None = None, limit: int = 50,
                 before_id: int | None = None) -> list[ParcelView]:
    """The warehouse's parcels in `status` (or any of `statuses`; neither: all but cancelled ones), newest first."""
    query = (select(Shipment, Order.order_no).join(Order, Order.id == Shipment.order_id)
             .where(Shipment.warehouse_code == warehouse))
    if status is not None:
        query = query.where(Shipment.status == status.value)
    elif statuses is not None:
        query = query.where(Shipment.status.in_([s.value for s in statuses]))
    else:
        query = query.where(Shipment.status != ShipmentStatus.CANCELLED.value)
    if before_id is not None:
        query = query.where(Shipment.id < before_id)
    rows = session.execute(query.order_by(Shipment.id.desc()).limit(limit)).all()
    return _views(session, [(shipment, order_no, None) for shipment, order_no in rows])


def waiting_parcels(session: Session, *, warehouse: str, limit: int = 100) -> list[ParcelView]:
    """The warehouse's parcels still to ship (planned, being picked, picked or packed), newest first."""
    return list_parcels(session, warehouse=warehouse, statuses=sorted(IN_WAREHOUSE), limit=limit)


def shipped_parcels(session: Session, *, warehouse: str, day: date, zone: ZoneInfo,
                    limit: int = 100) -> list[ParcelView]:
    """The parcels the warehouse ship-scanned on a business day, latest first, with the scan's time."""
    start, end = day_bounds(day, zone)
    rows = session.execute(
        select(Shipment, Order.order_no, WarehouseScan.occurred_at)
        .join(Order, Order.id == Shipment.order_id)
        .join(WarehouseScan, WarehouseScan.shipment_id == Shipment.id)
        .where(WarehouseScan.warehouse_code == warehouse, WarehouseScan.kind == ScanKind.SHIPPED.value,
               WarehouseScan.outcome == ScanOutcome.APPLIED.value, WarehouseScan.occurred_at >= start,
               WarehouseScan.occurred_at < end)
        .order_by(WarehouseScan.occurred_at.desc(), Shipment.id.desc()).limit(limit)
    ).all()
    return _views(session, [(shipment, order_no, at) for shipment, order_no, at in rows])


def parcel_view(session: Session, *, order_no: str, parcel_no: int, warehouse: str | None) -> ParcelView:
    shipment = visible_parcel(session, order_no=order_no, parcel_no=parcel_no, warehouse=warehouse)
    return _views(session, [(shipment, order_no, None)])[0]


def find_parcel(session: Session, *, text: str, warehouse: str) -> tuple[str, Shipment]:
    """The order number and the warehouse's parcel that a scanned or typed text names: its label
    (`ORDER_NO-PARCEL`), or its order number when the order has one live parcel there (several:
    AmbiguousParcel, naming their labels)."""
    text = text.strip()
    parsed = scans.SHIPMENT_REF.match(text)
    if parsed:
        return parsed["order_no"], visible_parcel(session, order_no=parsed["order_no"],
                                                  parcel_no=int(parsed["parcel"]), warehouse=warehouse)
    if not ORDER_NO.match(text):
        raise MalformedShipmentRef(text[:64])
    order_id = orders.order_ids(session, [text]).get(text)
    found = [] if order_id is None else list(session.scalars(
        select(Shipment).where(Shipment.order_id == order_id, Shipment.warehouse_code == warehouse,
                               Shipment.status != ShipmentStatus.CANCELLED.value).order_by(Shipment.parcel_no)))
    if not found:
        raise UnknownShipment(text)
    if len(found) > 1:
        raise AmbiguousParcel(text, [scans.shipment_ref(text, shipment.parcel_no) for shipment in found])
    return text, found[0]


def next_kind(status: ShipmentStatus) -> ScanKind:
    """The scan that takes a parcel on from `status`; for a shipped or cancelled one the ship scan, which the
    scan rules answer with "already shipped" or "cancelled"."""
    return NEXT_KIND.get(status, ScanKind.SHIPPED)


def scan_parcel(uow: UnitOfWork, *, text: str, kind: ScanKind | None, warehouse: str, device_id: str,
                client_event_id: str, actor: Actor, rules: scans.ScanRules, waybill_no: str = "") -> scans.ScanResult:
    """A scan from the console's scan box, now: the parcel found by `find_parcel`, the step given or (None) the
    parcel's next one, then the scan rules as for any scanner.

    The same device and event id again (a form sent twice) replays the first scan, whatever step comes next now.
    """
    with uow:
        session = uow.session
        order_no, shipment = find_parcel(session, text=text, warehouse=warehouse)
        reference = scans.shipment_ref(order_no, shipment.parcel_no)
        sent = session.scalar(select(WarehouseScan.kind).where(WarehouseScan.device_id == device_id,
                                                               WarehouseScan.client_event_id == client_event_id))
        chosen = ScanKind(sent) if sent else kind or next_kind(ShipmentStatus(shipment.status))
        now = uow.now()
    scan = scans.Scan(device_id, client_event_id, warehouse, reference, chosen, now, waybill_no.strip())
    return scans.apply_scan(uow, scan=scan, actor=actor, rules=rules)


def attach_photo(uow: UnitOfWork, store: PhotoStore, *, order_no: str, parcel_no: int, warehouse: str | None,
                 content: bytes, max_bytes: int, actor: Actor, require_order_code: bool = True) -> ParcelPhoto:
    """Check the upload is a real image under the limit that shows the order number (a barcode or QR code
    carrying it, unless `require_order_code` is off), keep it in the store and record it on the parcel.

    The file is written before the row commits: a failed commit leaves an unreferenced file, never a row
    pointing at nothing.
    """
    photo = check_photo(content, max_bytes=max_bytes)
    with uow:
        shipment = visible_parcel(uow.session, order_no=order_no, parcel_no=parcel_no, warehouse=warehouse)
        if shipment.status == ShipmentStatus.CANCELLED:
            raise ShipmentCancelled(f"{order_no}-{parcel_no}")
        if require_order_code:
            check_shows_order(photo.content, order_no)
        now = uow.now()
        key = (f"{shipment.warehouse_code}/{now:%Y%m%d}/{order_no}-{parcel_no}-{photo.sha256[:16]}"
               f".{photo.extension}")
        store.put(key, photo.content, photo.content_type)
        row = ParcelPhoto(shipment_id=shipment.id, order_no=order_no, parcel_no=parcel_no,
                          warehouse_code=shipment.warehouse_code, storage_key=key, content_type=photo.content_type,
                          size_bytes=len(photo.content), sha256=photo.sha256, uploaded_at=now,
                          uploaded_by=actor.name[:64])
        uow.session.add(row)
        uow.commit()
        return row


def photo_content(session: Session, store: PhotoStore, *, photo_id: int,
                  warehouse: str | None) -> tuple[ParcelPhoto, bytes]:
    """A package photo and its bytes; another warehouse's is answered as one that does not exist."""
    row = session.get(ParcelPhoto, photo_id)
    if row is None or (warehouse is not None and row.warehouse_code != warehouse):
        raise UnknownPhoto(photo_id)
    return row, store.get(row.storage_key)


@dataclass(frozen=True)
class DailyReport:
    warehouse: str
    day: date
    shipped: int
    on_time: int
    with_photo: int
    wrong_parcel_scans: int

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    @property
    def on_time_rate(self) -> float | None:
        return self._rate(self.on_time, self.shipped)

    @property
    def photo_compliance(self) -> float | None:
        return self._rate(self.with_photo, self.shipped)

    @property
    def wrong_ship_rate(self) -> float | None:
        return self._rate(self.wrong_parcel_scans, self.shipped)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The business day's start and end in UTC."""
    start = datetime.combine(day, time(), tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def daily_report(session: Session, *, warehouse: str, day: date, zone: ZoneInfo) -> DailyReport:
    """One business day of a warehouse: parcels ship-scanned that day, how many within ON_TIME of allocation,
    how many had a package photo, and how many refused scans were of another warehouse's parcel."""
    start, end = day_bounds(day, zone)
    shipped = session.execute(
        select(Shipment.id, Shipment.created_at, WarehouseScan.occurred_at)
        .join(WarehouseScan, WarehouseScan.shipment_id == Shipment.id)
        .where(WarehouseScan.warehouse_code == warehouse, WarehouseScan.kind == ScanKind.SHIPPED.value,
               WarehouseScan.outcome == ScanOutcome.APPLIED.value, WarehouseScan.occurred_at >= start,
               WarehouseScan.occurred_at < end)
    ).all()
    ids = [shipment_id for shipment_id, _, _ in shipped]
    photographed = set(session.scalars(
        select(ParcelPhoto.shipment_id).where(ParcelPhoto.shipment_id.in_(ids)).distinct())) if ids else set()
    refused_orders = list(session.scalars(
        select(WarehouseScan.order_no).where(
            WarehouseScan.warehouse_code == warehouse, WarehouseScan.outcome == ScanOutcome.CONFLICT.value,
            WarehouseScan.error_code.in_(WRONG_PARCEL_CODES), WarehouseScan.occurred_at >= start,
            WarehouseScan.occurred_at < end)))
    # An unknown reference whose order exists is a parcel of another warehouse; a typo matches no order.
    existing = orders.order_ids(session, set(refused_orders))
    return DailyReport(
        warehouse=warehouse, day=day, shipped=len(shipped),
        on_time=sum(at - allocated <= ON_TIME for _, allocated, at in shipped),
        with_photo=len(photographed),
        wrong_parcel_scans=sum(order_no in existing for order_no in refused_orders),
    )
