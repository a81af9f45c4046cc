"""Routing decisions, the parcel plan they make (shipments), and each warehouse's SLA circuit breaker."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orderhub.core.db import Base, BigId, JsonDoc, UTCDateTime
from orderhub.fulfillment.tables import BreakerPolicy


class RoutingDecision(Base):
    """One attempt at routing one order: what was chosen (or why nothing could be), and why."""

    __tablename__ = "routing_decision"
    __table_args__ = (
        UniqueConstraint("order_id", "attempt"),
        # The worker skips orders whose last attempt asked to wait (retry_at in the future).
        Index("ix_routing_decision_order_retry", "order_id", "retry_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    # Why nothing could be routed (decision.Unroutable), None when routed.
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    # Routed and carried out: stock assigned, shipments planned, order allocated (False for a dry run's twin).
    applied: Mapped[bool] = mapped_column(default=False)
    province: Mapped[str] = mapped_column(String(32), default="")
    city: Mapped[str] = mapped_column(String(32), default="")
    weight_g: Mapped[int] = mapped_column(default=0)
    eta_hours: Mapped[int | None] = mapped_column(default=None)
    cost_fen: Mapped[int | None] = mapped_column(default=None)
    parcels: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    reasons: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    # The tables file and its content hash: which version of the rules decided.
    tables: Mapped[str] = mapped_column(String(120))
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ShipmentStatus(StrEnum):
    PLANNED = "planned"
    PICKING = "picking"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


# A shipment's way through its warehouse, one scan per step; cancelled is off the path.
FLOW = (ShipmentStatus.PLANNED, ShipmentStatus.PICKING, ShipmentStatus.PICKED, ShipmentStatus.PACKED,
        ShipmentStatus.SHIPPED)
# Still in the warehouse: scans move it on, and a waybill can be bound to it.
IN_WAREHOUSE = frozenset(FLOW[:-1])


class Shipment(Base):
    """One parcel of an order: from one warehouse with one carrier, moved on by the warehouse's scans."""

    __tablename__ = "shipment"
    __table_args__ = (
        UniqueConstraint("decision_id", "parcel_no"),
        Index("ix_shipment_order", "order_id"),
        Index("ix_shipment_warehouse_status", "warehouse_code", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"))
    decision_id: Mapped[int] = mapped_column(ForeignKey("routing_decision.id"))
    parcel_no: Mapped[int]
    warehouse_code: Mapped[str] = mapped_column(String(32))
    carrier_code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    weight_g: Mapped[int]
    eta_hours: Mapped[int]
    estimated_cost_fen: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    decision: Mapped[RoutingDecision] = relationship()
    lines: Mapped[list[ShipmentLine]] = relationship(
        back_populates="shipment", order_by="ShipmentLine.id", cascade="all, delete-orphan"
    )


class ShipmentLine(Base):
    __tablename__ = "shipment_line"
    __table_args__ = (Index("ix_shipment_line_shipment", "shipment_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64))
    qty: Mapped[int]

    shipment: Mapped[Shipment] = relationship(back_populates="lines")


class SlaResult(Base):
    """Whether one piece of a warehouse's work (a shipment, by its reference) met its SLA; recorded once."""

    __tablename__ = "sla_result"
    __table_args__ = (
        UniqueConstraint("warehouse_code", "reference"),
        Index("ix_sla_result_warehouse_at", "warehouse_code", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    warehouse_code: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(64))
    breached: Mapped[bool]
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"  # out of routing until `tripped_until`
    HALF_OPEN = "half_open"  # back in routing; the next breach trips it again


class WarehouseBreaker(Base):
    """A warehouse's run of SLA breaches; enough in a row take it out of routing for a while."""

    __tablename__ = "warehouse_breaker"

    warehouse_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    consecutive_breaches: Mapped[int] = mapped_column(default=0)
    tripped_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Tripped before and not yet closed by a met SLA: once open time is over, one breach trips it again.
    half_open: Mapped[bool] = mapped_column(default=False)
    trips: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def state(self, now: datetime) -> BreakerState:
        if self.tripped_until is not None and now < self.tripped_until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN if self.half_open else BreakerState.CLOSED

    def record(self, *, breached: bool, at: datetime, policy: BreakerPolicy) -> bool:
        """Count one result; True when this breach trips the breaker (the owner is to be told)."""
        self.updated_at = at
        state = self.state(at)
        if not breached:
            self.consecutive_breaches = 0
            if state is BreakerState.HALF_OPEN:
                self.half_open = False
            return False
        self.consecutive_breaches += 1
        if state is BreakerState.OPEN:
            return False  # already out of routing; late results of earlier work do not extend it
        if state is BreakerState.HALF_OPEN or self.consecutive_breaches >= policy.threshold:
            self.tripped_until = at + policy.open_for
            self.half_open = True
            self.trips += 1
            return True
        return False


class ScanKind(StrEnum):
    """What a warehouse scanner reports: the step the shipment has just taken."""

    PICK_STARTED = "pick_started"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"


# The status each scan moves a shipment into (from the status just before it in FLOW).
SCAN_TARGET = {
    ScanKind.PICK_STARTED: ShipmentStatus.PICKING,
    ScanKind.PICKED: ShipmentStatus.PICKED,
    ScanKind.PACKED: ShipmentStatus.PACKED,
    ScanKind.SHIPPED: ShipmentStatus.SHIPPED,
}


class ScanStep(StrEnum):
    APPLY = "apply"  # the next step: the shipment moves
    DONE = "done"  # the shipment is at or past it already: nothing to do
    SKIPS = "skips"  # it skips a step (packed before picked): out of order
    CANCELLED = "cancelled"  # the shipment is off the path


def scan_step(status: str, kind: ScanKind) -> ScanStep:
    """What a scan of `kind` means for a shipment in `status`."""
    if status == ShipmentStatus.CANCELLED:
        return ScanStep.CANCELLED
    at, target = FLOW.index(ShipmentStatus(status)), FLOW.index(SCAN_TARGET[kind])
    if target <= at:
        return ScanStep.DONE
    return ScanStep.APPLY if target == at + 1 else ScanStep.SKIPS


class ScanOutcome(StrEnum):
    APPLIED = "applied"
    ALREADY_DONE = "already_done"  # a late scan of a step the shipment had taken: kept, changes nothing
    CONFLICT = "conflict"  # refused (offline batch): kept for a person to look at


class ConflictResolution(StrEnum):
    """What a person decided about a conflict (a refused offline scan)."""

    APPLIED = "applied"  # applied after all, through the same rules: the scan's outcome is now what it did
    DISMISSED = "dismissed"  # left unapplied on purpose; the scan stays a conflict


class WarehouseScan(Base):
    """One scanner event, stored once under its device and client event id, with what became of it."""

    __tablename__ = "warehouse_scan"
    __table_args__ = (
        UniqueConstraint("device_id", "client_event_id"),
        Index("ix_warehouse_scan_shipment", "shipment_id", "occurred_at"),
        Index("ix_warehouse_scan_outcome", "outcome", "id"),
        Index("ix_warehouse_scan_resolution", "resolution", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    client_event_id: Mapped[str] = mapped_column(String(64))
    # The scanning warehouse, and the shipment and waybill as scanned (kept even when they match nothing).
    warehouse_code: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(64))
    waybill_no: Mapped[str] = mapped_column(String(40), default="")
    kind: Mapped[str] = mapped_column(String(16))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipment.id", ondelete="SET NULL"), default=None)
    order_no: Mapped[str] = mapped_column(String(32), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(8))  # online, batch
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(String(500), default="")
    actor: Mapped[str] = mapped_column(String(64))
    # A conflict a person settled: ConflictResolution ("" while open, and for scans that never conflicted),
    # who, when and why. The refusal (error_code, message) stays as it was.
    resolution: Mapped[str] = mapped_column(String(16), default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_by: Mapped[str] = mapped_column(String(64), default="")
    resolution_note: Mapped[str] = mapped_column(String(500), default="")


class ParcelPhoto(Base):
    """A package photo taken at packing, showing the order number; the image itself is in the photo store."""

    __tablename__ = "parcel_photo"
    __table_args__ = (
        Index("ix_parcel_photo_shipment", "shipment_id"),
        Index("ix_parcel_photo_warehouse_at", "warehouse_code", "uploaded_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipment.id", ondelete="CASCADE"))
    order_no: Mapped[str] = mapped_column(String(32))
    parcel_no: Mapped[int]
    warehouse_code: Mapped[str] = mapped_column(String(32))
    # Where the store keeps it (a relative path on disk, an object key in a bucket).
    storage_key: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_by: Mapped[str] = mapped_column(String(64))
