"""Named queries over orders."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, union
from sqlalchemy.orm import Session, selectinload

from orderhub.core.db import one_of
from orderhub.core.pagination import Page, decode_cursor, encode_cursor
from orderhub.orders.errors import OrderNotFound
from orderhub.orders.model import Order, OrderEvent
from orderhub.orders.status import OrderStatus


@dataclass(frozen=True)
class OrderFilters:
    status: OrderStatus | None = None
    channel: str | None = None
    shop_ids: Sequence[int] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None


def get(session: Session, order_no: str, *, with_lines: bool = True) -> Order:
    query = select(Order).where(Order.order_no == order_no)
    if with_lines:
        query = query.options(selectinload(Order.lines))
    order = session.scalar(query)
    if order is None:
        raise OrderNotFound(order_no)
    return order


def by_reference(session: Session, reference: str, *, limit: int) -> list[Order]:
    """Orders whose own number or platform number is `reference`, with their lines, oldest first."""
    ids = union(select(Order.id).where(Order.order_no == reference),
                select(Order.id).where(Order.channel_order_id == reference)).subquery()
    query = (select(Order).where(Order.id.in_(select(ids.c.id))).options(selectinload(Order.lines))
             .order_by(Order.id).limit(limit))
    return list(session.scalars(query))


def order_no_taken(session: Session, order_no: str) -> bool:
    return session.scalar(select(Order.id).where(Order.order_no == order_no)) is not None


def find_by_channel_id(session: Session, *, channel: str, shop_id: int, channel_order_id: str) -> Order | None:
    return session.scalar(
        select(Order).where(
            Order.channel == channel, Order.shop_id == shop_id, Order.channel_order_id == channel_order_id
        )
    )


def _conditions(filters: OrderFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.status is not None:
        conditions.append(Order.status == filters.status.value)
    if filters.channel is not None:
        conditions.append(Order.channel == filters.channel)
    if filters.shop_ids is not None:
        conditions.append(Order.shop_id.in_(filters.shop_ids))
    if filters.created_from is not None:
        conditions.append(Order.created_at >= filters.created_from)
    if filters.created_to is not None:
        conditions.append(Order.created_at < filters.created_to)
    if filters.q:
        # Each exact match on its own index, then a union of ids: an OR across columns would make
        # SQLite scan the whole table in created order.
        q = filters.q.strip()
        matching = union(*(select(Order.id).where(column == q) for column in
                           (Order.order_no, Order.channel_order_id, Order.receiver_phone, Order.receiver_name)))
        conditions.append(Order.id.in_(matching))
    return conditions


def list_page(session: Session, filters: OrderFilters, *, limit: int, cursor: str | None) -> Page[Order]:
    """Newest first; the cursor carries (created_at, id) of the last row returned."""
    conditions = _conditions(filters)
    if cursor:
        at, row_id = decode_cursor(cursor)
        conditions.append(or_(Order.created_at < at, and_(Order.created_at == at, Order.id < row_id)))
    rows = list(
        session.scalars(
            select(Order)
            .where(*conditions)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit + 1)
            .options(selectinload(Order.lines))
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)


def status_counts(session: Session, filters: OrderFilters) -> dict[str, int]:
    """Counts per status for the filters other than status itself (the console's status tabs)."""
    without_status = OrderFilters(
        channel=filters.channel,
        shop_ids=filters.shop_ids,
        created_from=filters.created_from,
        created_to=filters.created_to,
        q=filters.q,
    )
    rows = session.execute(
        select(Order.status, func.count()).where(*_conditions(without_status)).group_by(Order.status)
    )
    return {status: count for status, count in rows}


def timeline(session: Session, order_id: int) -> list[OrderEvent]:
    return list(session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)))


def statuses_of(session: Session, order_ids: Collection[int]) -> dict[int, str]:
    """The status of each of these orders, by id (ids of no order are absent)."""
    if not order_ids:
        return {}
    return dict(session.execute(select(Order.id, Order.status).where(one_of(session, Order.id, list(order_ids)))).all())


def ids_of(session: Session, order_nos: Collection[str]) -> dict[str, int]:
    """The id of each of these orders, by order number (numbers of no order are absent)."""
    if not order_nos:
        return {}
    query = select(Order.order_no, Order.id).where(one_of(session, Order.order_no, list(order_nos)))
    return dict(session.execute(query).all())
