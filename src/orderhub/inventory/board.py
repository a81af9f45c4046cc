"""What the inventory board shows: best sellers and their stock, stock per warehouse, today's outbound,
low stock and orders that came in short. Read-only; SKU codes and titles come from the catalog's
service, order states from the orders' service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orderhub.catalog import service as catalog
from orderhub.catalog.model import Sku
from orderhub.inventory.model import (
    LedgerEntry,
    MovementKind,
    Reservation,
    ReservationState,
    SkuStock,
    Warehouse,
    WarehouseStock,
)
from orderhub.orders import service as orders
from orderhub.orders.status import OrderStatus

TOP_SELLERS = 10
SALES_WINDOW = timedelta(days=7)
LOW_STOCK_LIMIT = 50
SHORT_ORDERS_LIMIT = 50
# Orders whose held stock is expected to leave today: paid and not yet picked.
OUTBOUND_STATUSES = frozenset({OrderStatus.PAID, OrderStatus.APPROVED, OrderStatus.ALLOCATED})


@dataclass(frozen=True)
class Seller:
    sku: str
    title: str
    sold: int
    on_hand: int
    available: int


@dataclass(frozen=True)
class WarehouseTotals:
    code: str
    name: str
    skus: int
    on_hand: int
    reserved: int
    in_transit: int

    @property
    def free(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Outbound:
    """Units held for orders that should ship today, per warehouse code ("" not yet assigned to one)."""

    orders: int
    units: int
    by_warehouse: dict[str, int]


@dataclass(frozen=True)
class LowStock:
    sku: str
    title: str
    on_hand: int
    reserved: int
    safety: int

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety)


@dataclass(frozen=True)
class ShortOrder:
    order_no: str
    sku: str
    title: str
    qty: int
    since: datetime


@dataclass(frozen=True)
class Board:
    sellers: list[Seller]
    warehouses: list[WarehouseTotals]
    outbound: Outbound
    low_stock: list[LowStock]
    short_orders: list[ShortOrder]
    since: datetime


def _skus(session: Session) -> dict[int, Sku]:
    return {sku.id: sku for sku in catalog.list_skus(session)}


def top_sellers(session: Session, *, now: datetime, skus: dict[int, Sku], limit: int = TOP_SELLERS) -> list[Seller]:
    """Units sold in the last 7 days: shipped in the window, plus held by paid orders taken in the window.

    A shipment writes one central-pool ship row per reservation (reserved −qty), so those rows count
    each shipped unit once; an unpaid order's hold (it expires) is not a sale yet.
    """
    since = now - SALES_WINDOW
    sold: dict[int, int] = {}
    shipped = (select(LedgerEntry.sku_id, func.sum(-LedgerEntry.reserved_delta))
               .where(LedgerEntry.kind == MovementKind.SHIP.value, LedgerEntry.warehouse_id.is_(None),
                      LedgerEntry.created_at >= since)
               .group_by(LedgerEntry.sku_id))
    held = (select(Reservation.sku_id, func.sum(Reservation.qty))
            .where(Reservation.state == ReservationState.ACTIVE.value, Reservation.expires_at.is_(None),
                   Reservation.created_at >= since)
            .group_by(Reservation.sku_id))
    for query in (shipped, held):
        for sku_id, units in session.execute(query):
            sold[sku_id] = sold.get(sku_id, 0) + int(units or 0)
    ranked = sorted(((units, sku_id) for sku_id, units in sold.items() if units > 0 and sku_id in skus),
                    key=lambda pair: (-pair[0], skus[pair[1]].code))[:limit]
    stock = {row.sku_id: row for row in session.scalars(
        select(SkuStock).where(SkuStock.sku_id.in_([sku_id for _, sku_id in ranked])))}
    sellers = []
    for units, sku_id in ranked:
        row = stock.get(sku_id)
        on_hand = row.on_hand if row else 0
        available = max(0, on_hand - row.reserved - row.safety - row.warehouse_safety) if row else 0
        sellers.append(Seller(skus[sku_id].code, skus[sku_id].title, units, on_hand, available))
    return sellers


def stock_by_warehouse(session: Session) -> list[WarehouseTotals]:
    sums = dict((warehouse_id, (skus, on_hand, reserved, in_transit)) for warehouse_id, skus, on_hand, reserved,
                in_transit in session.execute(
        select(WarehouseStock.warehouse_id, func.count(), func.sum(WarehouseStock.on_hand),
               func.sum(WarehouseStock.reserved), func.sum(WarehouseStock.in_transit))
        .where((WarehouseStock.on_hand != 0) | (WarehouseStock.in_transit != 0))
        .group_by(WarehouseStock.warehouse_id)))
    totals = []
    for warehouse in session.scalars(select(Warehouse).where(Warehouse.active.is_(True)).order_by(Warehouse.code)):
        skus, on_hand, reserved, in_transit = sums.get(warehouse.id, (0, 0, 0, 0))
        totals.append(WarehouseTotals(warehouse.code, warehouse.name, int(skus), int(on_hand or 0),
                                      int(reserved or 0), int(in_transit or 0)))
    return totals


def outbound_today(session: Session) -> Outbound:
    rows = session.execute(
        select(Reservation.order_id, Warehouse.code, Reservation.qty)
        .outerjoin(Warehouse, Warehouse.id == Reservation.warehouse_id)
        .where(Reservation.state == ReservationState.ACTIVE.value)
    ).all()
    statuses = orders.order_statuses(session, {order_id for order_id, _, _ in rows})
    shipping = {order_id for order_id, status in statuses.items() if status in OUTBOUND_STATUSES}
    by_warehouse: dict[str, int] = {}
    for order_id, warehouse, qty in rows:
        if order_id in shipping:
            by_warehouse[warehouse or ""] = by_warehouse.get(warehouse or "", 0) + qty
    return Outbound(len(shipping), sum(by_warehouse.values()), dict(sorted(by_warehouse.items())))


def low_stock(session: Session, *, skus: dict[int, Sku], limit: int = LOW_STOCK_LIMIT) -> list[LowStock]:
    """SKUs whose sellable stock (on hand − reserved) is at or below their safety stock, emptiest first."""
    free = SkuStock.on_hand - SkuStock.reserved
    safety = SkuStock.safety + SkuStock.warehouse_safety
    rows = session.scalars(select(SkuStock).where(free <= safety).order_by(free - safety, SkuStock.sku_id))
    found = []
    for row in rows:
        if row.sku_id in skus:
            found.append(LowStock(skus[row.sku_id].code, skus[row.sku_id].title, row.on_hand, row.reserved,
                                  row.safety + row.warehouse_safety))
        if len(found) == limit:
            break
    return found


def short_orders(session: Session, *, skus: dict[int, Sku], limit: int = SHORT_ORDERS_LIMIT) -> list[ShortOrder]:
    """Orders that asked for stock that was not there (oldest first): they wait for a receipt."""
    rows = session.scalars(select(Reservation).where(Reservation.state == ReservationState.SHORT.value)
                           .order_by(Reservation.created_at, Reservation.id).limit(limit))
    return [ShortOrder(row.reference, skus[row.sku_id].code if row.sku_id in skus else str(row.sku_id),
                       skus[row.sku_id].title if row.sku_id in skus else "", row.qty, row.created_at)
            for row in rows]


def board(session: Session, *, now: datetime) -> Board:
    skus = _skus(session)
    return Board(
        sellers=top_sellers(session, now=now, skus=skus), warehouses=stock_by_warehouse(session),
        outbound=outbound_today(session), low_stock=low_stock(session, skus=skus),
        short_orders=short_orders(session, skus=skus), since=now - SALES_WINDOW,
    )
