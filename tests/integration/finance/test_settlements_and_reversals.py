"""Platform settlements against the ±0.5 % tolerance, and refunds reversing receivables and margins."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from orderhub.auth.permissions import Permission
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.finance import jobs, service
from orderhub.finance.engine import Scope
from orderhub.finance.errors import SettlementBatchNotFound
from orderhub.finance.model import Receivable, ReceivableAdjustment, ReconClass, Source
from orderhub.orders import service as orders
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.integration.finance.conftest import Importer, OrderMaker, pay, wechat

BUSINESS_DAY = date(2026, 11, 19)
TOLERANCE = Decimal("0.005")
HEADER = ("账务流水号,结算批次号,结算时间,淘宝订单号,业务类型,订单金额（元）,天猫佣金（元）,技术服务费（元）,"
          "结算金额（元）\n")
OPS = Actor("ops", "console", frozenset({Permission.ORDERS_TRANSITION.value}))


def settlement_row(txn: str, batch: str, tid: str, gross: str, commission: str, fee: str, net: str) -> str:
    return f"{txn},{batch},2026-11-19 20:00:00,{tid},交易收款,{gross},{commission},{fee},{net}\n"


def test_a_settlement_batch_outside_the_tolerance_is_flagged_with_the_orders_behind_it(
    runtime: Runtime, make_order: OrderMaker, import_bytes: Importer
) -> None:
    for tid, fen in [("T100", 10000), ("T101", 20000), ("T200", 10000), ("T201", 50000)]:
        make_order(fen, channel="tmall", channel_order_id=tid)
    # Tmall's agreed 5 % commission and 0.6 % fee: 100.00 brings 94.40, 200.00 brings 188.80.
    text = HEADER + (
        settlement_row("S-1", "B-OK", "T100", "100.00", "5.00", "0.60", "94.40")
        + settlement_row("S-2", "B-OK", "T101", "200.00", "10.00", "1.20", "188.79")  # 1 fen short: within ±0.5 %
        + settlement_row("S-3", "B-SHORT", "T200", "100.00", "5.00", "0.60", "94.40")
        + settlement_row("S-4", "B-SHORT", "T201", "500.00", "45.00", "3.00", "452.00")  # 9 % commission taken
    )
    report = import_bytes(text.encode(), source=Source.SETTLEMENT, name="tmall.csv")
    assert report.new == 4
    service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY), actor=service.SYSTEM_ACTOR)

    with runtime.reading() as session:
        batches = {b.batch_no: b for b in service.settlement_batches(
            session, rules=service.rules_of(runtime), tolerance=TOLERANCE, date_from=BUSINESS_DAY,
            date_to=BUSINESS_DAY)}
        detail = service.settlement_batch(session, channel="tmall", batch_no="B-SHORT",
                                          rules=service.rules_of(runtime), tolerance=TOLERANCE)
        flagged = service.settlement_batches(session, rules=service.rules_of(runtime), tolerance=TOLERANCE,
                                             flagged_only=True)
        receivable = session.scalars(select(Receivable).where(Receivable.channel_order_id == "T201")).one()
        with pytest.raises(SettlementBatchNotFound):
            service.settlement_batch(session, channel="tmall", batch_no="B-NONE", rules=service.rules_of(runtime),
                                     tolerance=TOLERANCE)
    ok, short = batches["B-OK"], batches["B-SHORT"]
    assert (ok.expected_fen, ok.received_fen, ok.flagged) == (28320, 28319, False)
    assert (short.expected_fen, short.received_fen, short.flagged, short.orders) == (56640, 54640, True, 2)
    assert short.deviation is not None and short.deviation < Decimal("-0.005")
    assert [m.reference for m in detail.orders] == ["T201", "T200"]
    assert detail.orders[0].difference_fen == 45200 - 47200
    assert [b.batch_no for b in flagged] == ["B-SHORT"]
    assert receivable.recon_class == ReconClass.FEE_MISMATCH


def test_a_refund_reverses_the_receivable_and_the_margin_once(
    runtime: Runtime, clock: FixedClock, make_order: OrderMaker, import_bytes: Importer
) -> None:
    order = make_order(19800)  # two SKU-001 at a cost of 49.50 each
    import_bytes(wechat(pay(order, txn="T-1")))
    service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY), actor=service.SYSTEM_ACTOR)
    with runtime.reading() as session:
        before = session.get(Receivable, order.id)
    assert (before.cost_fen, before.margin_fen, before.refunded_fen, before.cost_complete) == (9900, 9900, 0, True)

    for target in (OrderStatus.REFUNDING, OrderStatus.REFUNDED):
        orders.transition_order(runtime.uow(), order_no=order.order_no, target=target, reason="客户退货",
                                actor=OPS, policy=runtime.policy)
    assert jobs.reversals(runtime) == "1 orders adjusted for refunds"
    assert service.apply_refunds(runtime) == []
    with runtime.reading() as session:
        after = session.get(Receivable, order.id)
        adjustments = session.scalars(select(ReceivableAdjustment)).all()
    assert (after.refunded_fen, after.margin_fen, after.order_status) == (19800, 0, "refunded")
    assert [(a.refunded_delta_fen, a.margin_delta_fen, a.order_status, a.reason, a.at) for a in adjustments] == [
        (19800, -9900, "refunded", "客户退货", clock.now())]
    # WeChat has not refunded anything yet: OrderHub's refund against the statement's is a discrepancy.
    assert after.recon_class == ReconClass.AMOUNT_MISMATCH


def test_a_partial_refund_keeps_the_cost_of_the_goods_kept_in_the_margin(
    runtime: Runtime, make_order: OrderMaker, import_bytes: Importer
) -> None:
    order = make_order(19800, channel="miniprogram", status="refunding",
                       raw_payload={"refund": {"amount": "50.00"}})
    import_bytes(wechat(pay(order, txn="T-1")))
    service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY), actor=service.SYSTEM_ACTOR)
    with runtime.reading() as session:
        receivable = session.get(Receivable, order.id)
    assert (receivable.refunded_fen, receivable.cost_fen, receivable.margin_fen) == (5000, 9900, 19800 - 5000 - 9900)
    assert receivable.recon_class == ReconClass.AMOUNT_MISMATCH  # refunded 50.00, the statement shows none yet
    import_bytes(wechat(pay(order, txn="T-1"), pay(order, 5000, txn="T-1", refund_id="R-1", minutes=30)),
                 name="with-refund.csv")
    service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY), actor=service.SYSTEM_ACTOR)
    with runtime.reading() as session:
        receivable = session.get(Receivable, order.id)
        open_problems = [d for d in service.export_discrepancies(session, service.DiscrepancyFilters(
            status="unresolved"))]
    assert receivable.recon_class == ReconClass.PARTIAL_REFUND and receivable.statement_refund_fen == 5000
    assert open_problems == []  # the statement agrees with OrderHub: partial refund, nothing to do


def test_a_partial_after_sales_refund_of_a_shipped_order_reverses_its_receivable(
    runtime: Runtime, make_order: OrderMaker, import_bytes: Importer
) -> None:
    from orderhub.aftersales import service as aftersales
    from orderhub.aftersales.model import CaseKind
    from orderhub.aftersales.service import CaseRequest, LineRequest

    staff = Actor("kefu", "api", frozenset({"orders.transition", "aftersales.handle"}))
    order = make_order(19800)  # two SKU-001 at a cost of 49.50 each
    for target in (OrderStatus.APPROVED, OrderStatus.ALLOCATED, OrderStatus.PICKING, OrderStatus.PACKED,
                   OrderStatus.SHIPPED):
        orders.transition_order(runtime.uow(), order_no=order.order_no, target=target, reason="test", actor=staff,
                                policy=runtime.policy)
    import_bytes(wechat(pay(order, txn="T-1")))
    service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY), actor=service.SYSTEM_ACTOR)
    case = aftersales.open_case(runtime.uow(), actor=staff, request=CaseRequest(
        order_no=order.order_no, kind=CaseKind.REFUND_ONLY, reason="少件补偿",
        lines=[LineRequest(line_no=1, qty=1, refund_fen=3000)]))
    aftersales.approve_case(runtime.uow(), case_no=case.case_no, actor=staff, policy=runtime.policy)
    aftersales.refund_case(runtime.uow(), case_no=case.case_no, actor=staff)

    assert [r.refunded_delta_fen for r in service.apply_refunds(runtime)] == [3000]
    assert service.apply_refunds(runtime) == []  # counted once
    with runtime.reading() as session:
        after = session.get(Receivable, order.id)
        adjustment = session.scalars(select(ReceivableAdjustment)).one()
    assert (after.order_status, after.refunded_fen, after.margin_fen) == ("shipped", 3000, 19800 - 3000 - 9900)
    assert (adjustment.refunded_delta_fen, adjustment.margin_delta_fen) == (3000, -3000)
