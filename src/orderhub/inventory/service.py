"""Stock use cases: warehouses, receipts, adjustments, counts, transfers, safety stock, reservations.

Balances only change together with a ledger row, in the caller's transaction. Rows are locked in
one order everywhere — `sku_stock` by SKU id, then `warehouse_stock` by (SKU id, warehouse id) —
so concurrent transactions queue instead of deadlocking; on SQLite, `BEGIN IMMEDIATE` serialises
writers anyway. The CHECK constraints (`on_hand >= reserved`) are the last line against overselling.

The ledger's arithmetic: a warehouse's balances are the sums of its rows; a SKU's `on_hand` and
`in_transit` are the sums of all its rows, its `reserved` the sum of its central (warehouse-less)
rows. Reserving an order takes central stock; routing then assigns it to warehouses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from orderhub.catalog import service as catalog
from orderhub.catalog.errors import SkuNotFound, UnknownSku
from orderhub.catalog.model import Sku
from orderhub.core.actor import Actor
from orderhub.core.db import Statement, UnitOfWork, add_rows, insert_ignoring_conflicts, one_of, send_together
from orderhub.core.outbox import add_event
from orderhub.inventory.errors import (
    BundleHoldsNoStock,
    DuplicateWarehouse,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidQuantity,
    ReasonRequired,
    SameWarehouse,
    Shortage,
    StockBelowReserved,
    TransferNotFound,
    UnknownWarehouse,
)
from orderhub.inventory.model import (
    LedgerEntry,
    MovementKind,
    Reservation,
    ReservationState,
    SkuStock,
    StockOperation,
    Transfer,
    TransferState,
    Warehouse,
    WarehouseKind,
    WarehouseStock,
)

ACTIVE, SHORT = ReservationState.ACTIVE.value, ReservationState.SHORT.value


# ---------------------------------------------------------------------------------------------
# Warehouses
# ---------------------------------------------------------------------------------------------


def create_warehouse(
    uow: UnitOfWork,
    *,
    code: str,
    name: str,
    kind: WarehouseKind,
    province: str,
    city: str,
    regions: Sequence[str] = (),
    owner: str = "",
) -> Warehouse:
    """A warehouse; `regions` are the provinces it ships to (none: nationwide)."""
    with uow:
        if uow.session.scalar(select(Warehouse.id).where(Warehouse.code == code)) is not None:
            raise DuplicateWarehouse(f"warehouse {code} already exists / 仓库 {code} 已存在")
        warehouse = Warehouse(code=code, name=name, kind=kind.value, province=province, city=city,
                              regions=list(regions), owner=owner, created_at=uow.now())
        uow.session.add(warehouse)
        uow.commit()
        return warehouse


def list_warehouses(session: Session) -> list[Warehouse]:
    return list(session.scalars(select(Warehouse).order_by(Warehouse.code)))


def get_warehouse(session: Session, code: str) -> Warehouse:
    """The warehouse with the code; UnknownWarehouse if there is none."""
    return _warehouse(session, code)


def _warehouse(session: Session, code: str) -> Warehouse:
    found = session.scalar(select(Warehouse).where(Warehouse.code == code))
    if found is None:
        raise UnknownWarehouse(code)
    return found


def stock_sku(session: Session, code: str) -> Sku:
    """A SKU that holds stock itself: known, and not a bundle."""
    sku = catalog.skus_by_code(session, [code]).get(code)
    if sku is None:
        raise UnknownSku(
            f"unknown SKU {code} / 商品编码 {code} 不存在",
            details=[{"field": "sku", "rule": "sku.unknown", "message": f"商品编码 {code} 不存在"}],
        )
    if sku.is_bundle:
        raise BundleHoldsNoStock(code)
    return sku


# ---------------------------------------------------------------------------------------------
# Locking and the ledger
# ---------------------------------------------------------------------------------------------


def _lock_skus(session: Session, sku_ids: Collection[int], *, create: bool = False) -> dict[int, SkuStock]:
    """The SKUs' stock rows, locked in id order; with `create`, missing rows are made first."""
    if not sku_ids:
        return {}
    if create:
        session.execute(insert_ignoring_conflicts(session, SkuStock.__table__),
                        [{"sku_id": sku_id, "on_hand": 0, "reserved": 0, "in_transit": 0, "safety": 0,
                          "warehouse_safety": 0, "low": False, "change_count": 0, "synced_count": 0}
                         for sku_id in sorted(sku_ids)])
    query = (select(SkuStock).where(one_of(session, SkuStock.sku_id, list(sku_ids))).order_by(SkuStock.sku_id)
             .with_for_update().execution_options(populate_existing=True))
    return {row.sku_id: row for row in session.scalars(query)}


def _lock_places(
    session: Session, pairs: Collection[tuple[int, int]], *, create: bool = False
) -> dict[tuple[int, int], WarehouseStock]:
    """(SKU id, warehouse id) stock rows, locked in that order; call after `_lock_skus` of the same SKUs.

    With `create`, pairs without a row get one (zero stock) first.
    """
    if not pairs:
        return {}
    found = _select_places(session, pairs)
    missing = sorted(set(pairs) - set(found)) if create else []
    if missing:
        session.execute(insert_ignoring_conflicts(session, WarehouseStock.__table__),
                        [{"sku_id": sku_id, "warehouse_id": warehouse_id, "on_hand": 0, "reserved": 0,
                          "in_transit": 0, "safety": 0} for sku_id, warehouse_id in missing])
        found = _select_places(session, pairs)
    return found


def _select_places(session: Session, pairs: Collection[tuple[int, int]]) -> dict[tuple[int, int], WarehouseStock]:
    sku_ids = sorted({sku_id for sku_id, _ in pairs})
    query = (select(WarehouseStock).where(one_of(session, WarehouseStock.sku_id, sku_ids))
             .order_by(WarehouseStock.sku_id, WarehouseStock.warehouse_id)
             .with_for_update().execution_options(populate_existing=True))
    return {(row.sku_id, row.warehouse_id): row for row in session.scalars(query) if (row.sku_id, row.warehouse_id)
            in pairs}


@dataclass
class _Movement:
    """Ledger rows of one business change, written together."""

    actor: Actor
    at: datetime
    reason: str = ""
    reference: str = ""
    operation_id: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: MovementKind, sku_id: int, warehouse_id: int | None = None, *, on_hand: int = 0,
            reserved: int = 0, in_transit: int = 0, reference: str | None = None) -> None:
        self.rows.append({
            "sku_id": sku_id, "warehouse_id": warehouse_id, "kind": kind.value, "on_hand_delta": on_hand,
            "reserved_delta": reserved, "in_transit_delta": in_transit, "reason": self.reason[:200],
            "reference": (reference or self.reference)[:64], "actor": self.actor.name[:64],
            "operation_id": self.operation_id, "created_at": self.at,
        })

    def write(self, session: Session) -> None:
        add_rows(session, LedgerEntry.__table__, self.rows)


def sellable(row: SkuStock) -> int:
    """What channels may sell: on hand − reserved − safety stock (of the SKU and of its warehouses)."""
    return max(0, row.on_hand - row.reserved - row.safety - row.warehouse_safety)


def _changed(session: Session, rows: Iterable[SkuStock], codes: dict[int, str], at: datetime) -> None:
    """Mark the SKUs for the channel stock sync; raise the low-stock event when one crosses its safety stock."""
    for row in rows:
        row.change_count += 1
        row.changed_at = at
        free = sellable(row)
        if free <= 0 and not row.low:
            row.low = True
            add_event(session, topic="inventory.low_stock", key=codes[row.sku_id], at=at, payload={
                "sku": codes[row.sku_id], "on_hand": row.on_hand, "reserved": row.reserved,
                "safety": row.safety + row.warehouse_safety, "available": free,
            })
        elif free > 0 and row.low:
            row.low = False
            add_event(session, topic="inventory.back_in_stock", key=codes[row.sku_id], at=at,
                      payload={"sku": codes[row.sku_id], "available": free})


# ---------------------------------------------------------------------------------------------
# Stock movements requested by people and systems: each under an idempotency key
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockChange:
    """A movement's outcome: the warehouse's balances after it. `replayed`: the key was seen before."""

    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    in_transit: int
    safety: int
    available: int
    transfer_id: int | None = None
    replayed: bool = False

    @classmethod
    def of(cls, sku: str, warehouse: str, row: WarehouseStock, transfer_id: int | None = None) -> StockChange:
        return cls(sku, warehouse, row.on_hand, row.reserved, row.in_transit, row.safety,
                   max(0, row.on_hand - row.reserved - row.safety), transfer_id)


def _whole(name: str, value: object, *, allow_negative: bool = False, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuantity(name, value, allow_negative=allow_negative)
    if (value < 0 and not allow_negative) or (value == 0 and not allow_zero):
        raise InvalidQuantity(name, value, allow_negative=allow_negative)
    return value


def _reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise ReasonRequired()
    return reason.strip()


def _start(session: Session, *, key: str, kind: MovementKind, request: dict[str, Any], actor: Actor,
           at: datetime) -> tuple[StockOperation, StockChange | None]:
    """Claim the idempotency key; a key seen before returns what its first request did."""
    key = (key or "").strip()
    if not key or len(key) > 100:
        raise IdempotencyKeyMissing()
    fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    claimed = session.scalar(
        insert_ignoring_conflicts(session, StockOperation.__table__).values(
            idempotency_key=key, kind=kind.value, fingerprint=fingerprint, result={}, actor=actor.name[:64],
            created_at=at,
        ).returning(StockOperation.id)
    ) is not None
    operation = session.scalars(
        select(StockOperation).where(StockOperation.idempotency_key == key).execution_options(populate_existing=True)
    ).one()
    if claimed:
        return operation, None
    if operation.fingerprint != fingerprint:
        raise IdempotencyKeyReused(key)
    return operation, StockChange(**{**operation.result, "replayed": True})


def _on_hand_change(
    uow: UnitOfWork, *, kind: MovementKind, sku: str, warehouse: str, delta: int | None, counted: int | None = None,
    reason: str, idempotency_key: str, actor: Actor, reference: str = "",
) -> StockChange:
    """Receipts, returns, adjustments and counts: on hand at one warehouse changes, nothing else."""
    with uow:
        session, at = uow.session, uow.now()
        request = {"sku": sku, "warehouse": warehouse, "delta": delta, "counted": counted, "reason": reason,
                   "reference": reference}
        operation, seen = _start(session, key=idempotency_key, kind=kind, request=request, actor=actor, at=at)
        if seen is not None:
            return seen
        item, place = stock_sku(session, sku), _warehouse(session, warehouse)
        totals = _lock_skus(session, [item.id], create=True)[item.id]
        here = _lock_places(session, {(item.id, place.id)}, create=True)[(item.id, place.id)]
        change = counted - here.on_hand if counted is not None else delta
        assert change is not None
        if here.on_hand + change < here.reserved:
            raise StockBelowReserved(sku=sku, warehouse=warehouse, on_hand=here.on_hand, reserved=here.reserved,
                                     change=change)
        if totals.on_hand + change < totals.reserved:
            raise StockBelowReserved(sku=sku, warehouse="*", on_hand=totals.on_hand, reserved=totals.reserved,
                                     change=change)
        here.on_hand += change
        totals.on_hand += change
        movement = _Movement(actor, at, reason, reference, operation.id)
        movement.add(kind, item.id, place.id, on_hand=change)
        movement.write(session)
        _changed(session, [totals], {item.id: sku}, at)
        result = StockChange.of(sku, warehouse, here)
        operation.result = asdict(result)
        uow.commit()
        return result


def receive(uow: UnitOfWork, *, sku: str, warehouse: str, qty: int, idempotency_key: str, actor: Actor,
            reason: str = "采购入库", reference: str = "") -> StockChange:
    """Goods arrived at a warehouse (a purchase, a production run)."""
    return _on_hand_change(uow, kind=MovementKind.RECEIPT, sku=sku, warehouse=warehouse, delta=_whole("qty", qty),
                           reason=_reason(reason), idempotency_key=idempotency_key, actor=actor, reference=reference)


def restock_return(uow: UnitOfWork, *, sku: str, warehouse: str, qty: int, order_no: str, idempotency_key: str,
                   actor: Actor, reason: str = "退货入库") -> StockChange:
    """A customer's return received back into a warehouse."""
    return _on_hand_change(uow, kind=MovementKind.RETURN, sku=sku, warehouse=warehouse, delta=_whole("qty", qty),
                           reason=_reason(reason), idempotency_key=idempotency_key, actor=actor, reference=order_no)


def adjust(uow: UnitOfWork, *, sku: str, warehouse: str, delta: int, reason: str, idempotency_key: str,
           actor: Actor, reference: str = "") -> StockChange:
    """A correction of on hand (damage, found goods); never below zero or below what is reserved there."""
    return _on_hand_change(uow, kind=MovementKind.ADJUST, sku=sku, warehouse=warehouse,
                           delta=_whole("delta", delta, allow_negative=True), reason=_reason(reason),
                           idempotency_key=idempotency_key, actor=actor, reference=reference)


def count(uow: UnitOfWork, *, sku: str, warehouse: str, counted: int, reason: str, idempotency_key: str,
          actor: Actor) -> StockChange:
    """A stock count (盘点): on hand becomes what was counted; the difference is the ledger row."""
    return _on_hand_change(uow, kind=MovementKind.COUNT, sku=sku, warehouse=warehouse, delta=None,
                           counted=_whole("counted", counted, allow_zero=True), reason=_reason(reason),
                           idempotency_key=idempotency_key, actor=actor)


def transfer(uow: UnitOfWork, *, sku: str, from_warehouse: str, to_warehouse: str, qty: int, reason: str,
             idempotency_key: str, actor: Actor) -> StockChange:
    """Send stock to another warehouse: off the source now, in transit at the destination until it arrives."""
    qty, reason = _whole("qty", qty), _reason(reason)
    if from_warehouse == to_warehouse:
        raise SameWarehouse()
    with uow:
        session, at = uow.session, uow.now()
        request = {"sku": sku, "from": from_warehouse, "to": to_warehouse, "qty": qty, "reason": reason}
        operation, seen = _start(session, key=idempotency_key, kind=MovementKind.TRANSFER_OUT, request=request,
                                 actor=actor, at=at)
        if seen is not None:
            return seen
        item = stock_sku(session, sku)
        source, target = _warehouse(session, from_warehouse), _warehouse(session, to_warehouse)
        totals = _lock_skus(session, [item.id], create=True)[item.id]
        places = _lock_places(session, {(item.id, source.id), (item.id, target.id)}, create=True)
        there, here = places[(item.id, source.id)], places[(item.id, target.id)]
        if there.on_hand - qty < there.reserved:
            raise StockBelowReserved(sku=sku, warehouse=from_warehouse, on_hand=there.on_hand,
                                     reserved=there.reserved, change=-qty)
        if totals.on_hand - qty < totals.reserved:
            raise StockBelowReserved(sku=sku, warehouse="*", on_hand=totals.on_hand, reserved=totals.reserved,
                                     change=-qty)
        moved = Transfer(sku_id=item.id, from_warehouse_id=source.id, to_warehouse_id=target.id, qty=qty,
                         reason=reason, actor=actor.name[:64], created_at=at)
        session.add(moved)
        session.flush()
        there.on_hand -= qty
        here.in_transit += qty
        totals.on_hand -= qty
        totals.in_transit += qty
        movement = _Movement(actor, at, reason, f"transfer:{moved.id}", operation.id)
        movement.add(MovementKind.TRANSFER_OUT, item.id, source.id, on_hand=-qty)
        movement.add(MovementKind.TRANSFER_OUT, item.id, target.id, in_transit=qty)
        movement.write(session)
        _changed(session, [totals], {item.id: sku}, at)
        result = StockChange.of(sku, from_warehouse, there, moved.id)
        operation.result = asdict(result)
        uow.commit()
        return result


def receive_transfer(uow: UnitOfWork, *, transfer_id: int, actor: Actor) -> StockChange:
    """A transfer arrived: in transit becomes on hand at the destination. Receiving it again changes nothing."""
    with uow:
        session, at = uow.session, uow.now()
        moved = session.get(Transfer, transfer_id, with_for_update=True)
        if moved is None:
            raise TransferNotFound(transfer_id)
        code = _codes(session, [moved.sku_id])[moved.sku_id]
        target = session.get(Warehouse, moved.to_warehouse_id)
        assert target is not None
        totals = _lock_skus(session, [moved.sku_id])[moved.sku_id]
        here = _lock_places(session, {(moved.sku_id, target.id)})[(moved.sku_id, target.id)]
        if moved.state == TransferState.ARRIVED.value:
            return replace(StockChange.of(code, target.code, here, moved.id), replayed=True)
        moved.state, moved.arrived_at = TransferState.ARRIVED.value, at
        here.in_transit -= moved.qty
        here.on_hand += moved.qty
        totals.in_transit -= moved.qty
        totals.on_hand += moved.qty
        movement = _Movement(actor, at, moved.reason, f"transfer:{moved.id}")
        movement.add(MovementKind.TRANSFER_IN, moved.sku_id, target.id, on_hand=moved.qty, in_transit=-moved.qty)
        movement.write(session)
        _changed(session, [totals], {moved.sku_id: code}, at)
        result = StockChange.of(code, target.code, here, moved.id)
        uow.commit()
        return result


def set_safety(uow: UnitOfWork, *, sku: str, safety: int, actor: Actor, warehouse: str | None = None) -> None:
    """Safety stock of the SKU (or of it at one warehouse): kept back from what channels may sell."""
    safety = _whole("safety", safety, allow_zero=True)
    with uow:
        session, at = uow.session, uow.now()
        item = stock_sku(session, sku)
        totals = _lock_skus(session, [item.id], create=True)[item.id]
        if warehouse is None:
            totals.safety = safety
        else:
            place = _warehouse(session, warehouse)
            here = _lock_places(session, {(item.id, place.id)}, create=True)[(item.id, place.id)]
            totals.warehouse_safety += safety - here.safety
            here.safety = safety
        _changed(session, [totals], {item.id: sku}, at)
        add_event(session, topic="inventory.safety_changed", key=sku, at=at,
                  payload={"sku": sku, "warehouse": warehouse, "safety": safety, "actor": actor.name})
        uow.commit()


# ---------------------------------------------------------------------------------------------
# Reservations: orders hold central stock from the moment they enter until they ship or end
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Demand:
    """What one order asks of stock: its lines as sold (SKU code, qty); bundles are expanded here."""

    order_id: int
    reference: str  # the order number, written on every ledger row
    lines: Sequence[tuple[str, int]]
    expires_at: datetime | None = None  # unpaid orders hold stock only until then


def _needs(session: Session, demands: Sequence[Demand]) -> tuple[list[dict[int, int]], dict[int, str]]:
    """Each demand as stock SKU id → qty, and the codes of those SKUs. Unknown SKUs hold nothing."""
    units = catalog.stock_units(session, {code for demand in demands for code, _ in demand.lines})
    needs, codes = [], {}
    for demand in demands:
        need: dict[int, int] = {}
        for code, qty in demand.lines:
            for unit in units.get(code, ()):
                need[unit.sku_id] = need.get(unit.sku_id, 0) + unit.qty * qty
                codes[unit.sku_id] = unit.code
        needs.append(need)
    return needs, codes


def hold(session: Session, demands: Sequence[Demand], *, at: datetime, actor: Actor) -> dict[int, list[Shortage]]:
    """Make each order hold its stock, all of it or none, first come first served; shortages per order.

    An order holding nothing yet reserves; one holding stock keeps it with the new expiry (None once
    paid); one that came in short tries again. Too little stock leaves SHORT reservations that hold
    nothing (the shortage list shows them; the SKU's low-stock event has told people). Runs in the
    caller's transaction: a crash before the order commits leaves no reservation behind.
    """
    if not demands:
        return {}
    live = _live_rows(session, [demand.order_id for demand in demands])
    if not live:
        return reserve_new(session, demands, at=at, actor=actor)
    fresh = [demand for demand in demands if demand.order_id not in live]
    needs, codes = _needs(session, fresh)
    return _reserve_locked(session, demands, live, dict(zip([d.order_id for d in fresh], needs, strict=True)),
                           codes, at, actor)


def reserve_new(session: Session, demands: Sequence[Demand], *, at: datetime,
                actor: Actor) -> dict[int, list[Shortage]]:
    """`hold` for orders that hold nothing yet: the ones just created."""
    if not demands:
        return {}
    needs, codes = _needs(session, demands)
    one = _one_stock_line(session, demands, needs, codes)
    if one is not None:
        return {one.demand.order_id: one.shortages(send_together(session, one.statements(at, actor)))}
    return _reserve_locked(session, demands, {}, {d.order_id: need for d, need in zip(demands, needs, strict=True)},
                           codes, at, actor)


def reserve_and_commit(uow: UnitOfWork, demand: Demand, *, at: datetime, actor: Actor) -> list[Shortage]:
    """`reserve_new` for one order as the last write of the caller's transaction, then commit; its shortages.

    On PostgreSQL an order taking one stock SKU (the flash-sale case) is reserved by statements that
    leave together with the COMMIT (`UnitOfWork.commit_with`): the hot SKU's row is locked for the
    reservation and the commit only.
    """
    needs, codes = _needs(uow.session, [demand])
    one = _one_stock_line(uow.session, [demand], needs, codes)
    if one is None:
        shortages = _reserve_locked(uow.session, [demand], {}, {demand.order_id: needs[0]}, codes, at, actor)
        uow.commit()
        return shortages[demand.order_id]
    return one.shortages(uow.commit_with(*one.statements(at, actor)))


def _reserve_locked(session: Session, demands: Sequence[Demand], live: dict[int, list[Reservation]],
                    needs: dict[int, dict[int, int]], codes: dict[int, str], at: datetime,
                    actor: Actor) -> dict[int, list[Shortage]]:
    """Lock every SKU row the orders touch (in id order), then serve them one by one, first come first served."""
    retried = {row.sku_id for rows in live.values() for row in rows if row.state == SHORT}
    codes = codes | _codes(session, retried - codes.keys())
    totals = _lock_skus(session, set(codes))
    free = {sku_id: row.on_hand - row.reserved for sku_id, row in totals.items()}
    movement = _Movement(actor, at, "订单预占")
    outcome: dict[int, list[Shortage]] = {}
    fresh: list[dict[str, Any]] = []
    for demand in demands:
        if demand.order_id in live:
            rows = live[demand.order_id]
            for row in rows:
                if row.state == ACTIVE and row.expires_at != demand.expires_at:
                    row.expires_at, row.updated_at = demand.expires_at, at
            outcome[demand.order_id] = _take(session, rows, free, totals, codes, movement, demand.expires_at, at)
            continue
        need = sorted(needs[demand.order_id].items())
        lacking = [Shortage(codes[sku_id], qty, max(0, free.get(sku_id, 0))) for sku_id, qty in need
                   if free.get(sku_id, 0) < qty]
        for sku_id, qty in need:
            fresh.append({"order_id": demand.order_id, "reference": demand.reference[:64], "sku_id": sku_id,
                          "warehouse_id": None, "qty": qty, "state": SHORT if lacking else ACTIVE,
                          "expires_at": None if lacking else demand.expires_at, "created_at": at, "updated_at": at})
            if not lacking:
                free[sku_id] -= qty
                totals[sku_id].reserved += qty
                movement.add(MovementKind.RESERVE, sku_id, reserved=qty, reference=demand.reference)
        outcome[demand.order_id] = lacking
    add_rows(session, Reservation.__table__, fresh)
    movement.write(session)
    _changed(session, totals.values(), codes, at)
    return outcome


# PostgreSQL, an order that takes one stock SKU (the flash-sale case) first queues for the SKU: an
# advisory lock per SKU, which the database grants to one waiter at a time, in turn. Waiting on the
# row lock itself costs dearly when many wait: after each commit every waiter in turn wakes, follows
# the row to its new version and sleeps again behind the next holder, and on a hot SKU that churn,
# not the work, fills the CPUs. The queue changes nothing about who gets stock (the guarded UPDATE
# decides; other paths, with several SKUs or a batch, wait on the row as before), and the statement
# that follows starts once its turn has come, so it sees the stock as it is then.
_QUEUE = "SELECT pg_advisory_xact_lock(hashtextextended('sku_stock', %(sku_id)s))"

# Then one statement: the guarded UPDATE, the reservation row (active, or short when the UPDATE
# found too little), the ledger row, and the low-stock flag with its event when this reservation
# empties the SKU. `low` means "sellable ≤ 0" after every change (`_changed` keeps it so), and a
# reservation only lowers what is sellable: the flag crosses here exactly when the sellable stock
# goes from above zero to zero or below. Written for psycopg itself (see `_StockLine`).
_TAKE_ONE = """
    WITH taken AS (
        UPDATE sku_stock SET reserved = reserved + %(qty)s, change_count = change_count + 1, changed_at = %(at)s,
               low = on_hand - reserved - %(qty)s - safety - warehouse_safety <= 0
        WHERE sku_id = %(sku_id)s AND on_hand - reserved >= %(qty)s
        RETURNING on_hand, reserved, safety + warehouse_safety AS safety,
                  on_hand - reserved - safety - warehouse_safety AS free
    ), held AS (
        INSERT INTO stock_reservation (order_id, reference, sku_id, qty, state, expires_at, created_at, updated_at)
        SELECT %(order_id)s, %(reference)s, %(sku_id)s, %(qty)s,
               CASE WHEN EXISTS (SELECT FROM taken) THEN 'active' ELSE 'short' END,
               CASE WHEN EXISTS (SELECT FROM taken) THEN CAST(%(expires_at)s AS timestamptz) END, %(at)s, %(at)s
    ), entry AS (
        INSERT INTO stock_ledger (sku_id, kind, on_hand_delta, reserved_delta, in_transit_delta, reason, reference,
                                  actor, created_at)
        SELECT %(sku_id)s, 'reserve', 0, %(qty)s, 0, %(reason)s, %(reference)s, %(actor)s, %(at)s FROM taken
    ), warned AS (
        INSERT INTO outbox_event (topic, key, payload, created_at, attempts)
        SELECT 'inventory.low_stock', %(code)s::text,
               jsonb_build_object('sku', %(code)s::text, 'on_hand', on_hand, 'reserved', reserved, 'safety', safety,
                                  'available', GREATEST(free, 0)), %(at)s, 0
        FROM taken WHERE free <= 0 AND free + %(qty)s > 0
    )
    SELECT taken.free, (SELECT on_hand - reserved FROM sku_stock WHERE sku_id = %(sku_id)s)
    FROM (VALUES (1)) AS one LEFT JOIN taken ON true
"""


@dataclass(frozen=True)
class _StockLine:
    """A new order that takes `qty` of one stock SKU: reserved by `_QUEUE` and `_TAKE_ONE`.

    Sent through psycopg directly, on the session's connection and in its transaction: SQLAlchemy's
    execution (statement cache, parameter and result wrapping) costs several times psycopg's own.
    """

    demand: Demand
    sku_id: int
    code: str
    qty: int

    def statements(self, at: datetime, actor: Actor) -> tuple[Statement, Statement]:
        """Queue for the SKU, then take it (`_QUEUE`, `_TAKE_ONE`), to be sent together."""
        params = {"sku_id": self.sku_id, "code": self.code, "qty": self.qty, "at": at,
                  "order_id": self.demand.order_id, "reference": self.demand.reference[:64],
                  "expires_at": self.demand.expires_at, "reason": "订单预占", "actor": actor.name[:64]}
        return (_QUEUE, {"sku_id": self.sku_id}), (_TAKE_ONE, params)

    def shortages(self, found: tuple[Any, ...] | None) -> list[Shortage]:
        """From `_TAKE_ONE`'s row (sellable after, on hand − reserved as the statement began)."""
        assert found is not None  # the statement always answers one row
        free, had = found
        return [] if free is not None else [Shortage(self.code, self.qty, max(0, had or 0))]


def _one_stock_line(session: Session, demands: Sequence[Demand], needs: list[dict[int, int]],
                    codes: dict[int, str]) -> _StockLine | None:
    """The `_TAKE_ONE` case: PostgreSQL, one order, one stock SKU (a plain SKU or a bundle of one component)."""
    if len(demands) != 1 or len(needs[0]) != 1 or session.get_bind().dialect.name != "postgresql":
        return None
    ((sku_id, qty),) = needs[0].items()
    return _StockLine(demands[0], sku_id, codes[sku_id], qty)


def _take(session: Session, rows: Sequence[Reservation], free: dict[int, int], totals: dict[int, SkuStock],
          codes: dict[int, str], movement: _Movement, expires_at: datetime | None, at: datetime) -> list[Shortage]:
    """Turn an order's SHORT rows ACTIVE if every one of them can be had now; else its shortages."""
    short = [row for row in rows if row.state == SHORT]
    lacking = [Shortage(codes[row.sku_id], row.qty, max(0, free.get(row.sku_id, 0)))
               for row in short if free.get(row.sku_id, 0) < row.qty]
    if lacking:
        return lacking
    for row in short:
        free[row.sku_id] -= row.qty
        totals[row.sku_id].reserved += row.qty
        row.state, row.expires_at, row.updated_at = ACTIVE, expires_at, at
        movement.add(MovementKind.RESERVE, row.sku_id, reserved=row.qty, reference=row.reference)
    return []


def _codes(session: Session, sku_ids: Collection[int]) -> dict[int, str]:
    return catalog.codes_by_id(session, sku_ids)


def _live_rows(session: Session, order_ids: Collection[int]) -> dict[int, list[Reservation]]:
    """The orders' ACTIVE and SHORT reservations, locked."""
    query = (select(Reservation)
             .where(one_of(session, Reservation.order_id, list(order_ids)), Reservation.state.in_((ACTIVE, SHORT)))
             .order_by(Reservation.id).with_for_update().execution_options(populate_existing=True))
    found: dict[int, list[Reservation]] = {}
    for row in session.scalars(query):
        found.setdefault(row.order_id, []).append(row)
    return found


def ensure_reserved(session: Session, *, order_id: int, at: datetime, actor: Actor) -> bool:
    """Whether the order holds all its stock, after trying again for what it came in short of."""
    return order_id not in ensure_reserved_many(session, order_ids=[order_id], at=at, actor=actor)


def ensure_reserved_many(session: Session, *, order_ids: Collection[int], at: datetime, actor: Actor) -> set[int]:
    """The orders among these still short of stock after trying again, first come first served.

    An order holding no reservation at all (its SKUs unknown when it came in) counts as short. The
    orders' live rows are locked and read as plain rows; only orders with a SHORT row are loaded to
    be served again (routing asks this of every batch, and nearly every order holds all it needs).
    """
    R = Reservation
    states = session.execute(
        select(R.order_id, R.state).where(one_of(session, R.order_id, list(order_ids)), R.state.in_((ACTIVE, SHORT)))
        .order_by(R.id).with_for_update()
    ).all()
    holding_nothing = set(order_ids) - {order_id for order_id, _ in states}
    short_ids = {order_id for order_id, state in states if state == SHORT}
    if not short_ids:
        return holding_nothing
    wanting = _live_rows(session, short_ids)
    codes = _codes(session, {row.sku_id for rows in wanting.values() for row in rows})
    totals = _lock_skus(session, set(codes))
    free = {sku_id: row.on_hand - row.reserved for sku_id, row in totals.items()}
    movement = _Movement(actor, at, "订单预占（补占）")
    short = {order_id for order_id, rows in sorted(wanting.items())
             if _take(session, rows, free, totals, codes, movement, None, at)}
    movement.write(session)
    _changed(session, totals.values(), codes, at)
    return short | holding_nothing


def release_order(session: Session, *, order_id: int, at: datetime, actor: Actor, reason: str) -> int:
    """The order gives back what it holds (cancelled, refunded before shipping, unpaid too long); units freed."""
    rows = _live_rows(session, [order_id]).get(order_id, [])
    active = [row for row in rows if row.state == ACTIVE]
    codes = _codes(session, {row.sku_id for row in active})
    totals = _lock_skus(session, set(codes))
    places = _lock_places(session, {(row.sku_id, row.warehouse_id) for row in active if row.warehouse_id})
    movement = _Movement(actor, at, reason)
    for row in active:
        totals[row.sku_id].reserved -= row.qty
        movement.add(MovementKind.RELEASE, row.sku_id, reserved=-row.qty, reference=row.reference)
        if row.warehouse_id is not None:
            places[(row.sku_id, row.warehouse_id)].reserved -= row.qty
            movement.add(MovementKind.RELEASE, row.sku_id, row.warehouse_id, reserved=-row.qty,
                         reference=row.reference)
    for row in rows:
        row.state, row.updated_at = ReservationState.RELEASED.value, at
    movement.write(session)
    _changed(session, totals.values(), codes, at)
    return sum(row.qty for row in active)


def consume_order(session: Session, *, order_id: int, at: datetime, actor: Actor) -> None:
    """The order shipped: what it holds leaves on hand. Stock not yet assigned to a warehouse ships from
    those with the most free units; a reservation that was still short is closed, holding nothing."""
    rows = _live_rows(session, [order_id]).get(order_id, [])
    active = [row for row in rows if row.state == ACTIVE]
    codes = _codes(session, {row.sku_id for row in active})
    totals = _lock_skus(session, set(codes))
    unassigned = {row.sku_id for row in active if row.warehouse_id is None}
    warehouse_ids = list(session.scalars(select(Warehouse.id))) if unassigned else []
    pairs = {(row.sku_id, row.warehouse_id) for row in active if row.warehouse_id is not None}
    pairs |= {(sku_id, warehouse_id) for sku_id in unassigned for warehouse_id in warehouse_ids}
    places = _lock_places(session, pairs)
    movement = _Movement(actor, at, "发货出库")
    for row in active:
        totals[row.sku_id].on_hand -= row.qty
        totals[row.sku_id].reserved -= row.qty
        movement.add(MovementKind.SHIP, row.sku_id, reserved=-row.qty, reference=row.reference)
        if row.warehouse_id is not None:
            place = places[(row.sku_id, row.warehouse_id)]
            place.on_hand -= row.qty
            place.reserved -= row.qty
            movement.add(MovementKind.SHIP, row.sku_id, row.warehouse_id, on_hand=-row.qty, reserved=-row.qty,
                         reference=row.reference)
            continue
        left = row.qty
        for place in sorted((p for (sku_id, _), p in places.items() if sku_id == row.sku_id),
                            key=lambda p: (-(p.on_hand - p.reserved), p.warehouse_id)):
            take = min(left, place.on_hand - place.reserved)
            if take <= 0:
                break
            place.on_hand -= take
            movement.add(MovementKind.SHIP, row.sku_id, place.warehouse_id, on_hand=-take, reference=row.reference)
            left -= take
        if left:
            raise InsufficientStock([Shortage(codes[row.sku_id], row.qty, row.qty - left)])
    for row in rows:
        row.state = (ReservationState.CONSUMED if row.state == ACTIVE else ReservationState.RELEASED).value
        row.updated_at = at
    movement.write(session)
    _changed(session, totals.values(), codes, at)


def release_expired(uow: UnitOfWork, *, actor: Actor, limit: int = 200) -> int:
    """Release the stock of unpaid orders whose hold ran out; the number of orders. Workers share the work."""
    with uow:
        session, at = uow.session, uow.now()
        orders = dict(session.execute(
            select(Reservation.order_id, Reservation.reference)
            .where(Reservation.state == ACTIVE, Reservation.expires_at <= at)
            .order_by(Reservation.expires_at).limit(limit).with_for_update(skip_locked=True)
        ).all())
        for order_id, reference in orders.items():
            freed = release_order(session, order_id=order_id, at=at, actor=actor, reason="未付款超时，释放预占")
            add_event(session, topic="inventory.reservation_expired", key=reference, at=at,
                      payload={"order_no": reference, "released": freed})
        uow.commit()
        return len(orders)


# ---------------------------------------------------------------------------------------------
# Warehouses' share: routing assigns an order's central reservation to the warehouses it ships from
# ---------------------------------------------------------------------------------------------


def warehouse_stock(session: Session, *, sku_codes: Iterable[str], lock: bool = False) -> dict[str, dict[str, int]]:
    """Per stock SKU code, per warehouse code: units free to assign there (on hand − reserved there).

    With `lock`, the rows stay locked until the caller's transaction ends, so assignments made from
    what was read here cannot find the units gone.
    """
    return ReservationAssigner(session, sku_codes=sku_codes).free(lock=lock)


def _stock_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Ids of the active stock-holding SKUs among `codes`; bundles, unknown and inactive codes are absent."""
    return {code: units[0].sku_id for code, units in catalog.stock_units(session, codes).items()
            if len(units) == 1 and units[0].code == code}


Allocation = tuple[str, str, int]  # (stock SKU code, warehouse code, qty)


def assign_reservation(session: Session, *, order_id: int, allocations: Iterable[Allocation],
                       at: datetime, actor: Actor) -> None:
    """Move the order's central reservation onto warehouses; see `ReservationAssigner.assign`."""
    assign_reservations(session, [(order_id, list(allocations))], at=at, actor=actor)


def assign_reservations(session: Session, plans: Sequence[tuple[int, Sequence[Allocation]]], *, at: datetime,
                        actor: Actor) -> None:
    """Move orders' central reservations onto warehouses; see `ReservationAssigner.assign`."""
    codes = {sku for _, allocations in plans for sku, _, qty in allocations if qty > 0}
    ReservationAssigner(session, sku_codes=codes).assign(plans, at=at, actor=actor)


class ReservationAssigner:
    """Routing's use of warehouse stock for a batch of orders: the units free at each warehouse, which it
    decides from, and the assignment of the orders' central reservations to the warehouses it chose.

    The SKUs and warehouses are looked up once for both. Rows are read and written as plain rows, not
    ORM objects: a batch touches hundreds, and loading, tracking and committing them as objects cost
    more than the statements. Pending ORM changes are flushed first; every ORM reader of these tables
    loads with `populate_existing`, so none works on values these statements changed.
    """

    def __init__(self, session: Session, *, sku_codes: Iterable[str]) -> None:
        self.session = session
        self.skus = _stock_ids(session, sku_codes)
        self.sites: dict[str, int] = {code: site_id for code, site_id in
                                      session.execute(select(Warehouse.code, Warehouse.id))}

    def free(self, *, lock: bool) -> dict[str, dict[str, int]]:
        """Per SKU code, per warehouse code: units free to assign there (on hand − reserved there).

        With `lock`, the rows are locked in (SKU id, warehouse id) order until the transaction ends.
        Without, nothing waits for them: `assign` checks again, under lock, what it takes.
        """
        codes = {sku_id: code for code, sku_id in self.skus.items()}
        if not codes:
            return {}
        sites = {site_id: code for code, site_id in self.sites.items()}
        W = WarehouseStock
        query = select(W.sku_id, W.warehouse_id, W.on_hand - W.reserved).where(one_of(self.session, W.sku_id,
                                                                                       list(codes)))
        if lock:
            query = query.order_by(W.sku_id, W.warehouse_id).with_for_update()
        found: dict[str, dict[str, int]] = {}
        for sku_id, site_id, units in self.session.execute(query):
            found.setdefault(codes[sku_id], {})[sites[site_id]] = units
        return found

    def assign(self, plans: Sequence[tuple[int, Sequence[Allocation]]], *, at: datetime, actor: Actor) -> None:
        """Move each order's central reservation onto the warehouses of its plan, in a few statements.

        Raises InsufficientStock, before writing anything, when a warehouse does not have the units
        free (another transaction took them since `free` was read without lock), or when an order does
        not hold what it asks to assign. The stock rows are locked first (again, if `free` locked
        them), in (SKU id, warehouse id) order as every stock movement locks them, until the commit.
        """
        session = self.session
        wanted = {order_id: [(sku, site, qty) for sku, site, qty in allocations if qty > 0]
                  for order_id, allocations in plans}
        if not any(wanted.values()):
            return
        session.flush()
        skus, sites = self.skus, self.sites
        for sku, site, _ in (allocation for chosen in wanted.values() for allocation in chosen):
            if sku not in skus:
                if catalog.stock_units(session, [sku]):
                    raise BundleHoldsNoStock(sku)
                raise UnknownSku(f"unknown SKU {sku} / 商品编码 {sku} 不存在")
            if site not in sites:
                raise UnknownWarehouse(site)
        held = _central_rows(session, [order_id for order_id, chosen in wanted.items() if chosen])
        lacking = [Shortage(sku, qty, have) for order_id, chosen in wanted.items()
                   for sku, qty in _sum_by_sku(chosen).items()
                   if (have := sum(row.qty for row in held.get(order_id, {}).get(skus[sku], []))) < qty]
        if lacking:
            raise InsufficientStock(lacking)
        free = _free_places(session, {(skus[sku], sites[site]) for chosen in wanted.values()
                                      for sku, site, _ in chosen})
        movement = _Movement(actor, at, "分仓占用")
        split = _Split(at)
        taken: dict[tuple[int, int], int] = {}
        short = []
        for order_id, chosen in wanted.items():
            for sku, site, qty in sorted(chosen):
                key = (skus[sku], sites[site])
                if free.get(key, 0) < qty:
                    short.append(Shortage(sku, qty, max(0, free.get(key, 0)), site))
                    continue
                free[key] -= qty
                taken[key] = taken.get(key, 0) + qty
                rows = held[order_id][skus[sku]]
                movement.add(MovementKind.ASSIGN, skus[sku], sites[site], reserved=qty, reference=rows[0].reference)
                split.give(rows, qty, sites[site])
        if short:
            raise InsufficientStock(short)
        split.write(session)
        movement.write(session)
        _add_reserved(session, taken)


# PostgreSQL: many rows changed by one statement over arrays, not one statement per row.
_ADD_RESERVED = """
    UPDATE warehouse_stock AS w SET reserved = w.reserved + p.taken
    FROM unnest(%(skus)s::bigint[], %(sites)s::bigint[], %(taken)s::integer[]) AS p(sku_id, warehouse_id, taken)
    WHERE w.sku_id = p.sku_id AND w.warehouse_id = p.warehouse_id
"""
_GIVE_ROWS = """
    UPDATE stock_reservation AS r SET qty = p.qty, warehouse_id = p.warehouse_id, updated_at = %(at)s
    FROM unnest(%(ids)s::bigint[], %(qtys)s::integer[], %(sites)s::bigint[]) AS p(id, qty, warehouse_id)
    WHERE r.id = p.id
"""


def _add_reserved(session: Session, taken: dict[tuple[int, int], int]) -> None:
    """Raise `reserved` at (SKU id, warehouse id) places, whose rows the caller has locked."""
    if not taken:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(_ADD_RESERVED, {
            "skus": [sku_id for sku_id, _ in taken], "sites": [site_id for _, site_id in taken],
            "taken": list(taken.values())})
        return
    W = WarehouseStock.__table__
    session.execute(update(W).where(W.c.sku_id == bindparam("key_sku"), W.c.warehouse_id == bindparam("key_site"))
                    .values(reserved=W.c.reserved + bindparam("taken")),
                    [{"key_sku": sku, "key_site": site, "taken": qty} for (sku, site), qty in taken.items()])


@dataclass
class _Held:
    """A central ACTIVE reservation row as `ReservationAssigner.assign` reads it; `qty` is what is left to give."""

    id: int
    order_id: int
    reference: str
    sku_id: int
    qty: int
    expires_at: datetime | None


def _central_rows(session: Session, order_ids: Collection[int]) -> dict[int, dict[int, list[_Held]]]:
    """The orders' ACTIVE reservation rows no warehouse holds yet, locked: order id → SKU id → rows, oldest first."""
    if not order_ids:
        return {}
    R = Reservation
    query = (select(R.id, R.order_id, R.reference, R.sku_id, R.qty, R.expires_at)
             .where(one_of(session, R.order_id, list(order_ids)), R.state == ACTIVE, R.warehouse_id.is_(None))
             .order_by(R.id).with_for_update())
    found: dict[int, dict[int, list[_Held]]] = {}
    for row in session.execute(query):
        found.setdefault(row.order_id, {}).setdefault(row.sku_id, []).append(_Held(*row))
    return found


def _free_places(session: Session, pairs: Collection[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Units free (on hand − reserved) at these (SKU id, warehouse id) places, their SKUs' rows locked in
    (SKU id, warehouse id) order as `_lock_places` locks them; a place without a row has none."""
    if not pairs:
        return {}
    W = WarehouseStock
    query = (select(W.sku_id, W.warehouse_id, W.on_hand - W.reserved)
             .where(one_of(session, W.sku_id, sorted({sku_id for sku_id, _ in pairs})))
             .order_by(W.sku_id, W.warehouse_id).with_for_update())
    return {(sku_id, site_id): free for sku_id, site_id, free in session.execute(query) if (sku_id, site_id) in pairs}


def _sum_by_sku(allocations: Iterable[tuple[str, str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for sku, _, qty in allocations:
        total[sku] = total.get(sku, 0) + qty
    return total


class _Split:
    """Central reservation rows given to warehouses, a row split where only part of it goes; written in bulk."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.changes: dict[int, dict[str, Any]] = {}  # row id → its new qty and warehouse
        self.fresh: list[dict[str, Any]] = []

    def give(self, rows: list[_Held], qty: int, warehouse_id: int) -> None:
        """`qty` of these rows (front first) to the warehouse; a row given whole leaves `rows`."""
        while qty:
            row = rows[0]
            if row.qty <= qty:
                rows.pop(0)
                self.changes[row.id] = {"row_id": row.id, "qty": row.qty, "warehouse_id": warehouse_id,
                                        "updated_at": self.at}
                qty -= row.qty
                continue
            row.qty -= qty
            self.changes[row.id] = {"row_id": row.id, "qty": row.qty, "warehouse_id": None, "updated_at": self.at}
            self.fresh.append({"order_id": row.order_id, "reference": row.reference, "sku_id": row.sku_id,
                               "warehouse_id": warehouse_id, "qty": qty, "state": ACTIVE,
                               "expires_at": row.expires_at, "created_at": self.at, "updated_at": self.at})
            qty = 0

    def write(self, session: Session) -> None:
        R = Reservation.__table__
        if self.changes and session.get_bind().dialect.name == "postgresql":
            changes = list(self.changes.values())
            session.connection().exec_driver_sql(_GIVE_ROWS, {
                "ids": [c["row_id"] for c in changes], "qtys": [c["qty"] for c in changes],
                "sites": [c["warehouse_id"] for c in changes], "at": self.at})
        elif self.changes:
            session.execute(update(R).where(R.c.id == bindparam("row_id")), list(self.changes.values()))
        add_rows(session, R, self.fresh)


def release_assignment(session: Session, *, order_id: int, at: datetime, actor: Actor) -> None:
    """The order's warehouse assignments go back to the central pool; the order keeps its reservation."""
    rows = [row for row in _live_rows(session, [order_id]).get(order_id, [])
            if row.state == ACTIVE and row.warehouse_id is not None]
    places = _lock_places(session, {(row.sku_id, row.warehouse_id) for row in rows if row.warehouse_id})
    movement = _Movement(actor, at, "取消分仓")
    for row in rows:
        assert row.warehouse_id is not None
        places[(row.sku_id, row.warehouse_id)].reserved -= row.qty
        movement.add(MovementKind.ASSIGN, row.sku_id, row.warehouse_id, reserved=-row.qty, reference=row.reference)
        row.warehouse_id, row.updated_at = None, at
    movement.write(session)


# ---------------------------------------------------------------------------------------------
# Reading, and proving the balances equal the ledger
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceStock:
    warehouse: str
    name: str
    on_hand: int
    reserved: int
    in_transit: int
    safety: int

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety)


@dataclass(frozen=True)
class SkuAvailability:
    """A SKU's stock as channels and people see it; a bundle's is what its components make up."""

    sku: str
    title: str
    bundle: bool
    on_hand: int
    reserved: int
    in_transit: int
    safety: int
    available: int
    low: bool
    warehouses: list[PlaceStock]

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "available": self.available, "on_hand": self.on_hand, "reserved": self.reserved,
                "in_transit": self.in_transit, "safety": self.safety, "bundle": self.bundle, "low": self.low,
                "warehouses": [{"warehouse": p.warehouse, "on_hand": p.on_hand, "reserved": p.reserved,
                                "in_transit": p.in_transit, "safety": p.safety, "available": p.available}
                               for p in self.warehouses]}


def availability(session: Session, sku: str) -> SkuAvailability:
    item = catalog.skus_by_code(session, [sku]).get(sku)
    if item is None:
        raise SkuNotFound(sku)
    if not item.is_bundle:
        return _availability_of(session, [item])[item.id]
    parts = catalog.stock_units(session, [sku])[sku]
    stock = _availability_of(session, list(catalog.skus_by_code(session, [p.code for p in parts]).values()))
    by_id = {stock_of.sku: stock_of for stock_of in stock.values()}
    names = {w.code: w.name for w in list_warehouses(session)}
    made_at: dict[str, int] = {}
    for code in names:
        made_at[code] = min((next((p.available for p in by_id[part.code].warehouses if p.warehouse == code), 0)
                             // part.qty for part in parts), default=0)
    return SkuAvailability(
        sku=sku, title=item.title, bundle=True, on_hand=0, reserved=0, in_transit=0, safety=0,
        available=min(by_id[p.code].available // p.qty for p in parts),
        low=any(by_id[p.code].low for p in parts),
        # A bundle's "on hand" at a warehouse: how many complete bundles its free components make up there.
        warehouses=[PlaceStock(code, names[code], made, 0, 0, 0) for code, made in sorted(made_at.items()) if made],
    )


def _availability_of(session: Session, skus: Sequence[Sku]) -> dict[int, SkuAvailability]:
    ids = [sku.id for sku in skus]
    totals = {row.sku_id: row for row in session.scalars(select(SkuStock).where(one_of(session, SkuStock.sku_id, ids)))}
    places: dict[int, list[PlaceStock]] = {}
    query = (select(WarehouseStock, Warehouse.code, Warehouse.name)
             .join(Warehouse, Warehouse.id == WarehouseStock.warehouse_id)
             .where(one_of(session, WarehouseStock.sku_id, ids)).order_by(Warehouse.code))
    for row, code, name in session.execute(query):
        places.setdefault(row.sku_id, []).append(
            PlaceStock(code, name, row.on_hand, row.reserved, row.in_transit, row.safety))
    found = {}
    for sku in skus:
        total = totals.get(sku.id)
        found[sku.id] = SkuAvailability(
            sku=sku.code, title=sku.title, bundle=False,
            on_hand=total.on_hand if total else 0, reserved=total.reserved if total else 0,
            in_transit=total.in_transit if total else 0,
            safety=total.safety + total.warehouse_safety if total else 0,
            available=sellable(total) if total else 0, low=total.low if total else True,
            warehouses=places.get(sku.id, []),
        )
    return found


@dataclass(frozen=True)
class LedgerLine:
    id: int
    at: datetime
    kind: str
    warehouse: str
    on_hand: int
    reserved: int
    in_transit: int
    reason: str
    reference: str
    actor: str


def ledger(session: Session, sku: str, *, limit: int = 100, before_id: int | None = None) -> list[LedgerLine]:
    """The SKU's movements, newest first (keyset paged by id)."""
    item = catalog.skus_by_code(session, [sku]).get(sku)
    if item is None:
        raise SkuNotFound(sku)
    query = (select(LedgerEntry, Warehouse.code).outerjoin(Warehouse, Warehouse.id == LedgerEntry.warehouse_id)
             .where(LedgerEntry.sku_id == item.id).order_by(LedgerEntry.id.desc()).limit(limit))
    if before_id is not None:
        query = query.where(LedgerEntry.id < before_id)
    return [LedgerLine(row.id, row.created_at, row.kind, code or "", row.on_hand_delta, row.reserved_delta,
                       row.in_transit_delta, row.reason, row.reference, row.actor)
            for row, code in session.execute(query)]


@dataclass(frozen=True)
class Mismatch:
    """A stored balance that is not what the ledger (or the reservations) add up to."""

    sku: str
    warehouse: str  # "" for the SKU's totals
    balance: str
    stored: int
    expected: int

    def __str__(self) -> str:
        where = f"@{self.warehouse}" if self.warehouse else ""
        return f"{self.sku}{where} {self.balance}: stored {self.stored}, expected {self.expected}"


def verify(session: Session) -> list[Mismatch]:
    """Recompute every balance from the ledger and the live reservations; what differs."""
    codes = catalog.codes_by_id(session)
    sites = dict(session.execute(select(Warehouse.id, Warehouse.code)).all())
    L = LedgerEntry
    sums = select(L.sku_id, L.warehouse_id, func.sum(L.on_hand_delta), func.sum(L.reserved_delta),
                  func.sum(L.in_transit_delta)).group_by(L.sku_id, L.warehouse_id)
    by_place: dict[tuple[int, int | None], tuple[int, int, int]] = {
        (sku_id, warehouse_id): (int(on_hand), int(reserved), int(in_transit))
        for sku_id, warehouse_id, on_hand, reserved, in_transit in session.execute(sums)
    }
    R = Reservation
    held = select(R.sku_id, R.warehouse_id, func.sum(R.qty)).where(R.state == ACTIVE).group_by(R.sku_id, R.warehouse_id)
    reserved_rows: dict[tuple[int, int | None], int] = {(s, w): int(q) for s, w, q in session.execute(held)}
    found: list[Mismatch] = []

    def check(sku_id: int, warehouse_id: int | None, balance: str, stored: int, expected: int) -> None:
        if stored != expected:
            found.append(Mismatch(codes.get(sku_id, str(sku_id)), sites.get(warehouse_id, "") if warehouse_id else "",
                                  balance, stored, expected))

    places = session.scalars(select(WarehouseStock)).all()
    for row in places:
        on_hand, reserved, in_transit = by_place.get((row.sku_id, row.warehouse_id), (0, 0, 0))
        check(row.sku_id, row.warehouse_id, "on_hand", row.on_hand, on_hand)
        check(row.sku_id, row.warehouse_id, "reserved", row.reserved, reserved)
        check(row.sku_id, row.warehouse_id, "in_transit", row.in_transit, in_transit)
        check(row.sku_id, row.warehouse_id, "reserved (reservations)", row.reserved,
              reserved_rows.get((row.sku_id, row.warehouse_id), 0))
    stocked_places = {(row.sku_id, row.warehouse_id) for row in places}
    for (sku_id, warehouse_id), (on_hand, _, _) in by_place.items():
        if warehouse_id is not None and (sku_id, warehouse_id) not in stocked_places:
            check(sku_id, warehouse_id, "on_hand", 0, on_hand)
    warehouse_on_hand: dict[int, int] = {}
    for row in places:
        warehouse_on_hand[row.sku_id] = warehouse_on_hand.get(row.sku_id, 0) + row.on_hand
    for row in session.scalars(select(SkuStock)):
        rows = [v for (s, _), v in by_place.items() if s == row.sku_id]
        check(row.sku_id, None, "on_hand", row.on_hand, sum(v[0] for v in rows))
        check(row.sku_id, None, "in_transit", row.in_transit, sum(v[2] for v in rows))
        check(row.sku_id, None, "reserved", row.reserved, by_place.get((row.sku_id, None), (0, 0, 0))[1])
        check(row.sku_id, None, "reserved (reservations)", row.reserved,
              sum(q for (s, _), q in reserved_rows.items() if s == row.sku_id))
        check(row.sku_id, None, "on_hand (warehouses)", row.on_hand, warehouse_on_hand.get(row.sku_id, 0))
    return found
