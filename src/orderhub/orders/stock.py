"""What an order's status means for its stock: held from entry, deducted when it ships, given back when it ends.

Called in the same transaction as the status change, so an order and its reservation commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork
from orderhub.inventory import service as inventory
from orderhub.orders.model import Order
from orderhub.orders.status import OrderStatus as S

# Statuses in which the order holds stock for itself; unpaid ones only for the reservation TTL.
HOLDING = frozenset({S.PENDING_PAYMENT, S.PAID, S.APPROVED, S.ALLOCATED, S.PICKING, S.PACKED})
# Gone out of the warehouse: what it held is deducted from on hand.
SHIPPED = frozenset({S.SHIPPED, S.DELIVERED, S.COMPLETED})
# Ended before shipping: what it held goes back to sale. (After shipping, returns restock through after-sales.)
ENDED = frozenset({S.CANCELLED, S.REFUNDED})


def demand(order_id: int, order_no: str, status: str, lines: Sequence[tuple[str, int]], *, at: datetime,
           ttl: timedelta) -> inventory.Demand:
    """What a new order in `status` asks of stock; an unpaid one only for `ttl`."""
    expires_at = at + ttl if status == S.PENDING_PAYMENT else None
    return inventory.Demand(order_id=order_id, reference=order_no, lines=lines, expires_at=expires_at)


def enter(session: Session, demands: Sequence[inventory.Demand], *, at: datetime, actor: Actor) -> None:
    """New orders in a holding status reserve their stock, a batch together; short ones hold nothing yet."""
    inventory.reserve_new(session, demands, at=at, actor=actor)


def enter_and_commit(uow: UnitOfWork, demand: inventory.Demand, *, at: datetime, actor: Actor) -> None:
    """One new order reserves as the last write of its transaction, which commits with it.

    The reservation leaves with the COMMIT where it can (`inventory.reserve_and_commit`), so a hot
    SKU is locked for no longer than that: what decides how many orders a flash sale takes per second.
    """
    inventory.reserve_and_commit(uow, demand, at=at, actor=actor)


def follow(session: Session, order: Order, previous: str, *, at: datetime, actor: Actor) -> None:
    """Bring the order's stock in line with the status it has just entered from `previous`.

    No transition leads into pending payment except back from on hold, which keeps what it held.
    """
    status = S(order.status)
    if status.value == previous or status is S.PENDING_PAYMENT:
        return
    if status in HOLDING and previous in HOLDING and previous != S.PENDING_PAYMENT:
        return  # paid and holding already (approved → allocated, un-approving): nothing changes
    if status in HOLDING:
        lines = [(line.sku, line.qty) for line in order.lines]
        inventory.hold(session, [inventory.Demand(order.id, order.order_no, lines)], at=at, actor=actor)
    elif status in SHIPPED and previous not in SHIPPED:
        inventory.consume_order(session, order_id=order.id, at=at, actor=actor)
    elif status in ENDED:
        reason = "订单取消，释放预占" if status is S.CANCELLED else "订单退款，释放预占"
        inventory.release_order(session, order_id=order.id, at=at, actor=actor, reason=reason)


def relines(session: Session, order: Order, *, at: datetime, actor: Actor) -> None:
    """The platform changed the order's lines: it gives back what it held and reserves the new lines."""
    status = S(order.status)
    if status in HOLDING:
        inventory.release_order(session, order_id=order.id, at=at, actor=actor, reason="平台修改商品明细，重新预占")
        lines = [(line.sku, line.qty) for line in order.lines]
        inventory.hold(session, [inventory.Demand(order.id, order.order_no, lines)], at=at, actor=actor)
