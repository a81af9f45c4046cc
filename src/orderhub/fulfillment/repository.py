"""Named queries and locks of routing.

Claiming orders reads `sales_order` directly: the claim must select and lock the rows in one
statement (`FOR UPDATE SKIP LOCKED`) so that two workers never take the same order, and it must
skip orders whose last routing attempt asked to wait, which only this domain's table knows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session, lazyload, load_only, selectinload

from orderhub.core.db import insert_ignoring_conflicts, one_of
from orderhub.fulfillment.model import (
    RoutingDecision,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    SlaResult,
    WarehouseBreaker,
)
from orderhub.orders.errors import OrderNotFound
from orderhub.orders.model import Order, OrderLine
from orderhub.orders.status import OrderStatus


def lock_order(session: Session, order_no: str) -> Order:
    """The order with its lines, row-locked until the transaction ends (a second router waits, then sees it)."""
    order = session.scalar(
        select(Order).where(Order.order_no == order_no).options(selectinload(Order.lines))
        .with_for_update(of=Order).execution_options(populate_existing=True)
    )
    if order is None:
        raise OrderNotFound(order_no)
    return order


def claim_approved(session: Session, *, now: datetime, limit: int) -> list[Order]:
    """Up to `limit` due approved orders, oldest first, with their lines, row-locked (`FOR UPDATE SKIP LOCKED`).

    Due: the last routing attempt did not ask to wait past `now`. Rows another transaction holds are
    skipped. SQLite has no row locks; there a writing transaction holds the whole database, which
    serialises claims just as well.
    """
    waiting = exists().where(RoutingDecision.order_id == Order.id, RoutingDecision.retry_at > now)
    # Ordered exactly as ix_sales_order_status_created, which the planner can walk for any share of approved.
    # BETWEEN, not `=`: with `=` the planner may walk ix_sales_order_created instead (the status being fixed,
    # it is ordered the same), past every order ever routed, when its statistics predate the routing.
    approved = OrderStatus.APPROVED.value
    return _still_due(session, list(session.scalars(
        select(Order).where(Order.status.between(approved, approved), ~waiting)
        .order_by(Order.status, Order.created_at, Order.id).limit(limit)
        .with_for_update(skip_locked=True, of=Order)
        .options(*_ROUTING_COLUMNS).execution_options(populate_existing=True)
    )), now)


def _still_due(session: Session, claimed: list[Order], now: datetime) -> list[Order]:
    """The claimed orders but those another worker routed between the claim's start and its lock.

    The claim sees the decisions committed when it started. A worker that found an order unroutable
    leaves the order's row as it was, so the lock on it is granted as soon as that worker commits,
    and only a later statement sees the decision that asks the order to wait. (A routed order's row
    has changed status, which the lock itself checks again.)
    """
    if not claimed:
        return claimed
    waiting = set(session.scalars(select(RoutingDecision.order_id).where(
        one_of(session, RoutingDecision.order_id, [order.id for order in claimed]), RoutingDecision.retry_at > now)))
    return [order for order in claimed if order.id not in waiting]


# What routing reads of a claimed order and its lines, and what its status change needs: not the rest (the
# platform's raw payload among it), nor the shop. Anything else is loaded only if something asks for it.
_ROUTING_COLUMNS = (
    load_only(Order.order_no, Order.channel, Order.status, Order.held_from, Order.refund_from,
              Order.receiver_province, Order.receiver_city, Order.payment_method, Order.version),
    lazyload(Order.shop),
    selectinload(Order.lines).load_only(OrderLine.line_no, OrderLine.sku, OrderLine.qty),
)


def claim(session: Session, order_id: int, *, now: datetime) -> Order | None:
    """The order with its lines, row-locked, if it is still approved and due and no other transaction holds it."""
    waiting = exists().where(RoutingDecision.order_id == Order.id, RoutingDecision.retry_at > now)
    order = session.scalar(
        select(Order).where(Order.id == order_id, Order.status == OrderStatus.APPROVED.value, ~waiting)
        .with_for_update(skip_locked=True, of=Order)
        .options(selectinload(Order.lines)).execution_options(populate_existing=True)
    )
    return next(iter(_still_due(session, [order], now)), None) if order is not None else None


@dataclass(frozen=True)
class AttemptsSoFar:
    last: int = 0
    last_applied: int = 0
    last_reason: str | None = None


def attempts_so_far(session: Session, order_ids: Collection[int]) -> dict[int, AttemptsSoFar]:
    """Each order's attempts so far (orders never routed are absent).

    Per order, as subqueries the planner answers from the (order, attempt) index whatever its statistics
    say: a batch-wide `IN` over `routing_decision` it may scan whole, every batch, as the table grows.
    """
    if not order_ids:
        return {}
    D = RoutingDecision
    last = select(func.max(D.attempt)).where(D.order_id == Order.id).scalar_subquery()
    last_applied = select(func.max(D.attempt)).where(D.order_id == Order.id, D.applied.is_(True)).scalar_subquery()
    last_reason = (select(D.reason).where(D.order_id == Order.id).order_by(D.attempt.desc()).limit(1)
                   .scalar_subquery())
    rows = session.execute(select(Order.id, last, last_applied, last_reason).where(Order.id.in_(order_ids)))
    return {order_id: AttemptsSoFar(attempt, applied or 0, reason)
            for order_id, attempt, applied, reason in rows if attempt is not None}


def decisions(session: Session, order_id: int) -> list[RoutingDecision]:
    """An order's routing attempts, newest first."""
    return list(session.scalars(
        select(RoutingDecision).where(RoutingDecision.order_id == order_id).order_by(RoutingDecision.attempt.desc())
    ))


def latest_decision(session: Session, order_id: int) -> RoutingDecision | None:
    return session.scalar(
        select(RoutingDecision).where(RoutingDecision.order_id == order_id)
        .order_by(RoutingDecision.attempt.desc()).limit(1)
    )


def shipments(session: Session, order_id: int, *, status: ShipmentStatus | None = None) -> list[Shipment]:
    query = select(Shipment).where(Shipment.order_id == order_id).options(selectinload(Shipment.lines))
    if status is not None:
        query = query.where(Shipment.status == status.value)
    return list(session.scalars(query.order_by(Shipment.id)))


def parcel(session: Session, order_id: int, parcel_no: int) -> Shipment | None:
    """The order's newest shipment with the parcel number (routing again plans new ones under the same numbers)."""
    return session.scalar(select(Shipment).where(Shipment.order_id == order_id, Shipment.parcel_no == parcel_no)
                          .order_by(Shipment.id.desc()).limit(1))


def with_planned_shipments(session: Session, order_ids: Collection[int]) -> set[int]:
    """The orders among these with a planned shipment; a subquery per order, for the reason `attempts_so_far` says."""
    if not order_ids:
        return set()
    planned = (select(Shipment.id).where(Shipment.order_id == Order.id, Shipment.status == ShipmentStatus.PLANNED.value)
               .limit(1).scalar_subquery())
    rows = session.execute(select(Order.id, planned).where(Order.id.in_(order_ids)))
    return {order_id for order_id, shipment_id in rows if shipment_id is not None}


def cancel_planned(session: Session, order_id: int, at: datetime) -> int:
    return session.execute(
        update(Shipment).where(Shipment.order_id == order_id, Shipment.status == ShipmentStatus.PLANNED.value)
        .values(status=ShipmentStatus.CANCELLED.value, updated_at=at)
    ).rowcount


def drop_decisions(session: Session, decision_ids: Collection[int]) -> None:
    """Decisions this transaction wrote and then made again differently: they go, with their planned shipments."""
    planned = select(Shipment.id).where(Shipment.decision_id.in_(decision_ids))
    session.execute(delete(ShipmentLine).where(ShipmentLine.shipment_id.in_(planned)))
    session.execute(delete(Shipment).where(Shipment.decision_id.in_(decision_ids)))
    session.execute(delete(RoutingDecision).where(RoutingDecision.id.in_(decision_ids)))


def breakers(session: Session) -> dict[str, WarehouseBreaker]:
    return {row.warehouse_code: row for row in session.scalars(select(WarehouseBreaker))}


def lock_breaker(session: Session, warehouse_code: str, at: datetime) -> WarehouseBreaker:
    """The warehouse's breaker row, created on first use and row-locked: results are counted one at a time."""
    session.execute(insert_ignoring_conflicts(session, WarehouseBreaker.__table__).values(
        warehouse_code=warehouse_code, consecutive_breaches=0, half_open=False, trips=0, updated_at=at))
    breaker = session.scalar(
        select(WarehouseBreaker).where(WarehouseBreaker.warehouse_code == warehouse_code)
        .with_for_update().execution_options(populate_existing=True)
    )
    assert breaker is not None
    return breaker


def add_sla_result(session: Session, *, warehouse_code: str, reference: str, breached: bool, at: datetime,
                   recorded_at: datetime, actor: str) -> bool:
    """Store the result; False when this warehouse's `reference` was recorded before (it counts once)."""
    inserted = session.scalar(insert_ignoring_conflicts(session, SlaResult.__table__).values(
        warehouse_code=warehouse_code, reference=reference, breached=breached, at=at, recorded_at=recorded_at,
        actor=actor).returning(SlaResult.id))
    return inserted is not None


def recent_breaches(session: Session, warehouse_code: str, limit: int) -> list[str]:
    return list(session.scalars(
        select(SlaResult.reference).where(SlaResult.warehouse_code == warehouse_code, SlaResult.breached.is_(True))
        .order_by(SlaResult.at.desc(), SlaResult.id.desc()).limit(limit)
    ))
