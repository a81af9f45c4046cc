"""Order use cases: create (manual or from a channel), move through the status machine, read."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from orderhub.auth.permissions import Permission
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.errors import ShopNotFound
from orderhub.channels.model import Shop
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, add_rows, update_rows
from orderhub.core.errors import StaleVersion
from orderhub.core.ids import new_order_no
from orderhub.core.money import fen_to_yuan
from orderhub.core.outbox import OutboxEvent, add_event, outbox_row
from orderhub.core.pagination import Page
from orderhub.inventory.service import Demand
from orderhub.orders import repository, stock
from orderhub.orders.draft import OrderDraft
from orderhub.orders.errors import DuplicateOrder, OrderValidationFailed
from orderhub.orders.model import Order, OrderEvent, OrderLine
from orderhub.orders.repository import OrderFilters
from orderhub.orders.status import OrderStatus
from orderhub.orders.validation import FieldError, RuleSet, validate_draft

ORDER_NO_ATTEMPTS = 5


@dataclass(frozen=True)
class OrderPolicy:
    """The merchant's rules that services apply: validation rules, the approval threshold, stock holds."""

    rules: RuleSet
    approval_threshold_fen: int
    timezone: Any  # zoneinfo.ZoneInfo: order numbers carry the business day, not the UTC day
    # How long an unpaid order holds its stock before the worker releases it.
    reservation_ttl: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class TransitionResult:
    order: Order
    # True when the move to `approved` was recorded as a request awaiting a supervisor.
    approval_pending: bool = False


def error_detail(error: FieldError) -> dict[str, Any]:
    return {
        "field": error.field,
        "rule": error.rule,
        "message": error.message_zh,
        "messages": {"zh-CN": error.message_zh, "en": error.message_en},
        "fixable": error.fixable,
    }


def check_manual_draft(session: Session, draft: OrderDraft, policy: OrderPolicy) -> list[FieldError]:
    """Every defect of a manual order at once: the rules file's checks plus shop and SKUs known."""
    return _check_manual(session, draft, policy)[0]


def _check_manual(session: Session, draft: OrderDraft, policy: OrderPolicy) -> tuple[list[FieldError], Shop | None]:
    errors: list[FieldError] = []
    shop: Shop | None = None
    try:
        shop = channels.get_shop(session, channel=draft.channel, code=draft.shop)
    except ShopNotFound:
        errors.append(
            FieldError(
                "shop",
                "shop.not_found",
                f"渠道 {draft.channel} 下没有店铺 {draft.shop}",
                f"no shop {draft.shop!r} on channel {draft.channel!r}",
                False,
            )
        )
    cross_border = shop is not None and shop.cross_border
    errors.extend(validate_draft(draft, policy.rules, manual=True, cross_border=cross_border))
    known = catalog.skus_by_code(session, (line.sku for line in draft.lines))
    for index, line in enumerate(draft.lines):
        sku = known.get(line.sku)
        if line.sku and sku is None:
            errors.append(
                FieldError(
                    f"lines[{index}].sku",
                    "sku.unknown",
                    f"商品编码 {line.sku} 不存在",
                    f"unknown SKU {line.sku!r}",
                    False,
                )
            )
        elif sku is not None:
            line.title = line.title or sku.title
            line.spec = line.spec or sku.spec
    return errors, shop


def _new_order_no(session: Session, draft: OrderDraft, policy: OrderPolicy, at: Any) -> str:
    for _ in range(ORDER_NO_ATTEMPTS):
        candidate = new_order_no(draft.channel, at.astimezone(policy.timezone))
        if not repository.order_no_taken(session, candidate):
            return candidate
    raise DuplicateOrder("could not draw a free order number / 订单号生成冲突，请重试")


def _build_order(
    session: Session, draft: OrderDraft, *, shop_id: int, order_no: str, status: OrderStatus, at: Any
) -> Order:
    receiver = draft.receiver
    order = Order(
        order_no=order_no,
        channel=draft.channel,
        shop_id=shop_id,
        channel_order_id=draft.channel_order_id or order_no,
        status=status.value,
        channel_status=draft.channel_status,
        source_type=draft.source_type,
        customer_name=draft.customer_name or receiver.name,
        customer_phone=draft.customer_phone or receiver.phone,
        receiver_name=receiver.name,
        receiver_phone=receiver.phone,
        receiver_phone_kind=receiver.phone_kind,
        receiver_province=receiver.province,
        receiver_city=receiver.city,
        receiver_district=receiver.district,
        receiver_address=receiver.address,
        receiver_adcode=receiver.adcode,
        id_card=draft.id_card,
        goods_amount_fen=draft.goods_amount_fen,
        shipping_fee_fen=draft.shipping_fee_fen,
        discount_fen=draft.discount_fen,
        paid_amount_fen=draft.paid_amount_fen,
        currency=draft.currency,
        payment_method=draft.payment_method,
        paid_at=draft.paid_at,
        invoice_type=draft.invoice_type,
        invoice_title=draft.invoice_title,
        invoice_tax_id=draft.invoice_tax_id,
        buyer_memo=draft.buyer_memo,
        seller_memo=draft.seller_memo,
        raw_payload=draft.raw_payload,
        platform_modified_at=draft.platform_modified_at,
        created_at=at,
        updated_at=at,
        lines=[
            OrderLine(
                line_no=index + 1,
                sku=line.sku,
                platform_sku=line.platform_sku,
                title=line.title,
                spec=line.spec,
                qty=line.qty,
                unit_price_fen=line.unit_price_fen,
                discount_fen=line.discount_fen,
            )
            for index, line in enumerate(draft.lines)
        ],
    )
    session.add(order)
    return order


def _record(
    session: Session, order: Order, event: OrderEvent, *, topic: str, extra: dict[str, Any] | None = None
) -> None:
    """Append the timeline row and the outbox event of one change, in the caller's transaction."""
    order.events.add(event)
    add_event(session, topic=topic, key=order.order_no, payload=_change_payload(order, event, extra), at=event.at)


def _change_payload(order: Order, event: OrderEvent, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "order_no": order.order_no,
        "from": event.from_status,
        "to": event.to_status,
        "reason": event.reason,
        "actor": event.actor,
        "source": event.source,
        **(extra or {}),
    }


def timeline_row(order_id: int, event: OrderEvent) -> dict[str, Any]:
    """A timeline entry as a row for bulk writers (`core.db.add_rows`)."""
    return {"order_id": order_id, "kind": event.kind, "at": event.at, "actor": event.actor, "source": event.source,
            "from_status": event.from_status, "to_status": event.to_status, "reason": event.reason[:500]}


def create_manual_order(uow: UnitOfWork, *, draft: OrderDraft, actor: Actor, policy: OrderPolicy) -> Order:
    """Staff-entered order: refused with every field error at once (422) unless it is clean.

    Its reservation is the transaction's last write and goes with the commit (`stock.enter_and_commit`).
    """
    with uow:
        at = uow.now()
        order, demand = _add_manual_order(uow.session, draft=draft, actor=actor, policy=policy, at=at)
        stock.enter_and_commit(uow, demand, at=at, actor=actor)
        return order


def add_manual_order(session: Session, *, draft: OrderDraft, actor: Actor, policy: OrderPolicy,
                     at: datetime) -> Order:
    """`create_manual_order` inside the caller's transaction (after-sales adds a replacement order to its own)."""
    order, demand = _add_manual_order(session, draft=draft, actor=actor, policy=policy, at=at)
    stock.enter(session, [demand], at=at, actor=actor)
    return order


def _add_manual_order(session: Session, *, draft: OrderDraft, actor: Actor, policy: OrderPolicy,
                      at: datetime) -> tuple[Order, Demand]:
    """The checked order, written, and what it asks of stock (not reserved yet)."""
    errors, shop = _check_manual(session, draft, policy)
    if errors or shop is None:
        raise OrderValidationFailed([error_detail(e) for e in errors])
    status = OrderStatus.PAID if draft.paid_at is not None else OrderStatus.PENDING_PAYMENT
    order = _build_order(
        session, draft, shop_id=shop.id, order_no=_new_order_no(session, draft, policy, at), status=status, at=at
    )
    _record(
        session,
        order,
        OrderEvent(
            kind="created",
            at=at,
            actor=actor.name,
            source=actor.source,
            to_status=status.value,
            reason=draft.source_type,
        ),
        topic="order.created",
        extra={"paid_amount": fen_to_yuan(order.paid_amount_fen)},
    )
    session.flush()
    lines = [(line.sku, line.qty) for line in order.lines]
    return order, stock.demand(order.id, order.order_no, status, lines, at=at, ttl=policy.reservation_ttl)


def transition_order(
    uow: UnitOfWork,
    *,
    order_no: str,
    target: OrderStatus,
    reason: str,
    actor: Actor,
    policy: OrderPolicy,
    expected_version: int | None = None,
) -> TransitionResult:
    with uow:
        session = uow.session
        order = repository.get(session, order_no)
        if expected_version is not None and order.version != expected_version:
            raise StaleVersion(
                f"order {order_no} changed since version {expected_version} (now {order.version}) "
                f"/ 订单已被他人修改，请刷新"
            )
        at = uow.now()
        needs_supervisor = (
            target is OrderStatus.APPROVED
            and order.status == OrderStatus.PAID
            and order.paid_amount_fen > policy.approval_threshold_fen
            and not actor.can(Permission.ORDERS_APPROVE_LARGE)
        )
        if needs_supervisor:
            # The first of two confirmations: recorded, and the order waits for a supervisor.
            order.approval_requested_by = actor.name
            order.approval_requested_at = at
            order.updated_at = at
            event = OrderEvent(
                kind="approval_requested",
                at=at,
                actor=actor.name,
                source=actor.source,
                from_status=order.status,
                to_status=order.status,
                reason=reason,
            )
            _record(session, order, event, topic="order.approval_requested")
        else:
            previous = order.status
            event = order.transition_to(target, reason=reason, by=actor, at=at)
            _record(session, order, event, topic="order.status_changed")
            stock.follow(session, order, previous, at=at, actor=actor)
        try:
            uow.commit()
        except StaleDataError:
            raise StaleVersion(
                f"order {order_no} was changed by someone else at the same time / 订单正被他人修改，请重试"
            ) from None
        return TransitionResult(order=order, approval_pending=needs_supervisor)


def apply_transition(
    session: Session, order: Order, *, target: OrderStatus, reason: str, actor: Actor, at: datetime
) -> OrderEvent:
    """Move `order` inside the caller's transaction, with its timeline row, outbox event and stock.

    For another domain's use case that changes the status as one step of its own (routing allocates).
    """
    previous = order.status
    event = order.transition_to(target, reason=reason, by=actor, at=at)
    _record(session, order, event, topic="order.status_changed")
    stock.follow(session, order, previous, at=at, actor=actor)
    return event


def apply_transitions(
    session: Session, moves: Sequence[tuple[Order, OrderStatus, str]], *, actor: Actor, at: datetime
) -> None:
    """`apply_transition` for many orders at once, in a few bulk statements (routing's batch).

    The caller holds the orders' rows locked (`FOR UPDATE`); `core.db.update_rows` keeps the version rule.
    """
    planned = [(order, *order.planned_transition(target, reason=reason, by=actor, at=at))
               for order, target, reason in moves]
    update_rows(session, [(order, changes) for order, changes, _ in planned])
    add_rows(session, OrderEvent.__table__, [timeline_row(order.id, event) for order, _, event in planned])
    add_rows(session, OutboxEvent.__table__, [
        outbox_row("order.status_changed", order.order_no, at, _change_payload(order, event))
        for order, _, event in planned
    ])
    for order, _, event in planned:
        assert event.from_status is not None  # a transition always comes from a status
        stock.follow(session, order, event.from_status, at=at, actor=actor)


def note_on_timeline(order: Order, *, kind: str, reason: str, actor: Actor, at: datetime) -> None:
    """A fact another domain adds to the order's timeline without changing its status (a write-back,
    a failed e-waybill request), in the caller's transaction."""
    order.events.add(OrderEvent(kind=kind, at=at, actor=actor.name, source=actor.source, from_status=order.status,
                                to_status=order.status, reason=reason[:500]))


def get_order(session: Session, order_no: str) -> Order:
    return repository.get(session, order_no)


def list_orders(session: Session, filters: OrderFilters, *, limit: int = 50, cursor: str | None = None) -> Page[Order]:
    return repository.list_page(session, filters, limit=limit, cursor=cursor)


def status_counts(session: Session, filters: OrderFilters) -> dict[str, int]:
    return repository.status_counts(session, filters)


def orders_by_reference(session: Session, reference: str, *, limit: int = 20) -> list[Order]:
    """The orders a customer may mean by a number: ours (order_no) or the platform's (channel_order_id)."""
    return repository.by_reference(session, reference, limit=limit)


def order_timeline(session: Session, order_no: str) -> list[OrderEvent]:
    order = repository.get(session, order_no, with_lines=False)
    return repository.timeline(session, order.id)


def order_statuses(session: Session, order_ids: Collection[int]) -> dict[int, OrderStatus]:
    """Other domains ask what state their orders are in (inventory's board: which holds ship today)."""
    return {order_id: OrderStatus(status) for order_id, status in repository.statuses_of(session, order_ids).items()}


def order_ids(session: Session, order_nos: Collection[str]) -> dict[str, int]:
    """Other domains bind their rows to orders they know by number (logistics: platform waybills)."""
    return repository.ids_of(session, order_nos)


@dataclass(frozen=True)
class ShippingFacts:
    """What logistics reads of an order to judge its parcels (anomaly scan, carrier scorecard)."""

    status: OrderStatus
    # The newest move into `shipped` on the timeline (an order that arrived shipped: its creation); None: never.
    shipped_at: datetime | None
    receiver_province: str
    cross_border: bool


def shipping_facts(session: Session, order_ids: Collection[int]) -> dict[int, ShippingFacts]:
    """Status, ship time, receiver province and cross-border shop of each order, by id (missing ids left out)."""
    if not order_ids:
        return {}
    ids = list(order_ids)
    shipped = dict(session.execute(
        select(OrderEvent.order_id, func.max(OrderEvent.at))
        .where(OrderEvent.order_id.in_(ids), OrderEvent.to_status == OrderStatus.SHIPPED.value)
        .group_by(OrderEvent.order_id)).all())
    rows = session.execute(select(Order.id, Order.status, Order.receiver_province, Shop.cross_border)
                           .join(Shop, Shop.id == Order.shop_id).where(Order.id.in_(ids)))
    return {order_id: ShippingFacts(OrderStatus(status), shipped.get(order_id), province, cross_border)
            for order_id, status, province, cross_border in rows}
