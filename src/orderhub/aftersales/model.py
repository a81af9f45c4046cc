"""After-sales cases: a request about one order (return, refund only, exchange, reship), its lines,
its own status machine and its append-only timeline; plus each order's refunded total.

Which statuses a case passes through depends on its kind:

    refund_only  requested → approved → refunded
    return       requested → awaiting_return → received → refunded
    exchange     requested → awaiting_return → received → replaced (a replacement order is created)
    reship       requested → replaced (a replacement order is created)

A requested case may be rejected, and any open case closed (withdrawn); those end it without money.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from orderhub.aftersales.errors import IllegalCaseTransition
from orderhub.core.actor import Actor
from orderhub.core.db import Base, BigId, JsonDoc, UTCDateTime


class CaseKind(StrEnum):
    RETURN = "return"
    REFUND_ONLY = "refund_only"
    EXCHANGE = "exchange"
    RESHIP = "reship"


class CaseStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    AWAITING_RETURN = "awaiting_return"
    RECEIVED = "received"
    REFUNDED = "refunded"
    REPLACED = "replaced"
    REJECTED = "rejected"
    CLOSED = "closed"


class CaseSource(StrEnum):
    STAFF = "staff"
    CHANNEL = "channel"


K, C = CaseKind, CaseStatus

# Each kind's machine; a status missing from a table has no way out (it ends the case).
TRANSITIONS: dict[CaseKind, dict[CaseStatus, frozenset[CaseStatus]]] = {
    # A platform may refund at once (极速退款): requested → refunded with no approval step.
    K.REFUND_ONLY: {
        C.REQUESTED: frozenset({C.APPROVED, C.REFUNDED, C.REJECTED, C.CLOSED}),
        C.APPROVED: frozenset({C.REFUNDED, C.CLOSED}),
    },
    K.RETURN: {
        C.REQUESTED: frozenset({C.AWAITING_RETURN, C.REJECTED, C.CLOSED}),
        C.AWAITING_RETURN: frozenset({C.RECEIVED, C.CLOSED}),
        C.RECEIVED: frozenset({C.REFUNDED, C.CLOSED}),
    },
    K.EXCHANGE: {
        C.REQUESTED: frozenset({C.AWAITING_RETURN, C.REJECTED, C.CLOSED}),
        C.AWAITING_RETURN: frozenset({C.RECEIVED, C.CLOSED}),
        C.RECEIVED: frozenset({C.REPLACED, C.CLOSED}),
    },
    K.RESHIP: {
        C.REQUESTED: frozenset({C.REPLACED, C.REJECTED, C.CLOSED}),
    },
}

# Where "approve" takes a case of each kind.
APPROVED_AS: dict[CaseKind, CaseStatus] = {
    K.REFUND_ONLY: C.APPROVED,
    K.RETURN: C.AWAITING_RETURN,
    K.EXCHANGE: C.AWAITING_RETURN,
    K.RESHIP: C.REPLACED,
}

TERMINAL = frozenset({C.REFUNDED, C.REPLACED, C.REJECTED, C.CLOSED})
# Kinds that give money back (and put the order into refunding, or on hold before shipping).
REFUND_KINDS = frozenset({K.REFUND_ONLY, K.RETURN})

KIND_LABELS_ZH = {K.RETURN: "退货退款", K.REFUND_ONLY: "仅退款", K.EXCHANGE: "换货", K.RESHIP: "补发"}
STATUS_LABELS_ZH = {
    C.REQUESTED: "待审核",
    C.APPROVED: "已同意",
    C.AWAITING_RETURN: "待退货",
    C.RECEIVED: "已收货",
    C.REFUNDED: "已退款",
    C.REPLACED: "已换补",
    C.REJECTED: "已驳回",
    C.CLOSED: "已关闭",
}


class RestockState(StrEnum):
    NONE = "none"  # nothing to put back (no return, or the goods never left the warehouse)
    PENDING = "pending"  # received; the stock movement is still to be made (retried until done)
    DONE = "done"


class AfterSalesCase(Base):
    __tablename__ = "aftersales_case"
    __table_args__ = (
        Index("ix_aftersales_case_order", "order_id", "id"),
        Index("ix_aftersales_case_status_created", "status", "created_at", "id"),
        Index("ix_aftersales_case_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(BigId)
    order_no: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    # The order had not shipped when asked: the warehouse must not ship it (logistics intercepts).
    needs_interception: Mapped[bool] = mapped_column(default=False)
    shipping_refund_fen: Mapped[int] = mapped_column(default=0)
    refund_fen: Mapped[int] = mapped_column(default=0)  # lines plus shipping
    # Where a replacement order (exchange, reship) goes, when not to the original receiver.
    replacement_receiver: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, default=None)
    replacement_order_no: Mapped[str | None] = mapped_column(String(32), default=None)
    return_warehouse: Mapped[str | None] = mapped_column(String(32), default=None)
    restock: Mapped[str] = mapped_column(String(8), default=RestockState.NONE.value)
    channel_status: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    lines: Mapped[list[AfterSalesLine]] = relationship(
        back_populates="case", order_by="AfterSalesLine.line_no", cascade="all, delete-orphan"
    )
    events: WriteOnlyMapped[AfterSalesEvent] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form

    @property
    def open(self) -> bool:
        return CaseStatus(self.status) not in TERMINAL

    def allowed_targets(self) -> frozenset[CaseStatus]:
        return TRANSITIONS[CaseKind(self.kind)].get(CaseStatus(self.status), frozenset())

    def transition_to(self, target: CaseStatus, *, reason: str, by: Actor, at: datetime) -> AfterSalesEvent:
        """Move to `target` if the kind's machine allows it, returning the timeline row to append."""
        current = CaseStatus(self.status)
        if target not in self.allowed_targets():
            raise IllegalCaseTransition(self.kind, current.value, target.value)
        self.status = target.value
        self.updated_at = at
        return AfterSalesEvent(kind="transition", at=at, actor=by.name[:64], source=by.source,
                               from_status=current.value, to_status=target.value, reason=reason.strip()[:500])


class AfterSalesLine(Base):
    __tablename__ = "aftersales_line"
    __table_args__ = (UniqueConstraint("case_id", "line_no"), Index("ix_aftersales_line_order_line", "order_line_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_case.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(BigId)
    line_no: Mapped[int]  # the order line's number
    sku: Mapped[str] = mapped_column(String(64))
    qty: Mapped[int]
    refund_fen: Mapped[int] = mapped_column(default=0)
    # What the customer gets instead (exchange); the same SKU when empty.
    exchange_sku: Mapped[str] = mapped_column(String(64), default="")

    case: Mapped[AfterSalesCase] = relationship(back_populates="lines")


class AfterSalesEvent(Base):
    """One row of a case's timeline; rows are only ever appended."""

    __tablename__ = "aftersales_event"
    __table_args__ = (Index("ix_aftersales_event_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_case.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(20), default=None)
    to_status: Mapped[str | None] = mapped_column(String(20), default=None)
    reason: Mapped[str] = mapped_column(String(500), default="")


class OrderRefund(Base):
    """Money given back on an order through after-sales; its row is the lock every refund of the order takes."""

    __tablename__ = "aftersales_order_refund"

    order_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    order_no: Mapped[str] = mapped_column(String(32))
    refunded_fen: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
