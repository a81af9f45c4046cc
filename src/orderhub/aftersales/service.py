"""After-sales use cases: open a case (staff or channel), approve, reject, receive the return, refund, close.

Each change writes the case's timeline row and an outbox event in one transaction with what it does to
the order, which goes through orders' service functions:

* a refund-only or return request on an order not yet shipped puts the order on hold with
  `INTERCEPT_REASON`, so the warehouse does not ship it, and the case says it needs interception
  (`cases_needing_interception`, for logistics); the hold is lifted once no such case is open;
* on a shipped order such a request moves the order to refunding, and back to where it came from when
  no refund case is open any more and the order is not wholly refunded;
* once every line's paid money is back (whole refund) the order moves on to refunded; a partial refund
  leaves the order where it was and is told by `refunded_fen`.

Money per line: a line's paid share is the order's paid amount less shipping, split over the lines in
proportion to their amounts (largest remainder, so the shares add up exactly); shipping is refundable up to
the shipping fee. Refunds asked for in open or refunded cases never exceed those shares; every refund of an
order first locks the order's `OrderRefund` row, so two at once cannot both pass that check.

Restock: a received return goes back into stock through `inventory.restock_return`, after the receipt is
committed, under an idempotency key per case line and stock SKU; a case whose restock did not finish
stays `restock = pending` and is completed by a retry of the receipt or by the worker's job.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from orderhub.aftersales.errors import CaseInvalid, CaseNotFound, IllegalCaseTransition, OrderNotEligible, OverRefund
from orderhub.aftersales.model import (
    APPROVED_AS,
    REFUND_KINDS,
    TERMINAL,
    AfterSalesCase,
    AfterSalesEvent,
    AfterSalesLine,
    CaseKind,
    CaseSource,
    CaseStatus,
    OrderRefund,
    RestockState,
)
from orderhub.catalog import service as catalog
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, insert_ignoring_conflicts, one_of, read_session
from orderhub.core.errors import StaleVersion
from orderhub.core.money import fen_to_yuan
from orderhub.core.outbox import add_event
from orderhub.core.pagination import Page, decode_cursor, encode_cursor
from orderhub.inventory import service as inventory
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.model import Order
from orderhub.orders.service import OrderPolicy
from orderhub.orders.status import OrderStatus

S = OrderStatus
INTERCEPT_REASON = "售后中：拦截"
# Paid and still in our hands: a refund stops the shipment instead of waiting for goods to come back.
PRE_SHIP = frozenset({S.PAID, S.APPROVED, S.ALLOCATED, S.PICKING, S.PACKED})
SHIPPED = frozenset({S.SHIPPED, S.DELIVERED, S.COMPLETED})
NOT_ELIGIBLE = frozenset({S.PENDING_PAYMENT, S.CANCELLED, S.REFUNDED})
# Cases whose money counts against what was paid: open ones (promised) and refunded ones (given).
_COUNTED = (CaseStatus.REJECTED.value, CaseStatus.CLOSED.value)
REPLACEMENT_SOURCE = {CaseKind.EXCHANGE: "售后换货", CaseKind.RESHIP: "售后补发"}
CASE_NO_ATTEMPTS = 5
RECEIVER_FIELDS = ("name", "phone", "province", "city", "district", "address")


@dataclass(frozen=True)
class LineRequest:
    line_no: int
    qty: int
    # None: the line's paid share for `qty` (what is left of it); refund kinds only.
    refund_fen: int | None = None
    exchange_sku: str = ""


@dataclass(frozen=True)
class CaseRequest:
    order_no: str
    kind: CaseKind
    lines: Sequence[LineRequest]
    reason: str = ""
    shipping_refund_fen: int = 0
    # Where an exchange's or reship's replacement goes instead of the order's receiver (RECEIVER_FIELDS).
    replacement_receiver: dict[str, str] | None = None


@dataclass(frozen=True)
class CaseFilters:
    status: CaseStatus | None = None
    kind: CaseKind | None = None
    order_no: str | None = None
    needs_interception: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass
class _Problems:
    details: list[dict[str, Any]] = field(default_factory=list)

    def add(self, path: str, rule: str, zh: str, en: str) -> None:
        self.details.append({"field": path, "rule": rule, "message": zh, "messages": {"zh-CN": zh, "en": en}})


# ------------------------------------------------------------------------------------------------
# Money: what each line was paid, and what is already promised or given back
# ------------------------------------------------------------------------------------------------


def line_paid_fen(order: Order) -> dict[int, int]:
    """Each order line's share of the paid amount less shipping (by line amount; shares sum exactly)."""
    goods_paid = max(order.paid_amount_fen - order.shipping_fee_fen, 0)
    amounts = {line.id: max(line.amount_fen, 0) for line in order.lines}
    total = sum(amounts.values())
    if total == 0:
        return dict.fromkeys(amounts, 0)
    shares = {line_id: goods_paid * amount // total for line_id, amount in amounts.items()}
    left = goods_paid - sum(shares.values())
    by_remainder = sorted(amounts, key=lambda line_id: (-(goods_paid * amounts[line_id] % total), line_id))
    for line_id in by_remainder[:left]:
        shares[line_id] += 1
    return shares


def shipping_paid_fen(order: Order) -> int:
    return max(min(order.shipping_fee_fen, order.paid_amount_fen), 0)


def _committed(session: Session, order_id: int, *, refunded_only: bool,
               exclude_case_id: int | None = None) -> tuple[dict[int, int], int]:
    """Refund per order line and for shipping in the order's cases (open and refunded, or refunded only)."""
    conditions = [AfterSalesCase.order_id == order_id, AfterSalesCase.kind.in_([k.value for k in REFUND_KINDS])]
    if refunded_only:
        conditions.append(AfterSalesCase.status == CaseStatus.REFUNDED.value)
    else:
        conditions.append(AfterSalesCase.status.not_in(_COUNTED))
    if exclude_case_id is not None:
        conditions.append(AfterSalesCase.id != exclude_case_id)
    per_line = dict(session.execute(
        select(AfterSalesLine.order_line_id, func.sum(AfterSalesLine.refund_fen))
        .join(AfterSalesCase, AfterSalesCase.id == AfterSalesLine.case_id)
        .where(*conditions).group_by(AfterSalesLine.order_line_id)
    ).all())
    shipping = session.scalar(select(func.coalesce(func.sum(AfterSalesCase.shipping_refund_fen), 0)).where(*conditions))
    return {line_id: int(total) for line_id, total in per_line.items()}, int(shipping or 0)


def _check_caps(session: Session, order: Order, wanted: dict[int, int], shipping: int, *, refunded_only: bool,
                exclude_case_id: int | None = None) -> None:
    """Refuse (422, every offending line) a refund that would take more back than a line or shipping was paid."""
    paid = line_paid_fen(order)
    taken, shipping_taken = _committed(session, order.id, refunded_only=refunded_only, exclude_case_id=exclude_case_id)
    numbers = {line.id: line.line_no for line in order.lines}
    problems = _Problems()
    for line_id, amount in wanted.items():
        left = paid[line_id] - taken.get(line_id, 0)
        if amount > left:
            number = numbers[line_id]
            problems.add(f"lines[line_no={number}].refund", "refund.exceeds_line_paid",
                         f"第 {number} 行退款 {fen_to_yuan(amount)} 元超过可退 {fen_to_yuan(max(left, 0))} 元"
                         f"（实付 {fen_to_yuan(paid[line_id])} 元）",
                         f"line {number}: refund {fen_to_yuan(amount)} exceeds the {fen_to_yuan(max(left, 0))} left "
                         f"of {fen_to_yuan(paid[line_id])} paid")
    shipping_left = shipping_paid_fen(order) - shipping_taken
    if shipping > shipping_left:
        problems.add("shipping_refund", "refund.exceeds_shipping_paid",
                     f"运费退款 {fen_to_yuan(shipping)} 元超过可退 {fen_to_yuan(max(shipping_left, 0))} 元",
                     f"shipping refund {fen_to_yuan(shipping)} exceeds the {fen_to_yuan(max(shipping_left, 0))} left")
    if problems.details:
        raise OverRefund(problems.details)


def _lock_refund_row(session: Session, order: Order, at: datetime) -> OrderRefund:
    """The order's refund total, locked: refunds of one order take turns."""
    session.execute(insert_ignoring_conflicts(session, OrderRefund.__table__).values(
        order_id=order.id, order_no=order.order_no, refunded_fen=0, updated_at=at))
    row = session.scalar(select(OrderRefund).where(OrderRefund.order_id == order.id).with_for_update()
                         .execution_options(populate_existing=True))
    assert row is not None
    return row


def _wholly_refunded(session: Session, order: Order) -> bool:
    """Every line's paid share is back (a refunded case exists; shipping does not decide it)."""
    refunded, _ = _committed(session, order.id, refunded_only=True)
    if not refunded:
        return False
    return all(refunded.get(line_id, 0) >= paid for line_id, paid in line_paid_fen(order).items())


# ------------------------------------------------------------------------------------------------
# The order follows its cases
# ------------------------------------------------------------------------------------------------


def _effective_status(order: Order) -> OrderStatus:
    """Where the order stands in its flow, looking through a hold or a refund in progress."""
    status = OrderStatus(order.status)
    if status is S.ON_HOLD and order.held_from:
        return OrderStatus(order.held_from)
    if status is S.REFUNDING and order.refund_from:
        return OrderStatus(order.refund_from)
    return status


def _open_refund_cases(session: Session, order_id: int) -> int:
    return session.scalar(select(func.count()).select_from(AfterSalesCase).where(
        AfterSalesCase.order_id == order_id, AfterSalesCase.kind.in_([k.value for k in REFUND_KINDS]),
        AfterSalesCase.status.not_in([s.value for s in TERMINAL]))) or 0


def _settle_order(session: Session, order: Order, case: AfterSalesCase, *, actor: Actor, at: datetime) -> None:
    """Bring the order's status in line with its refund cases (see the module docstring).

    An order held for another reason is left to the person who holds it; cancelled and refunded orders have ended.
    """
    status = OrderStatus(order.status)
    ours = status is S.ON_HOLD and order.hold_reason == INTERCEPT_REASON
    if status in (S.CANCELLED, S.REFUNDED) or (status is S.ON_HOLD and not ours):
        return
    path: list[tuple[OrderStatus, str]] = []
    if _wholly_refunded(session, order):
        if ours:
            path.append((OrderStatus(order.held_from or S.PAID), f"售后单 {case.case_no} 全额退款，解除拦截"))
        if status is not S.REFUNDING:
            path.append((S.REFUNDING, f"售后单 {case.case_no} 退款"))
        path.append((S.REFUNDED, f"售后单 {case.case_no} 全额退款"))
    elif _open_refund_cases(session, order.id):
        if status in PRE_SHIP:
            path.append((S.ON_HOLD, INTERCEPT_REASON))
        elif status in SHIPPED:
            path.append((S.REFUNDING, f"售后单 {case.case_no} 申请退款"))
    elif ours:
        path.append((OrderStatus(order.held_from or S.PAID), f"售后单 {case.case_no} {_ending(case)}，解除拦截"))
    elif status is S.REFUNDING and order.refund_from:
        path.append((OrderStatus(order.refund_from), f"售后单 {case.case_no} {_ending(case)}"))
    for target, reason in path:
        orders.apply_transition(session, order, target=target, reason=reason, actor=actor, at=at)


def _ending(case: AfterSalesCase) -> str:
    if case.status == CaseStatus.REFUNDED:
        return f"部分退款 {fen_to_yuan(case.refund_fen)} 元"
    return "已驳回" if case.status == CaseStatus.REJECTED else "已关闭"


# ------------------------------------------------------------------------------------------------
# Timeline and outbox
# ------------------------------------------------------------------------------------------------


def _record(session: Session, case: AfterSalesCase, event: AfterSalesEvent, *, topic: str,
            extra: dict[str, Any] | None = None) -> None:
    case.events.add(event)
    payload = {"case_no": case.case_no, "order_no": case.order_no, "kind": case.kind, "event": event.kind,
               "from": event.from_status, "to": event.to_status, "reason": event.reason, "actor": event.actor,
               "source": event.source, **(extra or {})}
    add_event(session, topic=topic, key=case.order_no, payload=payload, at=event.at)


def _move(session: Session, case: AfterSalesCase, target: CaseStatus, *, reason: str, actor: Actor,
          at: datetime) -> None:
    event = case.transition_to(target, reason=reason, by=actor, at=at)
    extra = {"refund": fen_to_yuan(case.refund_fen)} if target is CaseStatus.REFUNDED else None
    _record(session, case, event, topic="aftersales.case_changed", extra=extra)


def _note(session: Session, case: AfterSalesCase, kind: str, reason: str, *, actor: Actor, at: datetime,
          topic: str) -> None:
    event = AfterSalesEvent(kind=kind, at=at, actor=actor.name[:64], source=actor.source, from_status=case.status,
                            to_status=case.status, reason=reason[:500])
    _record(session, case, event, topic=topic)


def _commit(uow: UnitOfWork, case_no: str) -> None:
    try:
        uow.commit()
    except StaleDataError:
        raise StaleVersion(f"case {case_no} or its order was changed at the same time; retry "
                           f"/ 售后单或其订单正被他人修改，请重试") from None


# ------------------------------------------------------------------------------------------------
# Opening a case
# ------------------------------------------------------------------------------------------------


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _check_request(session: Session, order: Order, request: CaseRequest) -> list[tuple[int, LineRequest, int]]:
    """Every defect of the request at once (422); else (order line id, line, refund fen) per line."""
    problems = _Problems()
    kind = request.kind
    by_number = {line.line_no: line for line in order.lines}
    paid = line_paid_fen(order)
    taken, _ = _committed(session, order.id, refunded_only=False)
    if not request.lines:
        problems.add("lines", "lines.required", "至少选择一行商品", "at least one line is needed")
    seen: set[int] = set()
    exchange_skus = {line.exchange_sku for line in request.lines if line.exchange_sku}
    known = catalog.skus_by_code(session, exchange_skus) if exchange_skus else {}
    accepted: list[tuple[int, LineRequest, int]] = []
    for index, line in enumerate(request.lines):
        prefix = f"lines[{index}]"
        target = by_number.get(line.line_no) if _whole(line.line_no) is not None else None
        if target is None:
            problems.add(f"{prefix}.line_no", "line.not_in_order", f"订单 {order.order_no} 没有第 {line.line_no!r} 行",
                         f"order {order.order_no} has no line {line.line_no!r}")
        elif line.line_no in seen:
            problems.add(f"{prefix}.line_no", "line.repeated", f"第 {line.line_no} 行重复",
                         f"line {line.line_no} is listed twice")
        seen.add(line.line_no)
        qty = _whole(line.qty)
        if qty is None or qty < 1:
            problems.add(f"{prefix}.qty", "qty.not_positive", f"数量须为正整数，收到 {line.qty!r}",
                         f"quantity must be a positive whole number, got {line.qty!r}")
        elif target is not None and qty > target.qty:
            problems.add(f"{prefix}.qty", "qty.exceeds_line", f"数量 {qty} 超过该行购买数量 {target.qty}",
                         f"quantity {qty} exceeds the {target.qty} bought on that line")
        refund = line.refund_fen
        if refund is not None and (_whole(refund) is None or refund < 0):
            problems.add(f"{prefix}.refund", "refund.not_fen", f"退款金额须为非负整数（分），收到 {refund!r}",
                         f"refund must be a non-negative whole number of fen, got {refund!r}")
        elif refund and kind not in REFUND_KINDS:
            problems.add(f"{prefix}.refund", "refund.not_for_kind", "换货、补发不退款",
                         "exchanges and reships refund nothing")
        if line.exchange_sku and kind is not CaseKind.EXCHANGE:
            problems.add(f"{prefix}.exchange_sku", "exchange_sku.not_for_kind", "只有换货可指定换成的商品",
                         "only an exchange names a SKU to exchange for")
        elif line.exchange_sku and line.exchange_sku not in known:
            problems.add(f"{prefix}.exchange_sku", "sku.unknown", f"商品编码 {line.exchange_sku} 不存在",
                         f"unknown SKU {line.exchange_sku!r}")
        if target is not None and qty is not None and 1 <= qty <= target.qty:
            if kind not in REFUND_KINDS:
                amount = 0
            elif refund is None:
                amount = max(min(paid[target.id] * qty // target.qty, paid[target.id] - taken.get(target.id, 0)), 0)
            else:
                amount = refund
            accepted.append((target.id, line, amount))
    shipping = _whole(request.shipping_refund_fen)
    if shipping is None or shipping < 0:
        problems.add("shipping_refund", "refund.not_fen", "运费退款须为非负整数（分）",
                     "shipping refund must be a non-negative whole number of fen")
    elif shipping and kind not in REFUND_KINDS:
        problems.add("shipping_refund", "refund.not_for_kind", "换货、补发不退运费",
                     "exchanges and reships refund nothing")
    receiver = request.replacement_receiver
    if receiver is not None and kind not in REPLACEMENT_SOURCE:
        problems.add("replacement_receiver", "receiver.not_for_kind", "只有换货、补发有新收件人",
                     "only an exchange or reship has a replacement receiver")
    elif receiver is not None and set(receiver) - set(RECEIVER_FIELDS):
        problems.add("replacement_receiver", "receiver.unknown_field", "收件人字段无效", "unknown receiver field")
    if len(request.reason) > 500:
        problems.add("reason", "reason.too_long", "原因最多 500 字", "the reason is longer than 500 characters")
    if problems.details:
        raise CaseInvalid(problems.details)
    return accepted


def _new_case_no(session: Session) -> str:
    for _ in range(CASE_NO_ATTEMPTS):
        candidate = f"AS_{secrets.token_hex(5)}"
        if session.scalar(select(AfterSalesCase.id).where(AfterSalesCase.case_no == candidate)) is None:
            return candidate
    raise StaleVersion("could not draw a free case number; retry / 售后单号生成冲突，请重试")


def _eligible(order: Order, kind: CaseKind) -> None:
    status = OrderStatus(order.status)
    if status in NOT_ELIGIBLE:
        raise OrderNotEligible(f"order {order.order_no} is {status.value}: no after-sales request can be opened "
                               f"/ 订单 {order.order_no} 当前为 {status.value}，不能申请售后")
    if kind in REPLACEMENT_SOURCE and _effective_status(order) not in SHIPPED:
        raise OrderNotEligible(f"order {order.order_no} has not shipped: nothing to {kind.value} "
                               f"/ 订单 {order.order_no} 尚未发货，不能换货或补发")


def _add_case(session: Session, order: Order, request: CaseRequest, lines: list[tuple[int, LineRequest, int]], *,
              source: CaseSource, channel_status: str, actor: Actor, at: datetime) -> AfterSalesCase:
    by_id = {line.id: line for line in order.lines}
    shipping = request.shipping_refund_fen
    case = AfterSalesCase(
        case_no=_new_case_no(session), order_id=order.id, order_no=order.order_no, kind=request.kind.value,
        status=CaseStatus.REQUESTED.value, source=source.value, reason=request.reason.strip(),
        needs_interception=request.kind in REFUND_KINDS and _effective_status(order) in PRE_SHIP,
        shipping_refund_fen=shipping, refund_fen=shipping + sum(amount for _, _, amount in lines),
        replacement_receiver=request.replacement_receiver, channel_status=channel_status,
        created_by=actor.name[:64], created_at=at, updated_at=at,
        lines=[AfterSalesLine(order_line_id=line_id, line_no=by_id[line_id].line_no, sku=by_id[line_id].sku,
                              qty=line.qty, refund_fen=amount, exchange_sku=line.exchange_sku)
               for line_id, line, amount in lines],
    )
    session.add(case)
    session.flush()
    event = AfterSalesEvent(kind="opened", at=at, actor=actor.name[:64], source=actor.source,
                            to_status=CaseStatus.REQUESTED.value, reason=case.reason[:500])
    _record(session, case, event, topic="aftersales.case_opened",
            extra={"refund": fen_to_yuan(case.refund_fen), "needs_interception": case.needs_interception,
                   "lines": [{"line_no": line.line_no, "sku": line.sku, "qty": line.qty,
                              "refund": fen_to_yuan(line.refund_fen)} for line in case.lines]})
    return case


def open_case(uow: UnitOfWork, *, request: CaseRequest, actor: Actor) -> AfterSalesCase:
    """A staff-entered request: checked in full (422 with every defect), money capped by what was paid."""
    with uow:
        session, at = uow.session, uow.now()
        order = orders.get_order(session, request.order_no)
        _eligible(order, request.kind)
        lines = _check_request(session, order, request)
        if request.kind in REFUND_KINDS:
            _lock_refund_row(session, order, at)
            _check_caps(session, order, _by_line(lines), request.shipping_refund_fen, refunded_only=False)
        case = _add_case(session, order, request, lines, source=CaseSource.STAFF, channel_status="", actor=actor,
                         at=at)
        if request.kind in REFUND_KINDS:
            _settle_order(session, order, case, actor=actor, at=at)
        _commit(uow, case.case_no)
        return case


def _by_line(lines: Sequence[tuple[int, LineRequest, int]]) -> dict[int, int]:
    wanted: dict[int, int] = {}
    for line_id, _, amount in lines:
        wanted[line_id] = wanted.get(line_id, 0) + amount
    return wanted


# ------------------------------------------------------------------------------------------------
# Moving a case
# ------------------------------------------------------------------------------------------------


def _allowed(case: AfterSalesCase, target: CaseStatus) -> None:
    """Refuse (409) before doing any of the work a move brings with it."""
    if target not in case.allowed_targets():
        raise IllegalCaseTransition(case.kind, case.status, target.value)


def _lock_case(session: Session, case_no: str) -> AfterSalesCase:
    case = session.scalar(select(AfterSalesCase).where(AfterSalesCase.case_no == case_no)
                          .options(selectinload(AfterSalesCase.lines)).with_for_update(of=AfterSalesCase))
    if case is None:
        raise CaseNotFound(case_no)
    return case


def _replace(session: Session, case: AfterSalesCase, order: Order, *, actor: Actor, policy: OrderPolicy,
             at: datetime) -> None:
    """The replacement order of an exchange or reship: a manual order at no charge, linked to the case."""
    kind = CaseKind(case.kind)
    given = case.replacement_receiver or {}
    receiver = Receiver(**{name: given.get(name) or getattr(order, f"receiver_{name}") for name in RECEIVER_FIELDS})
    draft = OrderDraft(
        channel=order.channel, shop=order.shop.code, channel_order_id=case.case_no,
        source_type=REPLACEMENT_SOURCE[kind], receiver=receiver, id_card=order.id_card, paid_at=at,
        lines=[DraftLine(sku=line.exchange_sku or line.sku, qty=line.qty, unit_price_fen=0) for line in case.lines],
        seller_memo=f"售后单 {case.case_no}（原订单 {order.order_no}）",
    )
    replacement = orders.add_manual_order(session, draft=draft, actor=actor, policy=policy, at=at)
    case.replacement_order_no = replacement.order_no
    _move(session, case, CaseStatus.REPLACED, reason=f"新订单 {replacement.order_no}", actor=actor, at=at)


def approve_case(uow: UnitOfWork, *, case_no: str, actor: Actor, policy: OrderPolicy,
                 reason: str = "") -> AfterSalesCase:
    """Agree to the request: refund-only waits for the refund, returns and exchanges for the goods, a reship
    gets its replacement order now."""
    with uow:
        session, at = uow.session, uow.now()
        case = _lock_case(session, case_no)
        kind = CaseKind(case.kind)
        _allowed(case, APPROVED_AS[kind])
        if kind is CaseKind.RESHIP:
            _replace(session, case, orders.get_order(session, case.order_no), actor=actor, policy=policy, at=at)
        else:
            _move(session, case, APPROVED_AS[kind], reason=reason or "同意售后", actor=actor, at=at)
        _commit(uow, case_no)
        return case


def _end(uow: UnitOfWork, case_no: str, target: CaseStatus, reason: str, actor: Actor) -> AfterSalesCase:
    if not reason.strip():
        raise CaseInvalid([{"field": "reason", "rule": "reason.required", "message": "请填写原因",
                            "messages": {"zh-CN": "请填写原因", "en": "a reason is required"}}])
    with uow:
        session, at = uow.session, uow.now()
        case = _lock_case(session, case_no)
        _move(session, case, target, reason=reason, actor=actor, at=at)
        if CaseKind(case.kind) in REFUND_KINDS:
            order = orders.get_order(session, case.order_no)
            _lock_refund_row(session, order, at)
            _settle_order(session, order, case, actor=actor, at=at)
        _commit(uow, case_no)
        return case


def reject_case(uow: UnitOfWork, *, case_no: str, reason: str, actor: Actor) -> AfterSalesCase:
    """Refuse a request (reason required); an order held for it is released."""
    return _end(uow, case_no, CaseStatus.REJECTED, reason, actor)


def close_case(uow: UnitOfWork, *, case_no: str, reason: str, actor: Actor) -> AfterSalesCase:
    """Withdraw an open case (reason required); an order held for it is released."""
    return _end(uow, case_no, CaseStatus.CLOSED, reason, actor)


def refund_case(uow: UnitOfWork, *, case_no: str, actor: Actor, reason: str = "") -> AfterSalesCase:
    """Give the case's money back: checked again against what was paid, added to the order's refunded total,
    and the order moves to refunded when it is now wholly refunded."""
    with uow:
        session, at = uow.session, uow.now()
        case = _lock_case(session, case_no)
        _refund(session, case, orders.get_order(session, case.order_no), reason=reason or "退款完成", actor=actor,
                at=at)
        _commit(uow, case_no)
        return case


def _refund(session: Session, case: AfterSalesCase, order: Order, *, reason: str, actor: Actor, at: datetime) -> None:
    _allowed(case, CaseStatus.REFUNDED)
    row = _lock_refund_row(session, order, at)
    wanted: dict[int, int] = {}
    for line in case.lines:
        wanted[line.order_line_id] = wanted.get(line.order_line_id, 0) + line.refund_fen
    _check_caps(session, order, wanted, case.shipping_refund_fen, refunded_only=True, exclude_case_id=case.id)
    _move(session, case, CaseStatus.REFUNDED, reason=f"{reason}：{fen_to_yuan(case.refund_fen)} 元", actor=actor, at=at)
    row.refunded_fen += case.refund_fen
    row.updated_at = at
    session.flush()
    _settle_order(session, order, case, actor=actor, at=at)


def receive_return(uow: UnitOfWork, *, case_no: str, warehouse: str, actor: Actor,
                   policy: OrderPolicy) -> AfterSalesCase:
    """The goods came back to `warehouse`: restocked (once, whatever the retries) if they had left it; an
    exchange gets its replacement order. A retry on a received case only finishes a pending restock."""
    with uow:
        session, at = uow.session, uow.now()
        case = _lock_case(session, case_no)
        retry = case.status != CaseStatus.AWAITING_RETURN and case.restock == RestockState.PENDING
        if not retry:
            _allowed(case, CaseStatus.RECEIVED)
            if warehouse not in {site.code for site in inventory.list_warehouses(session)}:
                raise CaseInvalid([{"field": "warehouse", "rule": "warehouse.unknown",
                                    "message": f"仓库 {warehouse} 不存在",
                                    "messages": {"zh-CN": f"仓库 {warehouse} 不存在",
                                                 "en": f"unknown warehouse {warehouse!r}"}}])
            order = orders.get_order(session, case.order_no)
            _move(session, case, CaseStatus.RECEIVED, reason=f"退货入仓 {warehouse}", actor=actor, at=at)
            case.return_warehouse = warehouse
            # Goods that never left (intercepted before shipping) are still on hand: nothing to put back.
            left = _effective_status(order) in SHIPPED
            case.restock = (RestockState.PENDING if left else RestockState.NONE).value
            if not left:
                _note(session, case, "restock_skipped", "订单未出库，无需退货入库", actor=actor, at=at,
                      topic="aftersales.case_changed")
            if CaseKind(case.kind) is CaseKind.EXCHANGE:
                _replace(session, case, order, actor=actor, policy=policy, at=at)
            _commit(uow, case_no)
    complete_restock(uow, case_no=case_no, actor=actor)
    with read_session(uow.session_factory) as session:
        return get_case(session, case_no)


def complete_restock(uow: UnitOfWork, *, case_no: str, actor: Actor) -> None:
    """Put a received return back into stock; each movement's idempotency key makes a retry move nothing twice."""
    with uow:
        case = get_case(uow.session, case_no)
        if case.restock != RestockState.PENDING or case.return_warehouse is None:
            return
        units = catalog.components(uow.session, {line.sku for line in case.lines})
        moves = [(line.line_no, code, line.qty * qty) for line in case.lines for code, qty in units.get(line.sku, [])]
        warehouse, order_no = case.return_warehouse, case.order_no
    for line_no, sku, qty in moves:
        inventory.restock_return(uow, sku=sku, warehouse=warehouse, qty=qty, order_no=order_no,
                                 idempotency_key=f"aftersales:{case_no}:{line_no}:{sku}", actor=actor,
                                 reason=f"售后退货入库 {case_no}")
    with uow:
        session, at = uow.session, uow.now()
        done = session.execute(update(AfterSalesCase).where(
            AfterSalesCase.case_no == case_no, AfterSalesCase.restock == RestockState.PENDING.value,
        ).values(restock=RestockState.DONE.value, updated_at=at, version=AfterSalesCase.version + 1))
        if done.rowcount:
            case = get_case(session, case_no)
            summary = "、".join(f"{sku}×{qty}" for _, sku, qty in moves)
            _note(session, case, "restocked", f"入库 {warehouse}：{summary}", actor=actor, at=at,
                  topic="aftersales.restocked")
            uow.commit()


def pending_restocks(session: Session, *, limit: int = 100) -> list[str]:
    return list(session.scalars(select(AfterSalesCase.case_no).where(
        AfterSalesCase.restock == RestockState.PENDING.value).order_by(AfterSalesCase.id).limit(limit)))


# ------------------------------------------------------------------------------------------------
# From channel data
# ------------------------------------------------------------------------------------------------


def follow_channel_refund(session: Session, order: Order, *, actor: Actor, at: datetime) -> None:
    """Intake's hook, after it followed a platform update: the platform's refund opens or updates cases.

    Refunding: the open refund cases take the platform's status, or a refund-only case is opened for what is
    left to refund. Refunded: the open cases that can be refunded are, and what is still left is refunded in a
    case of its own. A refund the platform withdrew closes the open channel case. The order's status is the
    platform's to set here, so the cases follow it and never move it.
    """
    status = OrderStatus(order.status)
    open_cases = list(session.scalars(select(AfterSalesCase).where(
        AfterSalesCase.order_id == order.id, AfterSalesCase.kind.in_([k.value for k in REFUND_KINDS]),
        AfterSalesCase.status.not_in([s.value for s in TERMINAL])).options(selectinload(AfterSalesCase.lines))
        .order_by(AfterSalesCase.id)))
    if status not in (S.REFUNDING, S.REFUNDED):
        for case in open_cases:
            if case.source == CaseSource.CHANNEL:
                case.channel_status = order.channel_status
                _move(session, case, CaseStatus.CLOSED, reason=f"平台撤销退款（{order.channel_status}）", actor=actor,
                      at=at)
        return
    reason = f"平台状态 {order.channel_status}"
    for case in open_cases:
        case.channel_status = order.channel_status
    if status is S.REFUNDING:
        if not open_cases:
            _open_for_remainder(session, order, reason=reason, actor=actor, at=at)
        return
    for case in open_cases:
        if CaseStatus.REFUNDED in case.allowed_targets():
            _refund(session, case, order, reason=reason, actor=actor, at=at)
    remainder = _open_for_remainder(session, order, reason=reason, actor=actor, at=at)
    if remainder is not None:
        _refund(session, remainder, order, reason=reason, actor=actor, at=at)


def _open_for_remainder(session: Session, order: Order, *, reason: str, actor: Actor,
                        at: datetime) -> AfterSalesCase | None:
    """A channel refund-only case over every line for what is not yet promised or refunded (None: nothing is)."""
    _lock_refund_row(session, order, at)
    paid = line_paid_fen(order)
    taken, shipping_taken = _committed(session, order.id, refunded_only=False)
    lines = [(line.id, LineRequest(line_no=line.line_no, qty=line.qty), max(paid[line.id] - taken.get(line.id, 0), 0))
             for line in order.lines]
    shipping = max(shipping_paid_fen(order) - shipping_taken, 0)
    if shipping + sum(amount for _, _, amount in lines) == 0 and taken:
        return None
    request = CaseRequest(order_no=order.order_no, kind=CaseKind.REFUND_ONLY, lines=[line for _, line, _ in lines],
                          reason=reason, shipping_refund_fen=shipping)
    return _add_case(session, order, request, lines, source=CaseSource.CHANNEL, channel_status=order.channel_status,
                     actor=actor, at=at)


# ------------------------------------------------------------------------------------------------
# Reads
# ------------------------------------------------------------------------------------------------


def get_case(session: Session, case_no: str) -> AfterSalesCase:
    case = session.scalar(select(AfterSalesCase).where(AfterSalesCase.case_no == case_no)
                          .options(selectinload(AfterSalesCase.lines)))
    if case is None:
        raise CaseNotFound(case_no)
    return case


def case_timeline(session: Session, case_no: str) -> list[AfterSalesEvent]:
    case = get_case(session, case_no)
    return list(session.scalars(select(AfterSalesEvent).where(AfterSalesEvent.case_id == case.id)
                                .order_by(AfterSalesEvent.id)))


def list_cases(session: Session, filters: CaseFilters, *, limit: int = 50, cursor: str | None = None
               ) -> Page[AfterSalesCase]:
    """Newest first, keyset-paginated on (created_at, id)."""
    query = select(AfterSalesCase).options(selectinload(AfterSalesCase.lines))
    if filters.status is not None:
        query = query.where(AfterSalesCase.status == filters.status.value)
    if filters.kind is not None:
        query = query.where(AfterSalesCase.kind == filters.kind.value)
    if filters.order_no:
        query = query.where(AfterSalesCase.order_no == filters.order_no)
    if filters.needs_interception is not None:
        query = query.where(AfterSalesCase.needs_interception.is_(filters.needs_interception))
    if filters.created_from is not None:
        query = query.where(AfterSalesCase.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(AfterSalesCase.created_at < filters.created_to)
    if cursor:
        at, row_id = decode_cursor(cursor)
        query = query.where((AfterSalesCase.created_at < at)
                            | ((AfterSalesCase.created_at == at) & (AfterSalesCase.id < row_id)))
    rows = list(session.scalars(query.order_by(AfterSalesCase.created_at.desc(), AfterSalesCase.id.desc())
                                .limit(limit + 1)))
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return Page(items=page, next_cursor=next_cursor)


def cases_of_order(session: Session, order_no: str) -> list[AfterSalesCase]:
    return list(session.scalars(select(AfterSalesCase).where(AfterSalesCase.order_no == order_no)
                                .options(selectinload(AfterSalesCase.lines)).order_by(AfterSalesCase.id)))


def cases_needing_interception(session: Session) -> list[AfterSalesCase]:
    """Open refund cases whose order had not shipped when asked: logistics stops those parcels."""
    return list(session.scalars(select(AfterSalesCase).where(
        AfterSalesCase.needs_interception.is_(True), AfterSalesCase.status.not_in([s.value for s in TERMINAL]))
        .options(selectinload(AfterSalesCase.lines)).order_by(AfterSalesCase.id)))


def refunded_fen(session: Session, order_ids: Collection[int] | None = None) -> dict[int, int]:
    """Money given back through after-sales per order (of these orders, or of all), for finance;
    orders with none given back are absent."""
    query = select(OrderRefund.order_id, OrderRefund.refunded_fen).where(OrderRefund.refunded_fen > 0)
    if order_ids is not None:
        if not order_ids:
            return {}
        query = query.where(one_of(session, OrderRefund.order_id, order_ids))
    return dict(session.execute(query).all())
