"""Request and response models of the logistics API (and the `tracking` field of an order read)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from orderhub.logistics.anomaly_rules import AnomalyKind
from orderhub.logistics.model import (
    ExceptionTicket,
    InterceptionState,
    TicketStatus,
    TrackingEvent,
    Waybill,
    WaybillInterception,
)
from orderhub.logistics.states import TrackingState

if TYPE_CHECKING:
    # Only named in signatures: the orders schemas import these models, and the service imports orders.
    from orderhub.logistics.anomalies import CarrierScore
    from orderhub.logistics.ewaybill import IssuedWaybill
    from orderhub.logistics.service import Parcel


class WaybillBind(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    order_no: str = Field(min_length=1, max_length=32)
    # OrderHub's code (SF), kuaidi100's (shunfeng) or the carrier's name (顺丰速运).
    carrier: str = Field(min_length=1, max_length=32)
    waybill_no: str = Field(min_length=1, max_length=64)


class TrackingEventOut(BaseModel):
    at: datetime
    state: TrackingState
    text: str
    location: str
    source: str

    @classmethod
    def of(cls, event: TrackingEvent) -> TrackingEventOut:
        return cls(at=event.occurred_at, state=TrackingState(event.state), text=event.text, location=event.location,
                   source=event.source)


class ParcelTracking(BaseModel):
    """One parcel of an order and its track, newest event first."""

    carrier: str  # OrderHub's code; "" when the platform named a carrier we do not know
    carrier_name: str
    waybill_no: str
    source: str
    shipment_id: int | None
    state: TrackingState
    state_at: datetime | None
    events: list[TrackingEventOut]

    @classmethod
    def of(cls, parcel: Parcel) -> ParcelTracking:
        waybill = parcel.waybill
        return cls(carrier=waybill.carrier_code, carrier_name=waybill.carrier_name, waybill_no=waybill.number,
                   source=waybill.source, shipment_id=waybill.shipment_id, state=TrackingState(waybill.state),
                   state_at=waybill.state_at, events=[TrackingEventOut.of(event) for event in parcel.events])


class WaybillRead(ParcelTracking):
    order_no: str

    @classmethod
    def of(cls, parcel: Parcel) -> WaybillRead:
        return cls(order_no=parcel.waybill.order_no, **ParcelTracking.of(parcel).model_dump())


class TicketRead(BaseModel):
    """An exception ticket opened by a parcel anomaly."""

    id: int
    order_no: str
    carrier: str
    waybill_no: str
    kind: AnomalyKind
    status: TicketStatus
    owner: str
    detail: str
    condition_since: datetime
    opened_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str

    @classmethod
    def of(cls, ticket: ExceptionTicket) -> TicketRead:
        return cls(id=ticket.id, order_no=ticket.order_no, carrier=ticket.carrier_code, waybill_no=ticket.waybill_no,
                   kind=AnomalyKind(ticket.kind), status=TicketStatus(ticket.status), owner=ticket.owner,
                   detail=ticket.detail, condition_since=ticket.condition_since, opened_at=ticket.opened_at,
                   acknowledged_by=ticket.acknowledged_by, acknowledged_at=ticket.acknowledged_at,
                   resolved_by=ticket.resolved_by, resolved_at=ticket.resolved_at, resolution=ticket.resolution)


class TicketList(BaseModel):
    items: list[TicketRead]
    next_cursor: str | None


class TicketAcknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(default="", max_length=500)


class TicketResolve(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)


class CarrierScoreRead(BaseModel):
    carrier: str
    shipped: int
    delivered: int
    due: int  # delivered, or past the delivery limit of the receiver's region
    delayed: int
    delay_rate: float | None
    suspicious_signoffs: int
    signoff_trust: float | None  # share of deliveries without a suspicious sign-off

    @classmethod
    def of(cls, score: CarrierScore) -> CarrierScoreRead:
        return cls(carrier=score.carrier, shipped=score.shipped, delivered=score.delivered, due=score.due,
                   delayed=score.delayed, delay_rate=score.delay_rate, suspicious_signoffs=score.suspicious_signoffs,
                   signoff_trust=score.signoff_trust)


class Scorecard(BaseModel):
    month: str
    carriers: list[CarrierScoreRead]


class InterceptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500, description="why the parcel must come back (售后单号, 退款)")


class InterceptionRead(BaseModel):
    carrier: str
    waybill_no: str
    order_no: str
    state: InterceptionState = Field(description="requested → intercepted (the carrier turned it back) or failed")
    reason: str
    requested_by: str
    requested_at: datetime
    resolved_at: datetime | None
    resolution: str

    @classmethod
    def of(cls, interception: WaybillInterception, waybill: Waybill) -> InterceptionRead:
        return cls(carrier=waybill.carrier_code, waybill_no=waybill.number, order_no=interception.order_no,
                   state=InterceptionState(interception.state), reason=interception.reason,
                   requested_by=interception.requested_by, requested_at=interception.requested_at,
                   resolved_at=interception.resolved_at, resolution=interception.resolution)


class EwaybillRead(BaseModel):
    """A parcel's e-waybill; `requested` is false when the parcel already had it (nothing was asked of the carrier)."""

    order_no: str
    parcel_no: int
    carrier: str
    waybill_no: str
    requested: bool

    @classmethod
    def of(cls, issued: IssuedWaybill) -> EwaybillRead:
        return cls(order_no=issued.order_no, parcel_no=issued.parcel_no, carrier=issued.carrier_code,
                   waybill_no=issued.waybill_no, requested=issued.requested)
