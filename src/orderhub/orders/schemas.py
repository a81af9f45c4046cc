"""Request and response models of the orders API (money as two-place yuan strings at this edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from orderhub.core.clock import ensure_utc
from orderhub.core.money import fen_to_yuan, yuan_to_fen
from orderhub.core.schemas import Money, Strict
from orderhub.logistics.schemas import ParcelTracking
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.model import Order, OrderEvent
from orderhub.orders.status import OrderStatus


class ReceiverIn(Strict):
    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=64)
    province: str = Field(default="", max_length=64)
    city: str = Field(default="", max_length=64)
    district: str = Field(default="", max_length=64)
    address: str = Field(default="", max_length=500)


class LineIn(Strict):
    sku: str = Field(default="", max_length=64)
    qty: int = Field(strict=True)
    unit_price: Money
    discount: Money = "0.00"
    title: str = Field(default="", max_length=200)
    spec: str = Field(default="", max_length=100)


class PaymentIn(Strict):
    method: str = Field(default="", max_length=32)
    paid_at: datetime | None = None

    @field_validator("paid_at")
    @classmethod
    def _with_offset(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("paid_at needs a UTC offset, e.g. 2026-11-20T10:00:00+08:00")
        return None if value is None else ensure_utc(value)


class InvoiceIn(Strict):
    type: Literal["none", "personal", "company", "vat_special"] = "none"
    title: str = Field(default="", max_length=200)
    tax_id: str = Field(default="", max_length=32)


class OrderCreate(Strict):
    """A manual order (phone, store transfer, after-sales reship…); every business rule is checked at once."""

    channel: str = Field(max_length=16)
    shop: str = Field(max_length=64)
    source_type: str = Field(default="", max_length=64)
    receiver: ReceiverIn = ReceiverIn()
    id_card: str | None = Field(default=None, max_length=32)
    lines: list[LineIn] = Field(default_factory=list, max_length=200)
    shipping_fee: Money = "0.00"
    discount: Money = "0.00"
    paid_amount: Money = "0.00"
    payment: PaymentIn = PaymentIn()
    invoice: InvoiceIn = InvoiceIn()
    buyer_memo: str = Field(default="", max_length=2000)
    seller_memo: str = Field(default="", max_length=2000)

    def to_draft(self) -> OrderDraft:
        r = self.receiver
        return OrderDraft(
            channel=self.channel,
            shop=self.shop,
            source_type=self.source_type,
            receiver=Receiver(
                name=r.name, phone=r.phone, province=r.province, city=r.city, district=r.district, address=r.address
            ),
            id_card=self.id_card or "",
            lines=[
                DraftLine(
                    sku=line.sku,
                    qty=line.qty,
                    unit_price_fen=yuan_to_fen(line.unit_price),
                    discount_fen=yuan_to_fen(line.discount),
                    title=line.title,
                    spec=line.spec,
                )
                for line in self.lines
            ],
            shipping_fee_fen=yuan_to_fen(self.shipping_fee),
            discount_fen=yuan_to_fen(self.discount),
            paid_amount_fen=yuan_to_fen(self.paid_amount),
            payment_method=self.payment.method,
            paid_at=self.payment.paid_at,
            invoice_type=self.invoice.type,
            invoice_title=self.invoice.title,
            invoice_tax_id=self.invoice.tax_id,
            buyer_memo=self.buyer_memo,
            seller_memo=self.seller_memo,
        )


class TransitionIn(Strict):
    to: OrderStatus
    reason: str = Field(default="", max_length=500)
    version: int | None = Field(default=None, description="expected version (optimistic lock)")


class ReceiverOut(BaseModel):
    name: str
    phone: str
    phone_kind: str
    province: str
    city: str
    district: str
    address: str
    adcode: str


class LineOut(BaseModel):
    line_no: int
    sku: str
    platform_sku: str
    title: str
    spec: str
    qty: int
    unit_price: str
    discount: str
    amount: str


class OrderRead(BaseModel):
    order_no: str
    channel: str
    shop: str
    channel_order_id: str
    status: OrderStatus
    channel_status: str
    hold_reason: str | None
    approval_requested_by: str | None
    source_type: str
    customer_id: int | None
    receiver: ReceiverOut
    id_card: str | None
    lines: list[LineOut]
    goods_amount: str
    shipping_fee: str
    discount: str
    paid_amount: str
    currency: str
    payment: PaymentIn
    invoice: InvoiceIn
    buyer_memo: str
    seller_memo: str
    created_at: datetime
    updated_at: datetime
    version: int
    # The order's parcels and their tracks, newest event first; filled by the single-order read.
    tracking: list[ParcelTracking] | None = None

    @classmethod
    def of(cls, order: Order, shop_code: str) -> OrderRead:
        return cls(
            order_no=order.order_no,
            channel=order.channel,
            shop=shop_code,
            channel_order_id=order.channel_order_id,
            status=OrderStatus(order.status),
            channel_status=order.channel_status,
            hold_reason=order.hold_reason,
            approval_requested_by=order.approval_requested_by,
            source_type=order.source_type,
            customer_id=order.customer_id,
            receiver=ReceiverOut(
                name=order.receiver_name,
                phone=order.receiver_phone,
                phone_kind=order.receiver_phone_kind,
                province=order.receiver_province,
                city=order.receiver_city,
                district=order.receiver_district,
                address=order.receiver_address,
                adcode=order.receiver_adcode,
            ),
            id_card=_mask_id_card(order.id_card),
            lines=[
                LineOut(
                    line_no=line.line_no,
                    sku=line.sku,
                    platform_sku=line.platform_sku,
                    title=line.title,
                    spec=line.spec,
                    qty=line.qty,
                    unit_price=fen_to_yuan(line.unit_price_fen),
                    discount=fen_to_yuan(line.discount_fen),
                    amount=fen_to_yuan(line.amount_fen),
                )
                for line in order.lines
            ],
            goods_amount=fen_to_yuan(order.goods_amount_fen),
            shipping_fee=fen_to_yuan(order.shipping_fee_fen),
            discount=fen_to_yuan(order.discount_fen),
            paid_amount=fen_to_yuan(order.paid_amount_fen),
            currency=order.currency,
            payment=PaymentIn(method=order.payment_method, paid_at=order.paid_at),
            invoice=InvoiceIn.model_construct(
                type=order.invoice_type, title=order.invoice_title, tax_id=order.invoice_tax_id
            ),
            buyer_memo=order.buyer_memo,
            seller_memo=order.seller_memo,
            created_at=order.created_at,
            updated_at=order.updated_at,
            version=order.version,
        )


def _mask_id_card(value: str) -> str | None:
    """Resident IDs are personal data: reads show only the first 6 and last 4 characters."""
    if not value:
        return None
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


class OrderList(BaseModel):
    items: list[OrderRead]
    next_cursor: str | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    actor: str
    source: str
    from_status: str | None
    to_status: str | None
    reason: str

    @classmethod
    def of(cls, event: OrderEvent) -> TimelineEntry:
        return cls(
            at=event.at,
            kind=event.kind,
            actor=event.actor,
            source=event.source,
            from_status=event.from_status,
            to_status=event.to_status,
            reason=event.reason,
        )


class Timeline(BaseModel):
    order_no: str
    items: list[TimelineEntry]


class TransitionOut(BaseModel):
    order: OrderRead
    approval_pending: bool
