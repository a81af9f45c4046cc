"""What the platform simulators keep: shops, orders in a platform-neutral shape, faults, records.

An order is held once, in neutral terms (stage, times, receiver, lines in fen); each platform's
module renders it in that platform's exact raw format on every read, so a lifecycle step or a
shipment written back shows up the same way on every API and push of that platform.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from orderhub.channels.platforms.base import ShopCredentials


class Stage(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"

    @property
    def terminal(self) -> bool:
        return self in (Stage.FINISHED, Stage.CANCELLED, Stage.REFUNDED)


class ShipOutcome(StrEnum):
    RECORDED = "recorded"
    REPEAT = "repeat"  # same idempotency key (or the same waybill again): acknowledged, not recorded again
    NOT_FOUND = "not_found"
    NOT_SHIPPABLE = "not_shippable"


class Change(StrEnum):
    """What happened to an order: picks the push topic, tag or event name."""

    CREATED = "created"
    PAID = "paid"
    SHIPPED = "shipped"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


@dataclass
class Receiver:
    name: str
    phone: str
    province: str
    city: str
    district: str
    town: str
    detail: str
    zip: str
    adcode: str


@dataclass(frozen=True)
class Listing:
    """A merchant SKU as listed on one platform: the platform's own ids beside the merchant code."""

    sku_code: str
    platform_sku_id: int
    item_id: int
    title: str
    spec: str  # "容量:500ml;颜色分类:黑色"
    price_fen: int
    inventory_item_id: int  # Shopify's inventory item behind the variant; unused elsewhere


@dataclass
class Line:
    line_id: int
    listing: Listing
    qty: int
    unit_price_fen: int
    discount_fen: int

    @property
    def amount_fen(self) -> int:
        return self.qty * self.unit_price_fen - self.discount_fen


@dataclass
class Order:
    order_id: str
    stage: Stage
    created_at: datetime
    modified_at: datetime
    receiver: Receiver
    lines: list[Line]
    shipping_fee_fen: int
    seller_discount_fen: int  # order-level (满减, coupons the shop pays for)
    platform_discount_fen: int  # paid by the platform (PDD/Douyin subsidies)
    buyer_nick: str
    buyer_id: str
    buyer_memo: str
    seller_memo: str
    payment_no: str
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    finished_at: datetime | None = None
    closed_at: datetime | None = None
    carrier_code: str = ""  # OrderHub's carrier code (kuaidi100's)
    waybill_no: str = ""
    presale: bool = False
    cod: bool = False
    money_as_text: bool = False  # PDD: this order's amounts arrive as strings (the TS SDK's typing)
    number: int = 0  # the shop's running order number (Shopify's `order_number`)
    version: int = 1

    @property
    def goods_fen(self) -> int:
        return sum(line.qty * line.unit_price_fen for line in self.lines)

    @property
    def line_discount_fen(self) -> int:
        return sum(line.discount_fen for line in self.lines)

    @property
    def discount_fen(self) -> int:
        return self.line_discount_fen + self.seller_discount_fen + self.platform_discount_fen

    @property
    def paid_fen(self) -> int:
        return self.goods_fen - self.discount_fen + self.shipping_fee_fen


@dataclass
class Faults:
    """Per-shop fault switches; every random draw comes from the shop's seeded `random.Random`."""

    invalid_push_signature: bool = False
    error_rate: float = 0.0  # fraction of API calls answered with HTTP 503
    timeout_rate: float = 0.0  # fraction of API calls held for `timeout_seconds` before answering
    timeout_seconds: float = 3.0
    rate_limit_rate: float = 0.0  # fraction answered with the platform's rate-limit error
    duplicate_pushes: bool = False  # every push delivered twice
    out_of_order_pushes: bool = False  # an older version of an order delivered after the newer one
    type_drift: bool = False  # a field changes type (Douyin order_amount as "199.00", PDD amounts as text, …)


@dataclass(frozen=True)
class WriteBack:
    kind: str  # "ship" or "stock"
    idempotency_key: str
    at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True)
class PushEvent:
    order: Order  # a snapshot of the order as it was after the change
    change: Change
    message_id: str
    late: bool = False  # a delayed copy of an earlier version (the out-of-order fault); never re-queued


@dataclass(frozen=True)
class OutgoingPush:
    headers: dict[str, str]
    body: bytes
    events: tuple[PushEvent, ...]


@dataclass(frozen=True)
class PushDelivery:
    channel: str
    shop_code: str
    message_ids: tuple[str, ...]
    status: int | None  # None: no answer (connection refused, timeout)
    body: bytes
    headers: dict[str, str]


@dataclass
class SimulatedShop:
    channel: str
    code: str
    app_key: str
    app_secret: str
    access_token: str
    platform_shop_id: int  # seller id / venderId / mall_id / Douyin shop_id
    seller_nick: str
    rng: random.Random  # draws orders and their lives
    fault_rng: random.Random  # draws faults, so injecting one does not change the orders generated
    orders: dict[str, Order] = field(default_factory=dict)
    catalog: dict[str, Listing] = field(default_factory=dict)  # by merchant SKU code
    faults: Faults = field(default_factory=Faults)
    retired_secrets: list[str] = field(default_factory=list)
    write_backs: list[WriteBack] = field(default_factory=list)
    idempotency_keys: set[str] = field(default_factory=set)
    stock: dict[int, int] = field(default_factory=dict)  # platform SKU id → quantity
    pending: list[PushEvent] = field(default_factory=list)
    history: dict[str, list[PushEvent]] = field(default_factory=dict)  # every event per order, oldest first
    deliveries: list[PushDelivery] = field(default_factory=list)
    ciphers: dict[str, str] = field(default_factory=dict)  # Douyin/Kuaishou ciphertext → plaintext
    api_calls: int = 0

    def credentials(self, base_url: str) -> ShopCredentials:
        """The shop's credentials for a client of the simulator at `base_url` (its root URL)."""
        return ShopCredentials(app_key=self.app_key, app_secret=self.app_secret, access_token=self.access_token,
                               base_url=f"{base_url.rstrip('/')}/{self.channel}")

    @property
    def shipments(self) -> list[WriteBack]:
        return [record for record in self.write_backs if record.kind == "ship"]

    @property
    def stock_updates(self) -> list[WriteBack]:
        return [record for record in self.write_backs if record.kind == "stock"]

    def listing_by_platform_sku(self, platform_sku_id: int) -> Listing | None:
        return next((listing for listing in self.catalog.values() if listing.platform_sku_id == platform_sku_id), None)


def cipher_text(shop: SimulatedShop, order_id: str, field_name: str) -> str:
    """An opaque ciphertext for one contact field; phones are `$…$`, names and addresses `#…#`."""
    digest = hashlib.sha256(f"{shop.platform_shop_id}/{order_id}/{field_name}".encode()).hexdigest()[:40]
    mark = "$" if field_name == "phone" else "#"
    return f"{mark}{digest}{mark}"
