"""Warehouses, stock balances, the immutable stock ledger and reservations.

Balances are caches of the ledger: every change of `on_hand`, `reserved` or `in_transit` is a
ledger row written in the same transaction, and `orderhub inventory verify` recomputes them.
`sku_stock` is the per-SKU total that order entry reserves against before any warehouse is chosen;
`warehouse_stock` holds what each warehouse has, and the reservations routing assigned to it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from orderhub.core.db import Base, BigId, JsonDoc, UTCDateTime


class WarehouseKind(StrEnum):
    OWN = "own"
    STORE = "store"
    THIRD_PARTY = "3pl"
    BONDED = "bonded"


class Warehouse(Base):
    __tablename__ = "warehouse"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    province: Mapped[str] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(32))
    # Provinces it ships to (names as 省 are written, e.g. "浙江省"); empty: nationwide.
    regions: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    # Who is told about it (SLA breaches, low stock): a username or a contact.
    owner: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SkuStock(Base):
    """A SKU's totals over all warehouses; `reserved` includes reservations no warehouse holds yet."""

    __tablename__ = "sku_stock"
    __table_args__ = (
        CheckConstraint("reserved >= 0 AND on_hand >= reserved", name="never_oversold"),
        CheckConstraint("in_transit >= 0 AND safety >= 0 AND warehouse_safety >= 0", name="non_negative"),
    )

    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    in_transit: Mapped[int] = mapped_column(default=0)
    # The SKU's own safety stock, and the sum of its per-warehouse safety stocks: neither is sold.
    safety: Mapped[int] = mapped_column(default=0)
    warehouse_safety: Mapped[int] = mapped_column(default=0)
    # At or below safety (nothing left to sell): set when it crosses down, so the event is raised once.
    low: Mapped[bool] = mapped_column(default=False)
    # Changes of what channels may sell (a counter and the last one's time), the count the channel
    # stock sync last pushed, and when.
    change_count: Mapped[int] = mapped_column(default=0)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    synced_count: Mapped[int] = mapped_column(default=0)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WarehouseStock(Base):
    __tablename__ = "warehouse_stock"
    __table_args__ = (
        CheckConstraint("reserved >= 0 AND on_hand >= reserved", name="never_oversold"),
        CheckConstraint("in_transit >= 0 AND safety >= 0", name="non_negative"),
    )

    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    in_transit: Mapped[int] = mapped_column(default=0)
    safety: Mapped[int] = mapped_column(default=0)


class MovementKind(StrEnum):
    RECEIPT = "receipt"
    RESERVE = "reserve"
    RELEASE = "release"
    ASSIGN = "assign"  # a reservation moves between the central pool and a warehouse
    SHIP = "ship"
    RETURN = "return"
    ADJUST = "adjust"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    COUNT = "count"


class StockOperation(Base):
    """A request that moved stock, under the caller's idempotency key: repeating it changes nothing."""

    __tablename__ = "stock_operation"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # What was asked (sha256 of the request): the same key with other content is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerEntry(Base):
    """One movement of one SKU; rows are only ever inserted. A NULL warehouse is the central pool."""

    __tablename__ = "stock_ledger"
    __table_args__ = (Index("ix_stock_ledger_sku_created", "sku_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(default=0)
    reserved_delta: Mapped[int] = mapped_column(default=0)
    in_transit_delta: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(String(200), default="")
    # What it is about: an order number, a transfer, a supplier's delivery note.
    reference: Mapped[str] = mapped_column(String(64), default="")
    actor: Mapped[str] = mapped_column(String(64))
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("stock_operation.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReservationState(StrEnum):
    ACTIVE = "active"
    SHORT = "short"  # asked for but not there: holds nothing; tried again on payment and before routing
    RELEASED = "released"
    CONSUMED = "consumed"  # shipped: turned into a deduction


class Reservation(Base):
    """Stock held for one order: one row per SKU (and per warehouse once routing assigned it)."""

    __tablename__ = "stock_reservation"
    __table_args__ = (
        Index("ix_stock_reservation_order", "order_id"),
        Index("ix_stock_reservation_state_expires", "state", "expires_at"),
        CheckConstraint("qty > 0", name="qty_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId)
    reference: Mapped[str] = mapped_column(String(64), default="")
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"), default=None)
    qty: Mapped[int]
    state: Mapped[str] = mapped_column(String(12), default=ReservationState.ACTIVE.value)
    # Unpaid orders hold stock only until then; None: held until the order ships or is cancelled.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TransferState(StrEnum):
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"


class Transfer(Base):
    """Stock sent from one warehouse to another: off the source at once, in transit until it arrives."""

    __tablename__ = "stock_transfer"
    __table_args__ = (CheckConstraint("qty > 0", name="qty_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    from_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    to_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    qty: Mapped[int]
    state: Mapped[str] = mapped_column(String(12), default=TransferState.IN_TRANSIT.value)
    reason: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class StockShare(Base):
    """A shop's share of what may be sold, for a while (e.g. 30 % kept for a Douyin live session).

    While it lasts the shop is shown only its share; every other shop of the SKU is shown the rest.
    A row for one SKU overrides the shop's row for all SKUs (`sku_id` NULL).
    """

    __tablename__ = "stock_share"
    __table_args__ = (
        CheckConstraint("percent > 0 AND percent <= 100", name="percent_range"),
        Index("ix_stock_share_ends", "ends_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("sku.id"), default=None)
    percent: Mapped[int]
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(String(200), default="")
    # What the stock sync has acted on: "scheduled" → "running" (pushed on start) → "ended" (pushed on end).
    phase: Mapped[str] = mapped_column(String(12), default="scheduled")
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StockSyncState(Base):
    """The quantity last sent to a shop for one of its platform SKUs: unchanged quantities are not resent."""

    __tablename__ = "stock_sync_state"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), primary_key=True)
    platform_sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[int]
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())
