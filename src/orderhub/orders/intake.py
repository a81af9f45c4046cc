"""Taking platform orders in: one order per (channel, shop, platform order id), however often it arrives.

`accept_channel_drafts` runs inside the caller's transaction (channel ingestion composes it with
dead letters and health in one unit of work) and handles a whole batch at once: new orders are
inserted in bulk, orders already held are updated only when the platform's modified time moves
forward, and nothing a person cannot fix afterwards is stored (it comes back as `rejected`, for the
dead-letter store).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Column, Integer, MetaData, Table, column, delete, literal_column, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, object_session, selectinload
from sqlalchemy.schema import CreateTable

from orderhub.aftersales import service as aftersales
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.core.actor import Actor
from orderhub.core.db import (
    UnitOfWork,
    add_json_rows,
    add_rows,
    insert_json_rows,
    insert_new_rows,
    one_of,
    psycopg_connection,
    read_session,
)
from orderhub.core.ids import new_order_no, new_order_nos
from orderhub.core.money import fen_to_yuan
from orderhub.core.outbox import OutboxEvent, outbox_row
from orderhub.logistics import service as logistics
from orderhub.orders import repository, stock
from orderhub.orders.draft import OrderDraft
from orderhub.orders.errors import DuplicateOrder, OrderValidationFailed
from orderhub.orders.model import Order, OrderEvent, OrderLine
from orderhub.orders.service import OrderPolicy, error_detail
from orderhub.orders.status import OrderStatus
from orderhub.orders.validation import FieldError, RuleSet, classify_phone, validate_draft

S = OrderStatus
# How far along the forward flow a status is; a platform never moves an order back down this scale.
PROGRESS = {
    S.PENDING_PAYMENT: 0,
    S.PAID: 1,
    S.APPROVED: 2,
    S.ALLOCATED: 3,
    S.PICKING: 4,
    S.PACKED: 5,
    S.SHIPPED: 6,
    S.DELIVERED: 7,
    S.COMPLETED: 8,
}
# Platform facts we follow even past our own machine: it was paid, it left (shipped elsewhere or by
# the platform), it was signed for, it is finished.
FOLLOWED = frozenset({S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED})
DRIFT_WINDOW = timedelta(hours=2)
# Drawing again until every new order has a free number; on a day with millions of orders of one
# channel a few draws collide, and each round removes most of them. Past this, something is wrong.
ORDER_NO_ROUNDS = 100
# Up to this many new orders (a batch of pushes) go in one statement as one JSON document: one round
# trip where the staging table takes four; their lines, timeline and outbox rows in one more. For more,
# COPY (into the staging table for orders) costs PostgreSQL less.
FEW_ORDERS = 32


class IntakeResult(StrEnum):
    CREATED = "created"
    HELD = "held"  # created, on hold with its reasons
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"  # older than what we hold: ignored
    REJECTED = "rejected"  # nobody could fix it afterwards: for the dead-letter store


@dataclass
class Intake:
    draft: OrderDraft
    result: IntakeResult = IntakeResult.UNCHANGED
    order_no: str | None = None
    order_id: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True)
class ShopRef:
    id: int
    channel: str
    code: str
    cross_border: bool


def content_hash(draft: OrderDraft) -> str:
    """A fingerprint of what the platform said, to recognise an identical re-delivery."""
    receiver = draft.receiver
    facts = [
        draft.status,
        draft.channel_status,
        draft.paid_amount_fen,
        draft.shipping_fee_fen,
        draft.discount_fen,
        [receiver.name, receiver.phone, receiver.province, receiver.city, receiver.district, receiver.address],
        [[line.sku, line.platform_sku, line.qty, line.unit_price_fen, line.discount_fen] for line in draft.lines],
        draft.buyer_memo,
        draft.seller_memo,
    ]
    return hashlib.sha256(json.dumps(facts, ensure_ascii=False, default=str).encode()).hexdigest()


def _resolve_skus(session: Session, channel: str, drafts: Sequence[OrderDraft]) -> dict[int, list[FieldError]]:
    """Replace platform SKUs by merchant SKUs; an unknown one is a fixable defect of its order."""
    pairs = [(line.sku, line.platform_sku) for draft in drafts for line in draft.lines]
    resolved = catalog.resolve_platform_skus(session, channel, pairs)
    defects: dict[int, list[FieldError]] = {}
    for number, draft in enumerate(drafts):
        for index, line in enumerate(draft.lines):
            code = resolved.get((line.sku, line.platform_sku))
            if code is None:
                shown = line.sku or line.platform_sku
                defects.setdefault(number, []).append(
                    FieldError(
                        f"lines[{index}].sku",
                        "sku.unknown",
                        f"未知商品：{shown}（请在商品映射中关联）",
                        f"unknown SKU {shown!r} (map it in the catalog)",
                        True,
                    )
                )
            else:
                line.sku = code
    return defects


def check_drafts(drafts: Sequence[OrderDraft], rules: RuleSet, *, cross_border: bool) -> list[list[FieldError]]:
    """Normalise each draft in place and list its defects, as intake does; no database, so a caller
    may run it ahead on another thread and hand the result to `accept_channel_drafts`."""
    return [validate_draft(draft, rules, manual=False, cross_border=cross_border) for draft in drafts]


def accept_channel_drafts(
    session: Session,
    *,
    shop: ShopRef,
    drafts: Sequence[OrderDraft],
    policy: OrderPolicy,
    actor: Actor,
    at: datetime,
    defects: Sequence[list[FieldError]] | None = None,
) -> list[Intake]:
    """Create or update each platform order of one shop; one `Intake` per draft, in order.

    `defects` are `check_drafts(drafts, policy.rules, …)` when the caller has checked them already.
    """
    intakes = [Intake(draft) for draft in drafts]
    if defects is None:
        defects = check_drafts(drafts, policy.rules, cross_border=shop.cross_border)
    sku_defects = _resolve_skus(session, shop.channel, drafts)
    acceptable: list[Intake] = []
    for number, intake in enumerate(intakes):
        errors = defects[number] + sku_defects.get(number, [])
        fatal = [e for e in errors if not e.fixable]
        if fatal:
            intake.result = IntakeResult.REJECTED
            intake.errors = [error_detail(e) for e in fatal]
            intake.reason = "; ".join(e.message_zh for e in fatal)
            continue
        intake.reason = "; ".join(e.message_zh for e in errors)
        acceptable.append(intake)
    newest = _newest_per_order(acceptable)
    existing = _lock_existing(session, shop, list(newest))
    fresh = [intake for key, intake in newest.items() if key not in existing]
    taken = _insert_new(session, shop, fresh, policy, actor, at)
    for intake in fresh:
        if intake.draft.channel_order_id not in taken:
            # Someone else created it a moment ago: it is an update now.
            existing.update(_lock_existing(session, shop, [intake.draft.channel_order_id]))
    for key, intake in newest.items():
        if key in existing:
            _apply_update(session, existing[key], intake, actor, at)
    # Orders that arrive already shipped: their waybills and parcels, so the carrier's tracking links up.
    shipped = {i.order_no: i for i in intakes if i.order_no and i.draft.waybills}
    logistics.record_shipped_orders(
        session,
        drafts={order_no: i.draft for order_no, i in shipped.items()},
        stale={order_no for order_no, i in shipped.items() if i.result is IntakeResult.STALE},
        order_ids={order_no: i.order_id for order_no, i in shipped.items() if i.order_id is not None},
        created={order_no for order_no, i in shipped.items() if i.result in (IntakeResult.CREATED, IntakeResult.HELD)},
        actor=actor,
        at=at,
    )
    return intakes


def refresh_statistics(session: Session) -> None:
    """Update PostgreSQL's planner statistics of the order tables during a bulk load.

    Until autovacuum catches up, the planner plans a batch's queries of the order tables (the orders
    an import updates, and their lines) with an empty table's estimates. Platform ids are matched by
    index probes whatever the statistics (`_order_ids`).
    """
    if session.get_bind().dialect.name == "postgresql":
        for table in (Order.__table__, OrderLine.__table__):
            session.execute(text(f"ANALYZE {table.name}"))


def _newest_per_order(intakes: Sequence[Intake]) -> dict[str, Intake]:
    """Within one batch the same order may come twice: only its newest version is applied."""
    newest: dict[str, Intake] = {}
    for intake in intakes:
        key = intake.draft.channel_order_id
        held = newest.get(key)
        if held is None or _modified(intake.draft) >= _modified(held.draft):
            if held is not None:
                held.result = IntakeResult.STALE
            newest[key] = intake
        else:
            intake.result = IntakeResult.STALE
    return newest


def _modified(draft: OrderDraft) -> datetime:
    assert draft.platform_modified_at is not None, "the mapping requires platform_modified_at"
    return draft.platform_modified_at


def _lock_existing(session: Session, shop: ShopRef, keys: list[str]) -> dict[str, Order]:
    """The shop's orders among `keys`, locked for update, with their lines.

    The rows are locked by a plain query first: a batch of new orders (most pushes and imports)
    finds none and skips loading objects, which costs several times as much.
    """
    locked = _order_ids(session, shop, keys, lock=True)
    if not locked:
        return {}
    query = select(Order).where(one_of(session, Order.id, list(locked.values()))).options(selectinload(Order.lines))
    return {order.channel_order_id: order for order in session.scalars(query)}


# PostgreSQL: each platform id probes the shop's unique key on its own. As `channel_order_id = ANY(…)`
# the planner, whose statistics lag behind a fast-growing table (a new shop, autovacuum not yet
# round), read every order of the shop for each batch instead: a push took longer the more orders
# the shop had. For the same reason the statement is planned for each batch, never kept prepared: a
# plan cached while the table was nearly empty scans it whole, for every id, once it has grown
# (measured: over half of a push batch's time at 10,000 orders). The ids are sorted, so concurrent
# batches lock shared orders in the same order.
_HELD_BY_PLATFORM_ID = (
    "SELECT o.channel_order_id, o.id FROM unnest(CAST(%(keys)s AS varchar[])) AS k(key) CROSS JOIN LATERAL "
    "(SELECT channel_order_id, id FROM sales_order WHERE channel = %(channel)s AND shop_id = %(shop_id)s "
    "AND channel_order_id = k.key LIMIT 1{lock}) AS o"
)
_HELD = _HELD_BY_PLATFORM_ID.format(lock="")
_LOCK_HELD = _HELD_BY_PLATFORM_ID.format(lock=" FOR UPDATE")


def _order_ids(session: Session, shop: ShopRef, keys: Sequence[str], *, lock: bool) -> dict[str, int]:
    """`{platform order id: order id}` of the shop's orders among `keys`; locked for update with `lock`."""
    if not keys:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        params = {"keys": sorted(set(keys)), "channel": shop.channel, "shop_id": shop.id}
        rows = psycopg_connection(session).execute(_LOCK_HELD if lock else _HELD, params, prepare=False)
        return {key: order_id for key, order_id in rows}
    orders = Order.__table__
    query = select(orders.c.channel_order_id, orders.c.id).where(
        orders.c.channel == shop.channel, orders.c.shop_id == shop.id, orders.c.channel_order_id.in_(keys))
    return {key: order_id for key, order_id in session.execute(query.with_for_update() if lock else query)}


def _initial_status(intake: Intake) -> tuple[OrderStatus, OrderStatus | None, str]:
    """(status, held_from, hold reason) of a new order: defects or a platform block put it on hold."""
    draft = intake.draft
    mapped = OrderStatus(draft.status)
    if mapped is OrderStatus.ON_HOLD:
        reason = f"平台状态 {draft.channel_status}：暂停发货"
        return OrderStatus.ON_HOLD, OrderStatus.PAID, "; ".join(filter(None, [reason, intake.reason]))
    if intake.reason and mapped not in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        return OrderStatus.ON_HOLD, mapped, intake.reason
    return mapped, None, ""


def _insert_new(
    session: Session, shop: ShopRef, intakes: list[Intake], policy: OrderPolicy, actor: Actor, at: datetime
) -> set[str]:
    """Bulk-insert new orders; returns the platform ids actually inserted (others existed already)."""
    if not intakes:
        return set()
    day = at.astimezone(policy.timezone)
    numbers = new_order_nos(shop.channel, day, len(intakes))
    pending = [order_row(shop, intake, policy, at, order_no=number)
               for intake, number in zip(intakes, numbers, strict=True)]
    inserted: dict[str, tuple[int, str]] = {}
    for _ in range(ORDER_NO_ROUNDS):
        landed = _insert_orders(session, pending)
        for row in pending:
            if row["channel_order_id"] in landed:
                inserted[row["channel_order_id"]] = (landed[row["channel_order_id"]], row["order_no"])
        missing = [row for row in pending if row["channel_order_id"] not in inserted]
        if not missing:
            break
        # Not inserted: the order exists already (a concurrent delivery) or its drawn number collided.
        # Only the latter are tried again, each with a new number.
        present = _order_ids(session, shop, [row["channel_order_id"] for row in missing], lock=False)
        pending = [row for row in missing if row["channel_order_id"] not in present]
        if not pending:
            break
        for row, number in zip(pending, new_order_nos(shop.channel, day, len(pending)), strict=True):
            row["order_no"] = number
    else:
        raise DuplicateOrder(f"no free order number for {len(pending)} new order(s) of {shop.channel} today "
                             "/ 订单号已用尽，请稍后重试")
    line_rows, event_rows, outbox_rows = [], [], []
    demands = []
    for intake in intakes:
        key = intake.draft.channel_order_id
        if key not in inserted:
            continue
        order_id, order_no = inserted[key]
        status, held_from, hold_reason = _initial_status(intake)
        intake.order_no, intake.order_id = order_no, order_id
        intake.result = IntakeResult.HELD if status is OrderStatus.ON_HOLD else IntakeResult.CREATED
        line_rows += [
            {
                "order_id": order_id,
                "line_no": number,
                "sku": line.sku,
                "platform_sku": line.platform_sku,
                "title": line.title,
                "spec": line.spec,
                "qty": line.qty,
                "unit_price_fen": line.unit_price_fen,
                "discount_fen": line.discount_fen,
            }
            for number, line in enumerate(intake.draft.lines, start=1)
        ]
        created_status = held_from or status
        if created_status in stock.HOLDING:
            lines = [(line.sku, line.qty) for line in intake.draft.lines]
            demands.append(stock.demand(order_id, order_no, created_status, lines, at=at, ttl=policy.reservation_ttl))
        event_rows.append(_event_row(order_id, "created", at, actor, None, created_status, intake.draft.channel_status))
        outbox_rows.append(
            outbox_row(
                "order.created",
                order_no,
                at,
                {
                    "order_no": order_no,
                    "channel": shop.channel,
                    "shop": shop.code,
                    "channel_order_id": key,
                    "status": created_status.value,
                    "paid_amount": fen_to_yuan(intake.draft.paid_amount_fen),
                },
            )
        )
        if status is OrderStatus.ON_HOLD:
            event_rows.append(_event_row(order_id, "transition", at, actor, created_status, status, hold_reason))
            outbox_rows.append(outbox_row("order.held", order_no, at, {"order_no": order_no, "reason": hold_reason}))
    added = ((OrderLine.__table__, line_rows), (OrderEvent.__table__, event_rows), (OutboxEvent.__table__, outbox_rows))
    if len(inserted) <= FEW_ORDERS:
        add_json_rows(session, added)
    else:
        for table, rows in added:
            add_rows(session, table, rows)
    stock.enter(session, demands, at=at, actor=actor)
    return set(inserted)


# New orders on their way into `sales_order` (PostgreSQL): a temporary table of the same columns,
# private to each connection and emptied at every commit. Its own metadata: no migration creates it.
_STAGED_ORDERS = Table(
    "incoming_sales_order",
    MetaData(),
    Column("arrival", Integer),
    *(Column(column.name, column.type) for column in Order.__table__.columns if column.name != "id"),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)


def _insert_orders(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert new `sales_order` rows, skipping any that hit a unique key (the order arrived meanwhile,
    or its drawn number is taken); `{channel_order_id: id}` of those inserted.

    On PostgreSQL the rows go by COPY into a temporary table and one `INSERT … SELECT … ON CONFLICT
    DO NOTHING RETURNING` moves them, in arrival order: COPY adapts a row in C, where an executemany
    INSERT spends several times as long per row in Python (the import's largest single cost). A few
    rows (`FEW_ORDERS`) go as one JSON document in a single statement instead (`insert_json_rows`).
    """
    orders = Order.__table__
    if session.get_bind().dialect.name != "postgresql":
        return insert_new_rows(session, orders, rows, key="channel_order_id")
    if len(rows) <= FEW_ORDERS:
        landed = insert_json_rows(session, orders, rows, returning=("id", "channel_order_id"))
        return {channel_order_id: order_id for order_id, channel_order_id in landed}
    stage, move = _staging_sql(tuple(rows[0]))
    connection = session.connection()
    connection.exec_driver_sql(stage)
    add_rows(session, _STAGED_ORDERS, [{"arrival": number, **row} for number, row in enumerate(rows)])
    return {channel_order_id: order_id for order_id, channel_order_id in connection.exec_driver_sql(move)}


@cache
def _staging_sql(columns: tuple[str, ...]) -> tuple[str, str]:
    """(create the staging table if this connection has none, move its rows into `sales_order`), compiled once."""
    orders = Order.__table__
    dialect = postgresql.dialect()
    # Unqualified names and `RETURNING *` keep the text short enough for psycopg to cache its parsing.
    staged = delete(_STAGED_ORDERS).returning(literal_column("*")).cte("staged")
    rows = select(*(column(name) for name in columns)).select_from(staged).order_by(column("arrival"))
    move = (
        postgresql.insert(orders)
        .from_select(columns, rows, include_defaults=False)
        .on_conflict_do_nothing()
        .returning(orders.c.id, orders.c.channel_order_id)
        .add_cte(staged, nest_here=True)
    )
    stage = CreateTable(_STAGED_ORDERS, if_not_exists=True)
    return str(stage.compile(dialect=dialect)), str(move.compile(dialect=dialect))


def order_row(shop: ShopRef, intake: Intake, policy: OrderPolicy, at: datetime, *,
              order_no: str | None = None) -> dict[str, Any]:
    """The `sales_order` row of a new channel order (also the import benchmark's raw baseline rows),
    numbered `order_no` or a number drawn for it."""
    draft = intake.draft
    receiver = draft.receiver
    status, held_from, hold_reason = _initial_status(intake)
    return {
        "order_no": order_no or new_order_no(shop.channel, at.astimezone(policy.timezone)),
        "channel": shop.channel,
        "shop_id": shop.id,
        "channel_order_id": draft.channel_order_id,
        "status": status.value,
        "channel_status": draft.channel_status,
        "hold_reason": hold_reason or None,
        "held_from": held_from.value if held_from else None,
        "refund_from": None,
        "source_type": draft.source_type,
        "customer_id": None,
        "customer_name": draft.customer_name or receiver.name,
        "customer_phone": draft.customer_phone or receiver.phone,
        "receiver_name": receiver.name,
        "receiver_phone": receiver.phone,
        "receiver_phone_kind": receiver.phone_kind,
        "receiver_province": receiver.province,
        "receiver_city": receiver.city,
        "receiver_district": receiver.district,
        "receiver_address": receiver.address,
        "receiver_adcode": receiver.adcode,
        "id_card": draft.id_card,
        "goods_amount_fen": draft.goods_amount_fen,
        "shipping_fee_fen": draft.shipping_fee_fen,
        "discount_fen": draft.discount_fen,
        "paid_amount_fen": draft.paid_amount_fen,
        "currency": draft.currency,
        "payment_method": draft.payment_method,
        "paid_at": draft.paid_at,
        "invoice_type": draft.invoice_type,
        "invoice_title": draft.invoice_title,
        "invoice_tax_id": draft.invoice_tax_id,
        "buyer_memo": draft.buyer_memo,
        "seller_memo": draft.seller_memo,
        "raw_payload": orjson.Fragment(draft.raw_json) if draft.raw_json else draft.raw_payload,
        "platform_modified_at": draft.platform_modified_at,
        "content_hash": content_hash(draft),
        "pii_pending_decryption": bool(draft.extra.get("pii_encrypted")),
        "approval_requested_by": None,
        "approval_requested_at": None,
        "created_at": at,
        "updated_at": at,
        "version": 1,
    }


def _event_row(
    order_id: int,
    kind: str,
    at: datetime,
    actor: Actor,
    from_status: OrderStatus | None,
    to_status: OrderStatus | None,
    reason: str,
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "kind": kind,
        "at": at,
        "actor": actor.name,
        "source": actor.source,
        "from_status": from_status.value if from_status else None,
        "to_status": to_status.value if to_status else None,
        "reason": reason[:500],
    }


# ---------------------------------------------------------------------------------------------
# Updates of orders we already hold
# ---------------------------------------------------------------------------------------------


def _apply_update(session: Session, order: Order, intake: Intake, actor: Actor, at: datetime) -> None:
    draft = intake.draft
    intake.order_no, intake.order_id = order.order_no, order.id
    held_at = order.platform_modified_at
    if held_at is not None and _modified(draft) < held_at:
        intake.result = IntakeResult.STALE
        return
    fingerprint = content_hash(draft)
    if fingerprint == order.content_hash:
        order.platform_modified_at = max(held_at or _modified(draft), _modified(draft))
        intake.result = IntakeResult.UNCHANGED
        return
    events: list[tuple[OrderEvent, str]] = []
    previous = order.status
    events += _follow_status(session, order, draft, actor, at)
    lines_before = [(line.sku, line.qty) for line in order.lines]
    amended = _amend(order, draft)
    if [(line.sku, line.qty) for line in order.lines] != lines_before:
        stock.relines(session, order, at=at, actor=actor)
    stock.follow(session, order, previous, at=at, actor=actor)
    if amended:
        events.append(
            (
                OrderEvent(
                    kind="amended",
                    at=at,
                    actor=actor.name,
                    source=actor.source,
                    from_status=order.status,
                    to_status=order.status,
                    reason=amended[:500],
                ),
                "order.amended",
            )
        )
    order.channel_status = draft.channel_status
    order.platform_modified_at = _modified(draft)
    order.raw_payload = draft.raw_payload
    order.content_hash = fingerprint
    order.updated_at = at
    # A platform refund opens or updates the order's after-sales case, in this transaction.
    aftersales.follow_channel_refund(session, order, actor=actor, at=at)
    for event, topic in events:
        order.events.add(event)
        session.add(
            OutboxEvent(
                topic=topic,
                key=order.order_no,
                created_at=at,
                payload={
                    "order_no": order.order_no,
                    "kind": event.kind,
                    "from": event.from_status,
                    "to": event.to_status,
                    "reason": event.reason,
                },
            )
        )
    intake.result = IntakeResult.UPDATED


def _follow_status(
    session: Session, order: Order, draft: OrderDraft, actor: Actor, at: datetime
) -> list[tuple[OrderEvent, str]]:
    """Apply the platform's status: follow its facts forward, never move the order backwards."""
    target = OrderStatus(draft.status)
    current = OrderStatus(order.status)
    reason = f"平台状态 {draft.channel_status}"
    events: list[tuple[OrderEvent, str]] = []
    if target is current:
        return events
    if current is S.CANCELLED and target is S.PAID:
        cancelled_at = _last_arrival(session, order.id, S.CANCELLED)
        if cancelled_at is not None and at - cancelled_at <= DRIFT_WINDOW:
            events.append(
                (
                    OrderEvent(
                        kind="status_drift",
                        at=at,
                        actor=actor.name,
                        source=actor.source,
                        from_status=current.value,
                        to_status=target.value,
                        reason=f"付款→取消→付款 2 小时内反复：{reason}",
                    ),
                    "channel.status_drift",
                )
            )
        events.append((_force(order, target, reason, actor, at), "order.status_changed"))
        return events
    if current in (S.CANCELLED, S.REFUNDED):
        return events
    if target in (S.CANCELLED, S.REFUNDING, S.REFUNDED, S.ON_HOLD):
        if target in order.allowed_targets():
            label = f"{reason}：平台暂停发货" if target is S.ON_HOLD else reason
            events.append((order.transition_to(target, reason=label, by=actor, at=at), "order.status_changed"))
        elif target is S.REFUNDED:
            # Money given back on the platform is a fact, whatever held the order here (e.g. after-sales).
            events.append((_force(order, target, reason, actor, at), "order.status_changed"))
        elif current is not S.ON_HOLD:
            # The platform cancelled an order already in the warehouse: stop it and tell a person.
            note = f"{reason}，但订单已在{current.value}：请拦截"
            events.append((order.transition_to(S.ON_HOLD, reason=note, by=actor, at=at), "order.held"))
        return events
    if target in FOLLOWED:
        if current is S.ON_HOLD:
            held_from = OrderStatus(order.held_from or S.PAID)
            if PROGRESS.get(target, 0) > PROGRESS.get(held_from, 0):
                order.held_from = target.value
        elif PROGRESS.get(target, 0) > PROGRESS.get(current, 0):
            events.append((_force(order, target, reason, actor, at), "order.status_changed"))
    return events


def _force(order: Order, target: OrderStatus, reason: str, actor: Actor, at: datetime) -> OrderEvent:
    """The platform's word on a fact outside our machine (shipped by the platform, paid again)."""
    event = OrderEvent(
        kind="channel_update",
        at=at,
        actor=actor.name,
        source=actor.source,
        from_status=order.status,
        to_status=target.value,
        reason=reason,
    )
    order.status = target.value
    order.held_from = order.hold_reason = None
    return event


def _last_arrival(session: Session, order_id: int, status: OrderStatus) -> datetime | None:
    return session.scalar(
        select(OrderEvent.at)
        .where(OrderEvent.order_id == order_id, OrderEvent.to_status == status.value)
        .order_by(OrderEvent.id.desc())
        .limit(1)
    )


def _masked(value: str) -> bool:
    return "*" in value or value.startswith("#") or classify_phone(value)[0] == "masked"


def _amend(order: Order, draft: OrderDraft) -> str:
    """Take the platform's new amounts, lines and contact data; say what changed ("" if nothing)."""
    changes: list[str] = []
    amounts = [
        ("paid_amount_fen", draft.paid_amount_fen, "实付"),
        ("shipping_fee_fen", draft.shipping_fee_fen, "运费"),
        ("discount_fen", draft.discount_fen, "优惠"),
        ("goods_amount_fen", draft.goods_amount_fen, "商品金额"),
    ]
    for attribute, new, label in amounts:
        old = getattr(order, attribute)
        if old != new:
            changes.append(f"{label} {fen_to_yuan(old)}→{fen_to_yuan(new)}")
            setattr(order, attribute, new)
    new_lines = [
        (line.sku, line.platform_sku, line.qty, line.unit_price_fen, line.discount_fen) for line in draft.lines
    ]
    old_lines = [
        (line.sku, line.platform_sku, line.qty, line.unit_price_fen, line.discount_fen) for line in order.lines
    ]
    if new_lines != old_lines:
        changes.append(f"商品明细 {len(old_lines)}→{len(new_lines)} 行")
        order.lines.clear()
        # Delete the old rows before inserting the new ones: (order, line_no) is unique.
        session = object_session(order)
        assert session is not None
        session.flush()
        order.lines.extend(
            OrderLine(
                line_no=number,
                sku=line.sku,
                platform_sku=line.platform_sku,
                title=line.title,
                spec=line.spec,
                qty=line.qty,
                unit_price_fen=line.unit_price_fen,
                discount_fen=line.discount_fen,
            )
            for number, line in enumerate(draft.lines, start=1)
        )
    receiver = draft.receiver
    contact = [
        ("receiver_name", receiver.name, "收件人"),
        ("receiver_phone", receiver.phone, "电话"),
        ("receiver_address", receiver.address, "地址"),
    ]
    for attribute, new, label in contact:
        old = getattr(order, attribute)
        # Masked or encrypted values never overwrite plaintext we already hold (PDD after shipping).
        if new and new != old and not (_masked(new) and old and not _masked(old)):
            changes.append(f"{label}已更新")
            setattr(order, attribute, new)
            if attribute == "receiver_phone":
                order.receiver_phone_kind = receiver.phone_kind
    for attribute, new in [
        ("receiver_province", receiver.province),
        ("receiver_city", receiver.city),
        ("receiver_district", receiver.district),
        ("receiver_adcode", receiver.adcode),
    ]:
        if new and getattr(order, attribute) != new:
            setattr(order, attribute, new)
    if order.pii_pending_decryption and not draft.extra.get("pii_encrypted"):
        order.pii_pending_decryption = False
    for attribute, new in [("buyer_memo", draft.buyer_memo), ("seller_memo", draft.seller_memo)]:
        if new != getattr(order, attribute):
            setattr(order, attribute, new)
    return "平台修改：" + "；".join(changes) if changes else ""


def accept_channel_order(uow: UnitOfWork, *, draft: OrderDraft, actor: Actor, policy: OrderPolicy) -> Order:
    """One platform order in its own transaction (demo, tests, single pushes): created, updated or held.

    Defects nobody can fix afterwards (no lines, nonsense quantities) raise `OrderValidationFailed`,
    which ingestion turns into a dead letter.
    """
    with uow:
        found = channels.get_shop(uow.session, channel=draft.channel, code=draft.shop)
        shop = ShopRef(found.id, found.channel, found.code, found.cross_border)
        (intake,) = accept_channel_drafts(
            uow.session, shop=shop, drafts=[draft], policy=policy, actor=actor, at=uow.now()
        )
        if intake.result is IntakeResult.REJECTED:
            raise OrderValidationFailed(intake.errors)
        uow.commit()
    with read_session(uow.session_factory) as session:
        assert intake.order_no is not None
        return repository.get(session, intake.order_no)
