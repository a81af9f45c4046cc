"""The order as it arrives, before it is stored: the input every creation path builds.

Manual entry (API and console), channel adapters and file imports all produce an `OrderDraft`;
validation normalises it and reports every defect at once. Money is integer fen throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Receiver:
    name: str = ""
    phone: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    address: str = ""
    # Filled by validation: "mobile", "virtual" (platform privacy number), "landline", "masked".
    phone_kind: str = ""
    # GB/T 2260 division code of the most precise level recognised (6 digits), filled by validation.
    adcode: str = ""


@dataclass
class DraftLine:
    sku: str
    qty: int
    unit_price_fen: int
    discount_fen: int = 0
    platform_sku: str = ""
    title: str = ""
    spec: str = ""

    @property
    def amount_fen(self) -> int:
        return self.qty * self.unit_price_fen - self.discount_fen


@dataclass(frozen=True)
class DraftWaybill:
    """A parcel the platform says the order (or some of its lines) left in: its carrier as the platform names it."""

    carrier: str
    number: str
    # The lines it carries as (line number from 1, quantity), and when it left; empty / None: the platform does not say.
    lines: tuple[tuple[int, int], ...] = ()
    shipped_at: datetime | None = None


@dataclass
class OrderDraft:
    channel: str
    shop: str
    receiver: Receiver
    lines: list[DraftLine]
    shipping_fee_fen: int = 0
    discount_fen: int = 0
    paid_amount_fen: int = 0
    channel_order_id: str = ""
    source_type: str = ""
    customer_name: str = ""
    customer_phone: str = ""
    id_card: str = ""
    payment_method: str = ""
    paid_at: datetime | None = None
    invoice_type: str = "none"
    invoice_title: str = ""
    invoice_tax_id: str = ""
    buyer_memo: str = ""
    seller_memo: str = ""
    currency: str = "CNY"
    raw_payload: dict[str, Any] | None = None
    # `raw_payload`'s own JSON text, when the caller has it (a file's line): stored as it is, not re-encoded.
    raw_json: str = ""
    # For channel orders: the unified status the platform's raw status maps to, and the raw one.
    status: str = ""
    channel_status: str = ""
    platform_modified_at: datetime | None = None
    # Orders that arrive already shipped: one entry per parcel (lines sharing a waybill share one).
    waybills: list[DraftWaybill] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def goods_amount_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)
