"""Request and response models of the routing API (money as two-place yuan strings at this edge)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from orderhub.core.money import fen_to_yuan
from orderhub.fulfillment.model import ParcelPhoto, RoutingDecision, ScanKind, Shipment, WarehouseScan
from orderhub.fulfillment.portal import ON_TIME, DailyReport, ParcelView
from orderhub.fulfillment.scans import NOTE_MAX, ConflictDecision, Scan, ScanResult
from orderhub.fulfillment.service import BreakerView, OrderRouting


def _yuan(fen: int | None) -> str | None:
    return None if fen is None else fen_to_yuan(fen)


class CarrierOptionOut(BaseModel):
    carrier: str
    carrier_name: str
    verdict: str
    eta_hours: int | None
    cost: str | None
    rule: str | None


class ShortageOut(BaseModel):
    sku: str
    need: int
    have: int


class LineOut(BaseModel):
    sku: str
    qty: int


class ParcelOut(BaseModel):
    warehouse: str
    warehouse_name: str
    carrier: str
    carrier_name: str
    lines: list[LineOut]
    weight_g: int
    eta_hours: int
    cost: str
    carriers: list[CarrierOptionOut]


class WarehouseOut(BaseModel):
    warehouse: str
    name: str
    verdict: str
    eta_hours: int | None
    cost: str | None
    carrier: str | None
    shortages: list[ShortageOut]
    carriers: list[CarrierOptionOut]
    until: datetime | None


class AlternativeOut(BaseModel):
    warehouses: list[str]
    eta_hours: int
    cost: str


class DecisionOut(BaseModel):
    attempt: int
    decided_at: datetime
    outcome: str
    reason: str | None
    # False: out of stock because inventory could not reserve the order's stock centrally.
    reserved: bool
    applied: bool
    province: str
    city: str
    weight_g: int
    eta_hours: int | None
    cost: str | None
    parcels: list[ParcelOut]
    warehouses: list[WarehouseOut]
    shortages: list[ShortageOut]
    alternatives: list[AlternativeOut]
    carriers: list[CarrierOptionOut]
    tables: str
    actor: str
    source: str
    retry_at: datetime | None

    @classmethod
    def of(cls, row: RoutingDecision) -> DecisionOut:
        reasons = row.reasons
        names: dict[str, str] = reasons["names"]["warehouses"]
        carriers: dict[str, list[str]] = reasons["names"]["carriers"]

        def carrier_name(code: str) -> str:
            return carriers[code][0] if code in carriers else code

        def options(items: list[dict[str, Any]]) -> list[CarrierOptionOut]:
            return [CarrierOptionOut(carrier=o["code"], carrier_name=carrier_name(o["code"]), verdict=o["verdict"],
                                     eta_hours=o["eta_hours"], cost=_yuan(o["cost_fen"]), rule=o["rule"])
                    for o in items]

        return cls(
            attempt=row.attempt, decided_at=row.decided_at, outcome=row.outcome, reason=row.reason,
            reserved=reasons.get("reserved", True), applied=row.applied, province=row.province, city=row.city,
            weight_g=row.weight_g,
            eta_hours=row.eta_hours, cost=_yuan(row.cost_fen),
            parcels=[ParcelOut(warehouse=p["warehouse"], warehouse_name=names.get(p["warehouse"], p["warehouse"]),
                               carrier=p["carrier"], carrier_name=carrier_name(p["carrier"]),
                               lines=[LineOut(**line) for line in p["lines"]], weight_g=p["weight_g"],
                               eta_hours=p["eta_hours"], cost=fen_to_yuan(p["cost_fen"]),
                               carriers=options(p["carriers"])) for p in row.parcels],
            warehouses=[WarehouseOut(warehouse=w["code"], name=w["name"], verdict=w["verdict"],
                                     eta_hours=w["eta_hours"], cost=_yuan(w["cost_fen"]), carrier=w["carrier"],
                                     shortages=[ShortageOut(**s) for s in w["shortages"]],
                                     carriers=options(w["carriers"]), until=w["until"])
                        for w in reasons["warehouses"]],
            shortages=[ShortageOut(**s) for s in reasons["shortages"]],
            alternatives=[AlternativeOut(warehouses=a["warehouses"], eta_hours=a["eta_hours"],
                                         cost=fen_to_yuan(a["cost_fen"])) for a in reasons["alternatives"]],
            carriers=options(reasons["carriers"]),
            tables=row.tables, actor=row.actor, source=row.source, retry_at=row.retry_at,
        )


class ShipmentOut(BaseModel):
    parcel_no: int
    warehouse: str
    carrier: str
    status: str
    weight_g: int
    eta_hours: int
    estimated_cost: str
    lines: list[LineOut]

    @classmethod
    def of(cls, shipment: Shipment) -> ShipmentOut:
        return cls(parcel_no=shipment.parcel_no, warehouse=shipment.warehouse_code, carrier=shipment.carrier_code,
                   status=shipment.status, weight_g=shipment.weight_g, eta_hours=shipment.eta_hours,
                   estimated_cost=fen_to_yuan(shipment.estimated_cost_fen),
                   lines=[LineOut(sku=line.sku, qty=line.qty) for line in shipment.lines])


class RoutingOut(BaseModel):
    order_no: str
    status: str
    attempts: int
    decision: DecisionOut | None = Field(description="the latest routing decision, with its reasons")
    shipments: list[ShipmentOut] = Field(description="planned parcels (cancelled ones included)")

    @classmethod
    def of(cls, routing: OrderRouting) -> RoutingOut:
        latest = routing.latest
        return cls(
            order_no=routing.order.order_no, status=routing.order.status, attempts=len(routing.decisions),
            decision=DecisionOut.of(latest) if latest else None,
            shipments=[ShipmentOut.of(s) for s in routing.shipments],
        )


class SlaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    breached: bool = Field(strict=True)
    reference: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$",
                           description="what was late or on time, e.g. a shipment or order number; counted once")
    at: datetime | None = Field(default=None, description="when it happened (with offset); default now")


class BreakerOut(BaseModel):
    warehouse: str
    name: str
    state: str
    consecutive_breaches: int
    tripped_until: datetime | None
    trips: int

    @classmethod
    def of(cls, view: BreakerView) -> BreakerOut:
        return cls(warehouse=view.warehouse, name=view.name, state=view.state.value,
                   consecutive_breaches=view.consecutive_breaches, tripped_until=view.tripped_until, trips=view.trips)


_ID = r"^[A-Za-z0-9_.:\-]+$"


class ScanFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    client_event_id: str = Field(min_length=1, max_length=64, pattern=_ID,
                                 description="the device's own id of this scan: sending it again changes nothing")
    reference: str = Field(min_length=1, max_length=64, description="the shipment: ORDER_NO-PARCEL_NO")
    kind: ScanKind
    occurred_at: AwareDatetime = Field(description="when it was scanned, with offset (the device clock)")
    waybill_no: str = Field(default="", max_length=40, description="a waybill to bind to the shipment (ship scan)")


class ScanIn(ScanFields):
    device_id: str = Field(min_length=1, max_length=64, pattern=_ID)
    warehouse: str = Field(min_length=1, max_length=32, description="the scanning warehouse's code")

    def scan(self) -> Scan:
        return Scan(self.device_id, self.client_event_id, self.warehouse, self.reference, self.kind, self.occurred_at,
                    self.waybill_no)


class ScanBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_id: str = Field(min_length=1, max_length=64, pattern=_ID)
    warehouse: str = Field(min_length=1, max_length=32)
    scans: list[ScanFields] = Field(min_length=1, max_length=1000)

    def all(self) -> list[Scan]:
        return [Scan(self.device_id, s.client_event_id, self.warehouse, s.reference, s.kind, s.occurred_at,
                     s.waybill_no) for s in self.scans]


class ErrorOut(BaseModel):
    code: str
    message: str


class ScanOut(BaseModel):
    client_event_id: str
    reference: str
    kind: str
    outcome: str = Field(description="applied, already_done, conflict (kept for a person) or refused (not kept)")
    replay: bool = Field(description="sent before: this is the first answer again")
    order_no: str
    shipment_status: str | None
    error: ErrorOut | None

    @classmethod
    def of(cls, result: ScanResult) -> ScanOut:
        error = ErrorOut(code=result.error_code, message=result.message) if result.error_code else None
        return cls(client_event_id=result.client_event_id, reference=result.reference, kind=result.kind,
                   outcome=result.outcome, replay=result.replay, order_no=result.order_no,
                   shipment_status=result.shipment_status, error=error)


class ScanBatchOut(BaseModel):
    results: list[ScanOut] = Field(description="one per scan, in event-time order (the order they were applied)")
    applied: int
    conflicts: int


class ResolutionOut(BaseModel):
    decision: str = Field(description="applied or dismissed")
    note: str
    by: str
    at: datetime


class ScanConflictOut(BaseModel):
    id: int
    device_id: str
    client_event_id: str
    warehouse: str
    reference: str
    kind: str
    waybill_no: str
    occurred_at: datetime
    received_at: datetime
    outcome: str = Field(description="conflict while open or dismissed; applied or already_done once applied")
    error: ErrorOut = Field(description="why the scan was refused when it came in")
    resolution: ResolutionOut | None = Field(description="a person's decision; null while open")

    @classmethod
    def of(cls, row: WarehouseScan) -> ScanConflictOut:
        resolution = ResolutionOut(decision=row.resolution, note=row.resolution_note, by=row.resolved_by,
                                   at=row.resolved_at) if row.resolution and row.resolved_at else None
        return cls(id=row.id, device_id=row.device_id, client_event_id=row.client_event_id,
                   warehouse=row.warehouse_code, reference=row.reference, kind=row.kind, waybill_no=row.waybill_no,
                   occurred_at=row.occurred_at, received_at=row.received_at, outcome=row.outcome,
                   error=ErrorOut(code=row.error_code, message=row.message), resolution=resolution)


class ScanConflictResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: ConflictDecision = Field(description="apply: apply the scan now, through the scan rules; "
                                                   "dismiss: leave it unapplied")
    note: str = Field(max_length=NOTE_MAX, description="why (required)")


class ScanConflictList(BaseModel):
    items: list[ScanConflictOut]
    next_cursor: str | None


class PortalParcelOut(BaseModel):
    order_no: str
    parcel_no: int
    reference: str = Field(description="ORDER_NO-PARCEL, as on the pick list and label")
    warehouse: str
    carrier: str
    status: str
    waybill_no: str | None
    photos: int = Field(description="package photos uploaded")
    created_at: datetime = Field(description="planned (allocated) at")

    @classmethod
    def of(cls, view: ParcelView) -> PortalParcelOut:
        return cls(order_no=view.order_no, parcel_no=view.parcel_no, reference=f"{view.order_no}-{view.parcel_no}",
                   warehouse=view.warehouse_code, carrier=view.carrier_code, status=view.status,
                   waybill_no=view.waybill_no, photos=view.photos, created_at=view.created_at)


class PortalParcelList(BaseModel):
    items: list[PortalParcelOut]
    next_cursor: str | None


class PhotoOut(BaseModel):
    id: int
    order_no: str
    parcel_no: int
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str

    @classmethod
    def of(cls, row: ParcelPhoto) -> PhotoOut:
        return cls(id=row.id, order_no=row.order_no, parcel_no=row.parcel_no, content_type=row.content_type,
                   size_bytes=row.size_bytes, sha256=row.sha256, uploaded_at=row.uploaded_at,
                   uploaded_by=row.uploaded_by)


class PortalReportOut(BaseModel):
    warehouse: str
    date: date
    shipped: int = Field(description="parcels ship-scanned that business day")
    on_time: int = Field(description=f"of them, shipped within {ON_TIME.total_seconds() / 3600:g} h of allocation")
    on_time_rate: float | None
    with_photo: int
    photo_compliance: float | None = Field(description="shipped parcels with a package photo / shipped")
    wrong_parcel_scans: int = Field(description="offline scans refused because the parcel is another warehouse's")
    wrong_ship_rate: float | None = Field(description="wrong_parcel_scans / shipped")

    @classmethod
    def of(cls, report: DailyReport) -> PortalReportOut:
        return cls(warehouse=report.warehouse, date=report.day, shipped=report.shipped, on_time=report.on_time,
                   on_time_rate=report.on_time_rate, with_photo=report.with_photo,
                   photo_compliance=report.photo_compliance, wrong_parcel_scans=report.wrong_parcel_scans,
                   wrong_ship_rate=report.wrong_ship_rate)
