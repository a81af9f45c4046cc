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
    CANCELLED = "cancelled"


class Shipment(Base):
    """One parcel of an order: from one warehouse with one carrier. Picking, packing and waybills come later."""

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
