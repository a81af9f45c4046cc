"""Request and response models of the after-sales API (money as two-place yuan strings at this edge)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from orderhub.aftersales.model import AfterSalesCase, AfterSalesEvent, CaseKind, CaseStatus
from orderhub.aftersales.service import CaseRequest, LineRequest
from orderhub.core.money import fen_to_yuan, yuan_to_fen
from orderhub.core.schemas import Money, Strict


class CaseLineIn(Strict):
    line_no: int = Field(strict=True, description="the order line's number (1, 2, …)")
    qty: int = Field(strict=True)
    refund: Money | None = Field(default=None, description="omitted: the line's paid share for qty")
    exchange_sku: str = Field(default="", max_length=64, description="exchange only: the SKU sent instead")


class ReceiverIn(Strict):
    name: str = Field(default="", max_length=50)
    phone: str = Field(default="", max_length=32)
    province: str = Field(default="", max_length=32)
    city: str = Field(default="", max_length=32)
    district: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=200)


class CaseCreate(Strict):
    order_no: str = Field(min_length=1, max_length=32)
    kind: CaseKind
    lines: list[CaseLineIn] = Field(max_length=200)
    reason: str = Field(default="", max_length=500)
    shipping_refund: Money = "0.00"
    replacement_receiver: ReceiverIn | None = Field(
        default=None, description="exchange or reship: where the replacement goes (blank fields: the order's)")

    def to_request(self) -> CaseRequest:
        receiver = self.replacement_receiver.model_dump(exclude_defaults=True) if self.replacement_receiver else None
        return CaseRequest(
            order_no=self.order_no, kind=self.kind, reason=self.reason,
            shipping_refund_fen=yuan_to_fen(self.shipping_refund),
            replacement_receiver=receiver,
            lines=[LineRequest(line_no=line.line_no, qty=line.qty, exchange_sku=line.exchange_sku,
                               refund_fen=None if line.refund is None else yuan_to_fen(line.refund))
                   for line in self.lines],
        )


class ReasonIn(Strict):
    reason: str = Field(default="", max_length=500)


class ReceiveIn(Strict):
    warehouse: str = Field(min_length=1, max_length=32, description="the warehouse code the goods came back to")


class CaseLineOut(BaseModel):
    line_no: int
    sku: str
    qty: int
    refund: str
    exchange_sku: str


class CaseRead(BaseModel):
    case_no: str
    order_no: str
    kind: CaseKind
    status: CaseStatus
    source: str
    reason: str
    needs_interception: bool
    refund: str
    shipping_refund: str
    lines: list[CaseLineOut]
    replacement_order_no: str | None
    return_warehouse: str | None
    restock: str
    channel_status: str
    allowed: list[CaseStatus]
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, case: AfterSalesCase) -> CaseRead:
        return cls(
            case_no=case.case_no, order_no=case.order_no, kind=CaseKind(case.kind), status=CaseStatus(case.status),
            source=case.source, reason=case.reason, needs_interception=case.needs_interception,
            refund=fen_to_yuan(case.refund_fen), shipping_refund=fen_to_yuan(case.shipping_refund_fen),
            lines=[CaseLineOut(line_no=line.line_no, sku=line.sku, qty=line.qty, refund=fen_to_yuan(line.refund_fen),
                               exchange_sku=line.exchange_sku) for line in case.lines],
            replacement_order_no=case.replacement_order_no, return_warehouse=case.return_warehouse,
            restock=case.restock, channel_status=case.channel_status, allowed=sorted(case.allowed_targets()),
            created_by=case.created_by, created_at=case.created_at, updated_at=case.updated_at, version=case.version,
        )


class CaseList(BaseModel):
    items: list[CaseRead]
    next_cursor: str | None


class CaseEventOut(BaseModel):
    kind: str
    at: datetime
    actor: str
    source: str
    from_status: str | None
    to_status: str | None
    reason: str

    @classmethod
    def of(cls, event: AfterSalesEvent) -> CaseEventOut:
        return cls(kind=event.kind, at=event.at, actor=event.actor, source=event.source,
                   from_status=event.from_status, to_status=event.to_status, reason=event.reason)


class CaseTimeline(BaseModel):
    case_no: str
    events: list[CaseEventOut]
