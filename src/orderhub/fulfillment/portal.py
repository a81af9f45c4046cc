"""The warehouse portal: a warehouse's parcels, their package photos, and its daily report.

Every use case takes the warehouse it acts for. A parcel of another warehouse is answered exactly as a
parcel that does not exist (UnknownShipment, 404), so a user held to one warehouse learns nothing of
the others' orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork
from orderhub.fulfillment import repository
from orderhub.fulfillment.errors import OtherWarehouse, ShipmentCancelled, UnknownShipment
from orderhub.fulfillment.model import ParcelPhoto, ScanKind, ScanOutcome, Shipment, ShipmentStatus, WarehouseScan
from orderhub.fulfillment.photos import PhotoStore, check_photo
from orderhub.logistics import service as logistics
from orderhub.orders import service as orders
from orderhub.orders.model import Order

# Shipped within this long of allocation (the shipment's planning) counts as on time.
ON_TIME = timedelta(hours=24)
# Refused scans that mean "this parcel is not ours": a scanner about to send out another warehouse's parcel.
# A user held to one warehouse is told `unknown_shipment` (nothing leaks); the report still counts it when
# the parcel exists elsewhere.
WRONG_PARCEL_CODES = (OtherWarehouse.code, UnknownShipment.code)


def visible_parcel(session: Session, *, order_no: str, parcel_no: int, warehouse: str | None) -> Shipment:
    """The order's parcel if `warehouse` (None: any) ships it; otherwise UnknownShipment, as if it did not exist."""
    reference = f"{order_no}-{parcel_no}"
    order_id = orders.order_ids(session, [order_no]).get(order_no)
    shipment = None if order_id is None else repository.parcel(session, order_id, parcel_no)
    if shipment is None or (warehouse is not None and shipment.warehouse_code != warehouse):
        raise UnknownShipment(reference)
    return shipment


def has_photo(session: Session, shipment_id: int) -> bool:
    return bool(session.scalar(select(exists().where(ParcelPhoto.shipment_id == shipment_id))))


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


def list_parcels(session: Session, *, warehouse: str, status: ShipmentStatus | None = None, limit: int = 50,
                 before_id: int | None = None) -> list[ParcelView]:
    """The warehouse's parcels (cancelled ones left out unless asked for), newest first."""
    photos = (select(func.count(ParcelPhoto.id)).where(ParcelPhoto.shipment_id == Shipment.id)
              .correlate(Shipment).scalar_subquery())
    query = (select(Shipment, Order.order_no, photos).join(Order, Order.id == Shipment.order_id)
             .where(Shipment.warehouse_code == warehouse))
    if status is not None:
        query = query.where(Shipment.status == status.value)
    else:
        query = query.where(Shipment.status != ShipmentStatus.CANCELLED.value)
    if before_id is not None:
        query = query.where(Shipment.id < before_id)
    rows = session.execute(query.order_by(Shipment.id.desc()).limit(limit)).all()
    waybills = logistics.shipment_waybill_numbers(session, shipment_ids=[row[0].id for row in rows])
    return [ParcelView(shipment.id, order_no, shipment.parcel_no, shipment.warehouse_code, shipment.carrier_code,
                       shipment.status, waybills.get(shipment.id), count, shipment.created_at)
            for shipment, order_no, count in rows]


def parcel_view(session: Session, *, order_no: str, parcel_no: int, warehouse: str | None) -> ParcelView:
    shipment = visible_parcel(session, order_no=order_no, parcel_no=parcel_no, warehouse=warehouse)
    waybill = logistics.shipment_waybill(session, shipment_id=shipment.id)
    count = session.scalar(select(func.count(ParcelPhoto.id)).where(ParcelPhoto.shipment_id == shipment.id)) or 0
    return ParcelView(shipment.id, order_no, shipment.parcel_no, shipment.warehouse_code, shipment.carrier_code,
                      shipment.status, waybill.number if waybill else None, count, shipment.created_at)


def attach_photo(uow: UnitOfWork, store: PhotoStore, *, order_no: str, parcel_no: int, warehouse: str | None,
                 content: bytes, max_bytes: int, actor: Actor) -> ParcelPhoto:
    """Check the upload is a real image under the limit, keep it in the store and record it on the parcel.

    The file is written before the row commits: a failed commit leaves an unreferenced file, never a row
    pointing at nothing.
    """
    photo = check_photo(content, max_bytes=max_bytes)
    with uow:
        shipment = visible_parcel(uow.session, order_no=order_no, parcel_no=parcel_no, warehouse=warehouse)
        if shipment.status == ShipmentStatus.CANCELLED:
            raise ShipmentCancelled(f"{order_no}-{parcel_no}")
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
