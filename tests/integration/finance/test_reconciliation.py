"""Reconciliation on SQLite and PostgreSQL: every class reached, each line and order in one, reruns idempotent."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from orderhub.finance import service
from orderhub.finance.engine import Scope
from orderhub.finance.explain import match_text
from orderhub.finance.model import (
    Discrepancy,
    DiscrepancyEvent,
    LineResult,
    Method,
    Receivable,
    ReconClass,
    StatementLine,
)
from orderhub.runtime import Runtime
from orderhub.simulators.statements import BillLine
from tests.integration.finance.conftest import DAY, Importer, OrderMaker, pay, refund, wechat

C = ReconClass
ACTOR = service.SYSTEM_ACTOR
BUSINESS_DAY = date(2026, 11, 19)


def classes(runtime: Runtime) -> tuple[dict[str, str], dict[int, str]]:
    """(order_no → class, line id → class) of the latest run."""
    with runtime.reading() as session:
        orders = dict(session.execute(select(Receivable.order_no, Receivable.recon_class)).all())
        lines = dict(session.execute(select(LineResult.line_id, LineResult.recon_class)).all())
    return orders, lines


def line_class(runtime: Runtime, txn_id: str) -> tuple[str, str | None, dict | None]:
    with runtime.reading() as session:
        row = session.execute(
            select(LineResult.recon_class, LineResult.method, LineResult.detail)
            .join(StatementLine, StatementLine.id == LineResult.line_id).where(StatementLine.txn_id == txn_id)
        ).one()
    return row[0], row[1], row[2]


def test_every_class_is_reached_and_each_line_and_order_lands_in_exactly_one(
    runtime: Runtime, make_order: OrderMaker, import_bytes: Importer
) -> None:
    matched = make_order(19800)
    short = make_order(9900)
    unpaid = make_order(5000, at=DAY - timedelta(days=5))  # past the 2-day settlement window of phone orders
    twice = make_order(12900)
    partly = make_order(39900, status="refunded")
    fee = make_order(100000)
    no_ref = make_order(7777, customer="李四")
    report = import_bytes(wechat(
        pay(matched, txn="T-1"),
        pay(short, 9800, txn="T-2"),
        pay(twice, txn="T-3"), pay(twice, txn="T-4", minutes=5),
        pay(partly, txn="T-5"), refund(partly, 10000, txn="T-5", refund_id="RF-5"),
        pay(fee, txn="T-6", fee_fen=900),  # 0.60 % of 1000.00 is 6.00
        pay("NOSUCHORDER1", 4200, txn="T-7"),
        BillLine(reference="", amount_fen=7777, at=DAY + timedelta(minutes=3), txn_id="T-8"),
    ))
    assert (report.new, report.refused) == (9, 0), (report.duplicate, report.skipped, report.samples)

    run = service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY - timedelta(days=5), BUSINESS_DAY), actor=ACTOR)

    orders, lines = classes(runtime)
    assert orders == {
        matched.order_no: C.MATCHED, short.order_no: C.AMOUNT_MISMATCH, unpaid.order_no: C.ORDER_WITHOUT_PAYMENT,
        twice.order_no: C.DUPLICATE_PAYMENT, partly.order_no: C.PARTIAL_REFUND, fee.order_no: C.FEE_MISMATCH,
        no_ref.order_no: C.MATCHED,
    }
    assert len(lines) == 9 and run.lines == 9 and run.orders == 7
    assert line_class(runtime, "T-4")[0] == C.DUPLICATE_PAYMENT and line_class(runtime, "T-3")[0] == C.MATCHED
    assert line_class(runtime, "T-7")[0] == C.PAYMENT_WITHOUT_ORDER
    klass, method, detail = line_class(runtime, "T-8")
    assert (klass, method) == (C.MATCHED, Method.AMOUNT_TIME) and detail and detail["seconds"] == 180
    assert "3.0 分钟" in match_text(method, detail, "", "zh-CN") and "paid 3.0 min apart" in match_text(
        method, detail, "", "en")
    assert sum(run.line_classes.values()) == 9 and sum(run.order_classes.values()) == 7

    with runtime.reading() as session:
        pool = {(d.recon_class, d.order_no or d.reference) for d in session.scalars(select(Discrepancy))}
    assert pool == {
        (C.AMOUNT_MISMATCH, short.order_no), (C.ORDER_WITHOUT_PAYMENT, unpaid.order_no),
        (C.DUPLICATE_PAYMENT, twice.order_no), (C.PARTIAL_REFUND, partly.order_no), (C.FEE_MISMATCH, fee.order_no),
        (C.PAYMENT_WITHOUT_ORDER, "NOSUCHORDER1"),
    }
    assert run.discrepancies_created == 6


def test_a_rerun_changes_nothing_and_adds_nothing(runtime: Runtime, make_order: OrderMaker, import_bytes: Importer
                                                  ) -> None:
    paid = make_order(19800)
    short = make_order(9900)
    import_bytes(wechat(pay(paid, txn="T-1"), pay(short, 9000, txn="T-2"), pay("STRAY-0001", 100, txn="T-3")))
    scope = Scope.days(BUSINESS_DAY)
    first = service.reconcile(runtime, scope=scope, actor=ACTOR)
    before = classes(runtime)
    with runtime.reading() as session:
        pool_before = [(d.id, d.status, d.owner, d.version) for d in session.scalars(select(Discrepancy))]
        events_before = session.scalar(select(func.count()).select_from(DiscrepancyEvent))
    second = service.reconcile(runtime, scope=scope, actor=ACTOR)
    assert classes(runtime) == before
    assert (second.discrepancies_created, second.discrepancies_cleared) == (0, 0) and first.discrepancies_created == 2
    with runtime.reading() as session:
        assert [(d.id, d.status, d.owner, d.version) for d in session.scalars(select(Discrepancy))] == pool_before
        assert session.scalar(select(func.count()).select_from(DiscrepancyEvent)) == events_before
        assert session.scalar(select(func.count()).select_from(Receivable)) == 2


def test_a_payment_arriving_later_clears_the_discrepancy_and_the_trail_says_so(
    runtime: Runtime, make_order: OrderMaker, import_bytes: Importer
) -> None:
    late = make_order(5000, at=DAY - timedelta(days=3))
    scope = Scope.days(BUSINESS_DAY - timedelta(days=3), BUSINESS_DAY)
    service.reconcile(runtime, scope=scope, actor=ACTOR)
    with runtime.reading() as session:
        found = session.scalars(select(Discrepancy)).one()
    assert (found.recon_class, found.status) == (C.ORDER_WITHOUT_PAYMENT, "open")
    import_bytes(wechat(pay(late, txn="T-late")))
    # The line's business day pulls in the order of three days before.
    run = service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY), actor=ACTOR)
    assert run.discrepancies_cleared == 1
    with runtime.reading() as session:
        found = session.scalars(select(Discrepancy)).one()
        actions = [event.action for event in service.get_discrepancy(session, found.id).events]
        assert session.get(Receivable, late.id).recon_class == C.MATCHED
    assert found.status == "cleared" and actions == ["created", "cleared"]


def test_a_mistyped_reference_is_matched_fuzzily_and_an_ambiguous_one_is_left_for_a_person(
    runtime: Runtime, make_order: OrderMaker, import_bytes: Importer
) -> None:
    typo = make_order(23456)
    mistyped = typo.order_no[:-1] + ("0" if typo.order_no[-1] != "0" else "1")
    a = make_order(1000, channel_order_id="SAME-REF-1", at=DAY - timedelta(hours=1))
    b = make_order(1000, channel_order_id="SAME-REF-1", channel="douyin", at=DAY - timedelta(hours=1))
    import_bytes(wechat(pay(mistyped, 23456, txn="T-typo", minutes=120),
                        pay("SAME-REF-1", 1000, txn="T-amb", minutes=600)))
    service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY), actor=ACTOR)
    klass, method, detail = line_class(runtime, "T-typo")
    assert (klass, method) == (C.MATCHED, Method.FUZZY) and detail and detail["code"] == "fuzzy_reference"
    assert typo.order_no in match_text(method, detail, mistyped, "en")
    klass, method, detail = line_class(runtime, "T-amb")
    assert klass == C.PAYMENT_WITHOUT_ORDER and detail == {"code": "ambiguous"}
    assert "fits several orders" in match_text(method or "none", detail, "SAME-REF-1", "en")
    orders, _ = classes(runtime)
    assert orders[a.order_no] == orders[b.order_no] == C.ORDER_WITHOUT_PAYMENT
