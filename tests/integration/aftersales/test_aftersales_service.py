"""After-sales cases on SQLite and PostgreSQL: each kind end to end, money caps, interception, restock, channel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from orderhub.aftersales import service as aftersales
from orderhub.aftersales.errors import CaseInvalid, IllegalCaseTransition, OrderNotEligible, OverRefund
from orderhub.aftersales.model import AfterSalesCase, AfterSalesEvent, CaseKind, CaseStatus, OrderRefund
from orderhub.aftersales.service import INTERCEPT_REASON, CaseRequest, LineRequest
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.outbox import OutboxEvent
from orderhub.inventory import service as inventory
from orderhub.inventory.model import LedgerEntry
from orderhub.orders import intake
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine
from orderhub.orders.errors import OrderNotFound
from orderhub.orders.status import OrderStatus as S
from orderhub.runtime import Runtime
from tests.integration.inventory.conftest import stock_up
from tests.integration.orders.test_order_service import channel_draft, phone_draft

pytestmark = pytest.mark.usefixtures("warehouses")
STAFF = Actor("kefu", "api", frozenset({"orders.transition", "orders.approve_large", "aftersales.handle"}))
CHANNEL = Actor("douyin", "channel")


def two_line_order(runtime: Runtime, *, ship: bool = True, shipping_fen: int = 0) -> str:
    """SKU-001 ×2 at 99.00 and SKU-003 ×1 at 129.00, paid 327.00 (+ shipping)."""
    stock_up(runtime, "SKU-001", "HZ", 10)
    stock_up(runtime, "SKU-003", "HZ", 10)
    draft = phone_draft(lines=[DraftLine(sku="SKU-001", qty=2, unit_price_fen=9900),
                               DraftLine(sku="SKU-003", qty=1, unit_price_fen=12900)],
                        shipping_fee_fen=shipping_fen, paid_amount_fen=32700 + shipping_fen)
    number = orders.create_manual_order(runtime.uow(), draft=draft, actor=STAFF, policy=runtime.policy).order_no
    targets = [S.APPROVED, S.ALLOCATED, S.PICKING, S.PACKED, S.SHIPPED] if ship else [S.APPROVED]
    for target in targets:
        orders.transition_order(runtime.uow(), order_no=number, target=target, reason="test", actor=STAFF,
                                policy=runtime.policy)
    return number


def open_case(runtime: Runtime, order_no: str, kind: CaseKind, *lines: LineRequest, **extra: Any) -> AfterSalesCase:
    request = CaseRequest(order_no=order_no, kind=kind, lines=list(lines), reason="客户申请", **extra)
    return aftersales.open_case(runtime.uow(), request=request, actor=STAFF)


def order_status(runtime: Runtime, order_no: str) -> tuple[str, str | None]:
    with runtime.reading() as session:
        order = orders.get_order(session, order_no)
        return order.status, order.hold_reason


def refunded(runtime: Runtime, order_no: str) -> dict[int, int]:
    with runtime.reading() as session:
        return aftersales.refunded_fen(session, [orders.get_order(session, order_no).id])


def on_hand(runtime: Runtime, sku: str) -> int:
    with runtime.reading() as session:
        return sum(w.on_hand for w in inventory.availability(session, sku).warehouses)


def verified(runtime: Runtime) -> list[str]:
    with runtime.reading() as session:
        return [str(m) for m in inventory.verify(session)]


def timeline(runtime: Runtime, case_no: str) -> list[tuple[str, str | None, str | None]]:
    with runtime.reading() as session:
        return [(e.kind, e.from_status, e.to_status) for e in aftersales.case_timeline(session, case_no)]


def count(runtime: Runtime, model: type) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# ------------------------------------------------------------------------------------------------
# Each kind end to end
# ------------------------------------------------------------------------------------------------


def test_a_refund_only_case_refunds_part_of_a_line_and_the_order_goes_back_to_shipped(runtime: Runtime) -> None:
    number = two_line_order(runtime)
    case = open_case(runtime, number, CaseKind.REFUND_ONLY, LineRequest(line_no=1, qty=1, refund_fen=3000))
    assert case.status == CaseStatus.REQUESTED and not case.needs_interception
    assert order_status(runtime, number)[0] == S.REFUNDING
    aftersales.approve_case(runtime.uow(), case_no=case.case_no, actor=STAFF, policy=runtime.policy)
    done = aftersales.refund_case(runtime.uow(), case_no=case.case_no, actor=STAFF)
    assert done.status == CaseStatus.REFUNDED
    assert order_status(runtime, number)[0] == S.SHIPPED
    assert list(refunded(runtime, number).values()) == [3000]
    assert timeline(runtime, case.case_no) == [("opened", None, "requested"), ("transition", "requested", "approved"),
                                               ("transition", "approved", "refunded")]
    with runtime.reading() as session:
        topics = session.scalars(select(OutboxEvent.topic).where(OutboxEvent.key == number)).all()
    assert topics.count("aftersales.case_opened") == 1 and topics.count("aftersales.case_changed") == 2


def test_a_return_of_everything_restocks_once_and_refunds_the_order_in_full(runtime: Runtime) -> None:
    number = two_line_order(runtime, shipping_fen=1000)
    before = on_hand(runtime, "SKU-001")
    case = open_case(runtime, number, CaseKind.RETURN, LineRequest(line_no=1, qty=2), LineRequest(line_no=2, qty=1),
                     shipping_refund_fen=1000)
    assert case.refund_fen == 33700  # every line's paid share by default, plus shipping
    aftersales.approve_case(runtime.uow(), case_no=case.case_no, actor=STAFF, policy=runtime.policy)
    received = aftersales.receive_return(runtime.uow(), case_no=case.case_no, warehouse="HZ", actor=STAFF,
                                         policy=runtime.policy)
    assert received.status == CaseStatus.RECEIVED and received.restock == "done"
    assert on_hand(runtime, "SKU-001") == before + 2
    with pytest.raises(IllegalCaseTransition):  # a repeated receipt after success moves nothing
        aftersales.receive_return(runtime.uow(), case_no=case.case_no, warehouse="HZ", actor=STAFF,
                                  policy=runtime.policy)
    aftersales.complete_restock(runtime.uow(), case_no=case.case_no, actor=STAFF)
    assert on_hand(runtime, "SKU-001") == before + 2
    aftersales.refund_case(runtime.uow(), case_no=case.case_no, actor=STAFF)
    assert order_status(runtime, number)[0] == S.REFUNDED
    assert list(refunded(runtime, number).values()) == [33700]
    assert verified(runtime) == []


def test_a_restock_interrupted_after_the_receipt_is_finished_by_a_retry_exactly_once(runtime: Runtime) -> None:
    number = two_line_order(runtime)
    before = on_hand(runtime, "SKU-001")
    case = open_case(runtime, number, CaseKind.RETURN, LineRequest(line_no=1, qty=1))
    aftersales.approve_case(runtime.uow(), case_no=case.case_no, actor=STAFF, policy=runtime.policy)
    # The first restock ran, then the process died before the case was marked done.
    aftersales.receive_return(runtime.uow(), case_no=case.case_no, warehouse="HZ", actor=STAFF, policy=runtime.policy)
    with runtime.uow() as uow:
        uow.session.get(AfterSalesCase, case.id).restock = "pending"  # type: ignore[union-attr]
        uow.commit()
    with runtime.reading() as session:
        assert aftersales.pending_restocks(session) == [case.case_no]
    again = aftersales.receive_return(runtime.uow(), case_no=case.case_no, warehouse="HZ", actor=STAFF,
                                      policy=runtime.policy)
    assert again.restock == "done"
    assert on_hand(runtime, "SKU-001") == before + 1
    with runtime.reading() as session:
        returns = session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "return"))
    assert returns == 1
    assert verified(runtime) == []


def test_an_exchange_creates_a_free_replacement_order_once_the_goods_are_back(runtime: Runtime) -> None:
    number = two_line_order(runtime)
    case = open_case(runtime, number, CaseKind.EXCHANGE, LineRequest(line_no=1, qty=1, exchange_sku="SKU-002"))
    assert order_status(runtime, number)[0] == S.SHIPPED  # an exchange gives no money back
    approved = aftersales.approve_case(runtime.uow(), case_no=case.case_no, actor=STAFF, policy=runtime.policy)
    assert approved.status == CaseStatus.AWAITING_RETURN
    done = aftersales.receive_return(runtime.uow(), case_no=case.case_no, warehouse="HZ", actor=STAFF,
                                     policy=runtime.policy)
    assert done.status == CaseStatus.REPLACED and done.replacement_order_no
    with runtime.reading() as session:
        replacement = orders.get_order(session, done.replacement_order_no)
        assert replacement.source_type == "售后换货" and replacement.status == S.PAID
        assert [(line.sku, line.qty, line.unit_price_fen) for line in replacement.lines] == [("SKU-002", 1, 0)]
        assert replacement.channel_order_id == case.case_no and replacement.receiver_name == "张三"
    assert refunded(runtime, number) == {}
    assert verified(runtime) == []


def test_a_reship_gets_its_replacement_order_on_approval_at_another_address(runtime: Runtime) -> None:
    number = two_line_order(runtime)
    case = open_case(runtime, number, CaseKind.RESHIP, LineRequest(line_no=2, qty=1),
                     replacement_receiver={"name": "王五", "address": "文一路1号"})
    done = aftersales.approve_case(runtime.uow(), case_no=case.case_no, actor=STAFF, policy=runtime.policy)
    assert done.status == CaseStatus.REPLACED
    with runtime.reading() as session:
        replacement = orders.get_order(session, done.replacement_order_no or "")
        assert replacement.source_type == "售后补发"
        assert (replacement.receiver_name, replacement.receiver_address, replacement.receiver_city) == \
            ("王五", "文一路1号", "杭州市")
    assert timeline(runtime, case.case_no) == [("opened", None, "requested"), ("transition", "requested", "replaced")]


def test_exchange_and_reship_need_a_shipped_order(runtime: Runtime) -> None:
    number = two_line_order(runtime, ship=False)
    with pytest.raises(OrderNotEligible):
        open_case(runtime, number, CaseKind.RESHIP, LineRequest(line_no=1, qty=1))
    assert count(runtime, AfterSalesCase) == 0


# ------------------------------------------------------------------------------------------------
# Money
# ------------------------------------------------------------------------------------------------


def test_partial_refunds_per_line_add_up_and_the_last_one_refunds_the_order(runtime: Runtime) -> None:
    number = two_line_order(runtime)
    first = open_case(runtime, number, CaseKind.REFUND_ONLY, LineRequest(line_no=1, qty=2, refund_fen=19800))
    aftersales.refund_case(runtime.uow(), case_no=first.case_no, actor=STAFF)
    assert order_status(runtime, number)[0] == S.SHIPPED
    second = open_case(runtime, number, CaseKind.REFUND_ONLY, LineRequest(line_no=2, qty=1, refund_fen=12900))
    aftersales.refund_case(runtime.uow(), case_no=second.case_no, actor=STAFF)
    assert order_status(runtime, number)[0] == S.REFUNDED
    assert list(refunded(runtime, number).values()) == [32700]


def test_an_over_refund_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    number = two_line_order(runtime)
    open_case(runtime, number, CaseKind.REFUND_ONLY, LineRequest(line_no=1, qty=1, refund_fen=15000))
    cases, events, outbox = count(runtime, AfterSalesCase), count(runtime, AfterSalesEvent), count(runtime, OutboxEvent)
    status = order_status(runtime, number)
    with pytest.raises(OverRefund) as refused:  # 150.00 promised of 198.00: 60.00 more is too much
        open_case(runtime, number, CaseKind.REFUND_ONLY, LineRequest(line_no=1, qty=1, refund_fen=6000))
    assert refused.value.status == 422
    assert refused.value.details[0]["rule"] == "refund.exceeds_line_paid"
    with pytest.raises(OverRefund):
        open_case(runtime, number, CaseKind.RETURN, LineRequest(line_no=2, qty=1, refund_fen=12901))
    with pytest.raises(OverRefund):
        open_case(runtime, number, CaseKind.REFUND_ONLY, LineRequest(line_no=2, qty=1), shipping_refund_fen=1)
    assert (count(runtime, AfterSalesCase), count(runtime, AfterSalesEvent), count(runtime, OutboxEvent)) == \
        (cases, events, outbox)
    assert order_status(runtime, number) == status


def test_a_rejected_case_frees_its_promised_money(runtime: Runtime) -> None:
    number = two_line_order(runtime)
    case = open_case(runtime, number, CaseKind.REFUND_ONLY, LineRequest(line_no=1, qty=2))
    aftersales.reject_case(runtime.uow(), case_no=case.case_no, reason="已过退款期", actor=STAFF)
    assert order_status(runtime, number)[0] == S.SHIPPED
    again = open_case(runtime, number, CaseKind.REFUND_ONLY, LineRequest(line_no=1, qty=2, refund_fen=19800))
    assert again.refund_fen == 19800


def test_line_shares_split_the_order_discount_exactly() -> None:
    from orderhub.orders.model import Order, OrderLine

    order = Order(paid_amount_fen=1000, shipping_fee_fen=0,
                  lines=[OrderLine(id=1, line_no=1, sku="A", qty=1, unit_price_fen=333, discount_fen=0),
                         OrderLine(id=2, line_no=2, sku="B", qty=1, unit_price_fen=333, discount_fen=0),
                         OrderLine(id=3, line_no=3, sku="C", qty=1, unit_price_fen=334, discount_fen=0)])
    shares = aftersales.line_paid_fen(order)
    assert sum(shares.values()) == 1000 and all(abs(share - 333) <= 1 for share in shares.values())


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------


def test_bad_lines_are_all_reported_at_once(runtime: Runtime) -> None:
    number = two_line_order(runtime)
    other = two_line_order(runtime)
    with pytest.raises(CaseInvalid) as refused:
        open_case(runtime, number, CaseKind.RETURN, LineRequest(line_no=1, qty=-1), LineRequest(line_no=2, qty=2),
                  LineRequest(line_no=9, qty=1), LineRequest(line_no=1, qty=1, refund_fen=-5))
    rules = [(d["field"], d["rule"]) for d in refused.value.details]
    assert rules == [("lines[0].qty", "qty.not_positive"), ("lines[1].qty", "qty.exceeds_line"),
                     ("lines[2].line_no", "line.not_in_order"), ("lines[3].line_no", "line.repeated"),
                     ("lines[3].refund", "refund.not_fen")]
    with pytest.raises(CaseInvalid):
        open_case(runtime, number, CaseKind.RETURN, LineRequest(line_no=1, qty=1.5))  # type: ignore[arg-type]
    with pytest.raises(CaseInvalid):
        open_case(runtime, number, CaseKind.EXCHANGE, LineRequest(line_no=1, qty=1, exchange_sku="NOPE"))
    with pytest.raises(OrderNotFound):
        open_case(runtime, "PH_20261120_000000", CaseKind.RETURN, LineRequest(line_no=1, qty=1))
    assert other != number and count(runtime, AfterSalesCase) == 0


def test_illegal_moves_are_refused_with_a_conflict(runtime: Runtime) -> None:
    number = two_line_order(runtime)
    case = open_case(runtime, number, CaseKind.RETURN, LineRequest(line_no=1, qty=1))
    with pytest.raises(IllegalCaseTransition) as refused:
        aftersales.refund_case(runtime.uow(), case_no=case.case_no, actor=STAFF)  # not received yet
    assert refused.value.status == 409
    with pytest.raises(IllegalCaseTransition):
        aftersales.receive_return(runtime.uow(), case_no=case.case_no, warehouse="HZ", actor=STAFF,
                                  policy=runtime.policy)
    aftersales.close_case(runtime.uow(), case_no=case.case_no, reason="客户撤销", actor=STAFF)
    with pytest.raises(IllegalCaseTransition):
        aftersales.approve_case(runtime.uow(), case_no=case.case_no, actor=STAFF, policy=runtime.policy)
    with pytest.raises(CaseInvalid):
        aftersales.reject_case(runtime.uow(), case_no=case.case_no, reason=" ", actor=STAFF)


# ------------------------------------------------------------------------------------------------
# Interception before shipping
# ------------------------------------------------------------------------------------------------


def test_a_refund_before_shipping_holds_the_order_and_needs_interception(runtime: Runtime) -> None:
    number = two_line_order(runtime, ship=False)
    case = open_case(runtime, number, CaseKind.REFUND_ONLY, LineRequest(line_no=1, qty=2),
                     LineRequest(line_no=2, qty=1))
    assert case.needs_interception
    assert order_status(runtime, number) == (S.ON_HOLD, INTERCEPT_REASON)
    with runtime.reading() as session:
        assert [c.case_no for c in aftersales.cases_needing_interception(session)] == [case.case_no]
    aftersales.refund_case(runtime.uow(), case_no=case.case_no, actor=STAFF)
    assert order_status(runtime, number)[0] == S.REFUNDED
    with runtime.reading() as session:
        assert aftersales.cases_needing_interception(session) == []
    assert on_hand(runtime, "SKU-001") == 10  # never shipped, nothing restocked: its hold is released
    assert verified(runtime) == []


def test_closing_an_intercepting_case_releases_the_hold(runtime: Runtime) -> None:
    number = two_line_order(runtime, ship=False)
    case = open_case(runtime, number, CaseKind.RETURN, LineRequest(line_no=1, qty=1))
    assert order_status(runtime, number)[0] == S.ON_HOLD
    aftersales.close_case(runtime.uow(), case_no=case.case_no, reason="客户撤销", actor=STAFF)
    assert order_status(runtime, number) == (S.APPROVED, None)


def test_an_intercepted_return_is_received_without_restocking(runtime: Runtime) -> None:
    number = two_line_order(runtime, ship=False)
    case = open_case(runtime, number, CaseKind.RETURN, LineRequest(line_no=1, qty=2), LineRequest(line_no=2, qty=1))
    aftersales.approve_case(runtime.uow(), case_no=case.case_no, actor=STAFF, policy=runtime.policy)
    received = aftersales.receive_return(runtime.uow(), case_no=case.case_no, warehouse="HZ", actor=STAFF,
                                         policy=runtime.policy)
    assert received.restock == "none"
    aftersales.refund_case(runtime.uow(), case_no=case.case_no, actor=STAFF)
    assert on_hand(runtime, "SKU-001") == 10
    assert order_status(runtime, number)[0] == S.REFUNDED
    assert verified(runtime) == []


# ------------------------------------------------------------------------------------------------
# From channel data
# ------------------------------------------------------------------------------------------------


def test_a_platform_refund_opens_a_case_and_its_completion_refunds_it(runtime: Runtime, clock: FixedClock) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    draft = channel_draft(platform_modified_at=clock.now())
    order = intake.accept_channel_order(runtime.uow(), draft=draft, actor=CHANNEL, policy=runtime.policy)
    clock.advance(timedelta(minutes=5))
    intake.accept_channel_order(runtime.uow(), draft=channel_draft(status="refunding", channel_status="退款中",
                                platform_modified_at=clock.now()), actor=CHANNEL, policy=runtime.policy)
    with runtime.reading() as session:
        (case,) = aftersales.cases_of_order(session, order.order_no)
    assert (case.source, case.kind, case.status, case.refund_fen) == ("channel", "refund_only", "requested", 19800)
    assert case.needs_interception  # refunding from paid: the warehouse must not ship it
    clock.advance(timedelta(minutes=5))
    intake.accept_channel_order(runtime.uow(), draft=channel_draft(status="refunded", channel_status="4",
                                platform_modified_at=clock.now()), actor=CHANNEL, policy=runtime.policy)
    with runtime.reading() as session:
        (case,) = aftersales.cases_of_order(session, order.order_no)
        assert (case.status, case.channel_status) == ("refunded", "4")
        assert session.get(OrderRefund, order.id).refunded_fen == 19800  # type: ignore[union-attr]
    assert order_status(runtime, order.order_no)[0] == S.REFUNDED


def test_the_worker_finishes_a_pending_restock_without_moving_stock_twice(runtime: Runtime) -> None:
    from orderhub.aftersales import jobs

    number = two_line_order(runtime)
    before = on_hand(runtime, "SKU-003")
    case = open_case(runtime, number, CaseKind.RETURN, LineRequest(line_no=2, qty=1))
    aftersales.approve_case(runtime.uow(), case_no=case.case_no, actor=STAFF, policy=runtime.policy)
    aftersales.receive_return(runtime.uow(), case_no=case.case_no, warehouse="GZ", actor=STAFF, policy=runtime.policy)
    with runtime.uow() as uow:
        uow.session.get(AfterSalesCase, case.id).restock = "pending"  # type: ignore[union-attr]
        uow.commit()
    assert jobs.finish_restocks(runtime) == 1
    assert jobs.finish_restocks(runtime) == 0
    assert on_hand(runtime, "SKU-003") == before + 1
    assert [kind for kind, _, _ in timeline(runtime, case.case_no)].count("restocked") == 2
    assert verified(runtime) == []


def test_a_platform_refund_after_a_partial_one_refunds_only_what_is_left(runtime: Runtime, clock: FixedClock) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    order = intake.accept_channel_order(runtime.uow(), draft=channel_draft(platform_modified_at=clock.now()),
                                        actor=CHANNEL, policy=runtime.policy)
    for target in (S.APPROVED, S.ALLOCATED, S.PICKING, S.PACKED, S.SHIPPED):
        orders.transition_order(runtime.uow(), order_no=order.order_no, target=target, reason="test", actor=STAFF,
                                policy=runtime.policy)
    partial = open_case(runtime, order.order_no, CaseKind.REFUND_ONLY, LineRequest(line_no=1, qty=1, refund_fen=3000))
    aftersales.refund_case(runtime.uow(), case_no=partial.case_no, actor=STAFF)
    clock.advance(timedelta(minutes=5))
    intake.accept_channel_order(runtime.uow(), draft=channel_draft(status="refunded", channel_status="4",
                                platform_modified_at=clock.now()), actor=CHANNEL, policy=runtime.policy)
    with runtime.reading() as session:
        cases = aftersales.cases_of_order(session, order.order_no)
    assert [(c.source, c.status, c.refund_fen) for c in cases] == [("staff", "refunded", 3000),
                                                                   ("channel", "refunded", 16800)]
    assert list(refunded(runtime, order.order_no).values()) == [19800]
    assert order_status(runtime, order.order_no)[0] == S.REFUNDED
