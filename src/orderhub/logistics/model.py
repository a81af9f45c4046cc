"""Waybills (one parcel each), their tracking events, every carrier push received (the audit trail),
and the exception tickets parcel anomalies open, with their append-only trail."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from orderhub.core.db import Base, BigId, UTCDateTime
from orderhub.logistics.states import FINAL, TrackingState

# A second identical full push of one waybill within this window is a re-delivery, not news.
REPEAT_WINDOW = timedelta(minutes=30)


class WaybillSource(StrEnum):
    CARRIER = "carrier"  # printed from the carrier's electronic waybill service
    PLATFORM = "platform"  # the order arrived from its platform already shipped
    MANUAL = "manual"  # keyed in by staff


class PushOutcome(StrEnum):
    ACCEPTED = "accepted"
    REPEATED = "repeated"  # the same snapshot again within REPEAT_WINDOW: ignored
    UNKNOWN_WAYBILL = "unknown_waybill"  # kept; taken in when the waybill is bound
    MALFORMED = "malformed"
    REJECTED = "rejected"  # signature failed: kept for audit, never taken in


def event_fingerprint(*, number: str, carrier: str, at: datetime, text: str) -> str:
    """The identity of one carrier event, however many pushes and polls repeat it."""
    return hashlib.sha256(f"{number}\x1f{carrier}\x1f{at.isoformat()}\x1f{text}".encode()).hexdigest()


class Waybill(Base):
    """One parcel: a carrier's number bound to an order (and, once fulfillment planned it, a shipment)."""

    __tablename__ = "waybill"
    __table_args__ = (
        UniqueConstraint("carrier_code", "number"),
        Index("ix_waybill_order", "order_id"),
        Index("ix_waybill_next_poll", "next_poll_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"))
    # Kept beside the id so events and pages name the order without reaching into the orders domain.
    order_no: Mapped[str] = mapped_column(String(32))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipment.id", ondelete="SET NULL"), default=None)
    # OrderHub's carrier code (carriers.yaml); "" when a platform named a carrier we do not know.
    carrier_code: Mapped[str] = mapped_column(String(16))
    # The carrier as the source named it ("中通快递" from Taobao), kept for people to read.
    carrier_name: Mapped[str] = mapped_column(String(64), default="")
    number: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(20), default=TrackingState.PENDING.value)
    # When the newest event we hold happened: an older event never sets the state.
    state_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_push_digest: Mapped[str] = mapped_column(String(64), default="")
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When the polling fallback should ask the carrier next; None: never (final, or no carrier to ask).
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    poll_failures: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def follow(self, state: TrackingState, at: datetime) -> bool:
        """Take the state of an event if it is the newest one known; True when the state changed."""
        if self.state_at is not None and at < self.state_at:
            return False
        changed = self.state != state.value
        self.state, self.state_at = state.value, at
        return changed

    @property
    def final(self) -> bool:
        return TrackingState(self.state) in FINAL

    def repeats(self, digest: str, now: datetime) -> bool:
        """The same full snapshot already taken within the repeat window."""
        return (self.last_push_digest == digest and self.last_push_at is not None
                and now - self.last_push_at < REPEAT_WINDOW)


class WaybillOrder(Base):
    """A further order one waybill carries: a platform ships several orders of one buyer as one parcel
    (合并发货). The waybill belongs to the order that brought it first; each other order is linked here,
    with its own shipment, and follows the parcel's tracking like the first."""

    __tablename__ = "waybill_order"
    __table_args__ = (
        UniqueConstraint("waybill_id", "order_id"),
        Index("ix_waybill_order_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    waybill_id: Mapped[int] = mapped_column(ForeignKey("waybill.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"))
    order_no: Mapped[str] = mapped_column(String(32))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipment.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TrackingEvent(Base):
    """One carrier scan, stored once (by fingerprint) whatever number of pushes and polls carried it."""

    __tablename__ = "tracking_event"
    __table_args__ = (
        UniqueConstraint("fingerprint"),
        Index("ix_tracking_event_waybill_at", "waybill_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    waybill_id: Mapped[int] = mapped_column(ForeignKey("waybill.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(String(100), default="")
    raw_status: Mapped[str] = mapped_column(String(16), default="")
    source: Mapped[str] = mapped_column(String(8))  # push, poll
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TrackingPush(Base):
    """Every carrier push exactly as it arrived, with what became of it: nothing is dropped unseen."""

    __tablename__ = "tracking_push"
    __table_args__ = (
        Index("ix_tracking_push_waybill", "com", "number", "outcome"),
        Index("ix_tracking_push_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    com: Mapped[str] = mapped_column(String(32), default="")
    number: Mapped[str] = mapped_column(String(40), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    param: Mapped[str] = mapped_column(Text)
    sign: Mapped[str] = mapped_column(String(64), default="")
    new_events: Mapped[int] = mapped_column(default=0)


class TicketStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # someone owns the follow-up; still counts as open
    RESOLVED = "resolved"


TICKET_STATUS_LABELS_ZH = {TicketStatus.OPEN: "待处理", TicketStatus.ACKNOWLEDGED: "已确认",
                           TicketStatus.RESOLVED: "已解决"}

# At most one unresolved ticket per waybill and kind, whatever number of scans race to open it.
_UNRESOLVED = "status <> 'resolved'"


class ExceptionTicket(Base):
    """A parcel anomaly someone must look at (异常工单): opened by the scan, resolved by hand or when it clears."""

    __tablename__ = "exception_ticket"
    __table_args__ = (
        Index("uq_exception_ticket_open", "waybill_id", "kind", unique=True,
              postgresql_where=text(_UNRESOLVED), sqlite_where=text(_UNRESOLVED)),
        Index("ix_exception_ticket_status_opened", "status", "opened_at", "id"),
        Index("ix_exception_ticket_waybill", "waybill_id", "kind", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    waybill_id: Mapped[int] = mapped_column(ForeignKey("waybill.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(BigId)
    order_no: Mapped[str] = mapped_column(String(32))
    carrier_code: Mapped[str] = mapped_column(String(16))
    waybill_no: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN.value)
    owner: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(500), default="")
    # When the condition began (the rules' `since`): a ticket resolved by hand after it is not reopened.
    condition_since: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolution: Mapped[str] = mapped_column(String(500), default="")

    @property
    def open(self) -> bool:
        return self.status != TicketStatus.RESOLVED.value


class ExceptionTicketEvent(Base):
    """One step of a ticket's life (opened, acknowledged, resolved); rows are only ever appended."""

    __tablename__ = "exception_ticket_event"
    __table_args__ = (Index("ix_exception_ticket_event_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("exception_ticket.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")


class InterceptionState(StrEnum):
    REQUESTED = "requested"  # sent to the carrier, waiting for the parcel to turn back
    INTERCEPTED = "intercepted"  # the carrier sends it back (returning or returned)
    FAILED = "failed"  # it was signed for before the carrier stopped it


class WaybillInterception(Base):
    """A shipped parcel the merchant asked its carrier to stop and send back (拦截), one per waybill."""

    __tablename__ = "waybill_interception"
    __table_args__ = (
        UniqueConstraint("waybill_id"),
        Index("ix_waybill_interception_state", "state", "requested_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    waybill_id: Mapped[int] = mapped_column(ForeignKey("waybill.id", ondelete="CASCADE"))
    order_no: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The tracking event that settled it, as the carrier wrote it.
    resolution: Mapped[str] = mapped_column(String(500), default="")

    def settle(self, state: TrackingState, *, at: datetime, text: str) -> bool:
        """Follow the parcel's new tracking state; True when it settles a requested interception."""
        outcome = _SETTLED_BY.get(state)
        if self.state != InterceptionState.REQUESTED.value or outcome is None:
            return False
        self.state, self.resolved_at, self.resolution = outcome.value, at, text[:500]
        return True


# The carrier turned the parcel back (intercepted), or it reached the receiver first (failed).
_SETTLED_BY = {TrackingState.RETURNING: InterceptionState.INTERCEPTED,
               TrackingState.RETURNED: InterceptionState.INTERCEPTED,
               TrackingState.DELIVERED: InterceptionState.FAILED}
