"""The unified order, its lines and its append-only timeline; the status rules live on the order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from orderhub.channels.model import Shop
from orderhub.core.actor import Actor
from orderhub.core.db import Base, BigId, JsonDoc, UTCDateTime
from orderhub.orders.errors import HoldReasonRequired, IllegalTransition
from orderhub.orders.status import TRANSITIONS, OrderStatus


class Order(Base):
    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("channel", "shop_id", "channel_order_id"),
        Index("ix_sales_order_created", "created_at", "id"),
        Index("ix_sales_order_status_created", "status", "created_at", "id"),
        Index("ix_sales_order_channel_created", "channel", "created_at", "id"),
        Index("ix_sales_order_shop_created", "shop_id", "created_at", "id"),
        Index("ix_sales_order_receiver_phone", "receiver_phone"),
        Index("ix_sales_order_receiver_name", "receiver_name"),
        Index("ix_sales_order_channel_order_id", "channel_order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    channel_order_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    channel_status: Mapped[str] = mapped_column(String(64), default="")
    hold_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    held_from: Mapped[str | None] = mapped_column(String(20), default=None)
    refund_from: Mapped[str | None] = mapped_column(String(20), default=None)
    source_type: Mapped[str] = mapped_column(String(32), default="")
    customer_id: Mapped[int | None] = mapped_column(BigId, default=None)
    customer_name: Mapped[str] = mapped_column(String(100), default="")
    customer_phone: Mapped[str] = mapped_column(String(32), default="")
    receiver_name: Mapped[str] = mapped_column(String(100), default="")
    receiver_phone: Mapped[str] = mapped_column(String(32), default="")
    receiver_phone_kind: Mapped[str] = mapped_column(String(16), default="")
    receiver_province: Mapped[str] = mapped_column(String(32), default="")
    receiver_city: Mapped[str] = mapped_column(String(32), default="")
    receiver_district: Mapped[str] = mapped_column(String(32), default="")
    receiver_address: Mapped[str] = mapped_column(String(255), default="")
    receiver_adcode: Mapped[str] = mapped_column(String(12), default="")
    id_card: Mapped[str] = mapped_column(String(18), default="")
    goods_amount_fen: Mapped[int] = mapped_column(default=0)
    shipping_fee_fen: Mapped[int] = mapped_column(default=0)
    discount_fen: Mapped[int] = mapped_column(default=0)
    paid_amount_fen: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    payment_method: Mapped[str] = mapped_column(String(32), default="")
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    invoice_type: Mapped[str] = mapped_column(String(16), default="none")
    invoice_title: Mapped[str] = mapped_column(String(100), default="")
    invoice_tax_id: Mapped[str] = mapped_column(String(32), default="")
    buyer_memo: Mapped[str] = mapped_column(Text, default="")
    seller_memo: Mapped[str] = mapped_column(Text, default="")
    raw_payload: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, default=None)
    platform_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Fingerprint of the platform data last applied: an identical re-delivery changes nothing.
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    # The platform still holds the receiver's contact data encrypted (Douyin before batchDecrypt).
    pii_pending_decryption: Mapped[bool] = mapped_column(default=False)
    approval_requested_by: Mapped[str | None] = mapped_column(String(64), default=None)
    approval_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    shop: Mapped[Shop] = relationship(lazy="joined", innerjoin=True)
    # Append-only: written through `events.add`, read through the repository's timeline query.
    events: WriteOnlyMapped[OrderEvent] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.line_no", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form

    def allowed_targets(self) -> frozenset[OrderStatus]:
        """Where this order may go next, as the console offers it."""
        status = OrderStatus(self.status)
        if status is OrderStatus.ON_HOLD:
            assert self.held_from is not None
            back = OrderStatus(self.held_from)
            targets = {back}
            if OrderStatus.CANCELLED in TRANSITIONS[back]:
                targets.add(OrderStatus.CANCELLED)
            return frozenset(targets)
        targets = set(TRANSITIONS[status])
        if status is OrderStatus.REFUNDING and self.refund_from is not None:
            targets.add(OrderStatus(self.refund_from))
        return frozenset(targets)

    def transition_to(self, target: OrderStatus, *, reason: str, by: Actor, at: datetime) -> OrderEvent:
        """Move to `target` if the machine allows it, returning the timeline row to append."""
        changes, event = self.planned_transition(target, reason=reason, by=by, at=at)
        for name, value in changes.items():
            setattr(self, name, value)
        return event

    def planned_transition(
        self, target: OrderStatus, *, reason: str, by: Actor, at: datetime
    ) -> tuple[dict[str, Any], OrderEvent]:
        """The columns moving to `target` sets and the timeline row, changing nothing yet (bulk writers
        apply them with their own statements); refused as `transition_to` would refuse it."""
        current = OrderStatus(self.status)
        if target not in self.allowed_targets():
            raise IllegalTransition(current, target)
        changes: dict[str, Any] = {}
        if target is OrderStatus.ON_HOLD:
            if not reason.strip():
                raise HoldReasonRequired()
            changes.update(held_from=current.value, hold_reason=reason.strip())
        elif current is OrderStatus.ON_HOLD:
            changes.update(held_from=None, hold_reason=None)
        if target is OrderStatus.REFUNDING and current is not OrderStatus.ON_HOLD:
            changes["refund_from"] = current.value
        elif current is OrderStatus.REFUNDING and target is not OrderStatus.ON_HOLD:
            changes["refund_from"] = None
        if target is not OrderStatus.PAID:
            changes.update(approval_requested_by=None, approval_requested_at=None)
        changes.update(status=target.value, updated_at=at)
        return changes, OrderEvent(
            kind="transition",
            at=at,
            actor=by.name,
            source=by.source,
            from_status=current.value,
            to_status=target.value,
            reason=reason.strip(),
        )


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (UniqueConstraint("order_id", "line_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"))
    line_no: Mapped[int]
    sku: Mapped[str] = mapped_column(String(64))
    platform_sku: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    spec: Mapped[str] = mapped_column(String(100), default="")
    qty: Mapped[int]
    unit_price_fen: Mapped[int]
    discount_fen: Mapped[int] = mapped_column(default=0)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def amount_fen(self) -> int:
        return self.qty * self.unit_price_fen - self.discount_fen


class OrderEvent(Base):
    """One row of an order's timeline; rows are only ever appended."""

    __tablename__ = "order_event"
    __table_args__ = (Index("ix_order_event_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(20), default=None)
    to_status: Mapped[str | None] = mapped_column(String(20), default=None)
    reason: Mapped[str] = mapped_column(String(500), default="")
