"""The discrepancy pool on SQLite and PostgreSQL: owners by rule, 48 h escalation, resolution with an audit trail."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.outbox import OutboxEvent
from orderhub.finance import jobs, service
from orderhub.finance.engine import Scope
from orderhub.finance.errors import (
    DiscrepancyClosed,
    DiscrepancyNotFound,
    InvalidSelection,
    ResolutionReasonRequired,
    UnknownOwner,
)
from orderhub.finance.model import Discrepancy, ReconClass
from orderhub.finance.repository import DiscrepancyFilters
from orderhub.runtime import Runtime
from tests.integration.finance.conftest import Importer, OrderMaker, pay, wechat

CLERK = Actor("wang", "console")
BUSINESS_DAY = date(2026, 11, 19)


@pytest.fixture
def pool(runtime: Runtime, make_order: OrderMaker, import_bytes: Importer) -> dict[str, Discrepancy]:
    """Four amount mismatches that fit different owner rules, and one payment without an order."""
    plain = make_order(19800)
    large = make_order(600000, lines=(("SKU-002", 15, 40000),))
    tmall = make_order(12900, channel="tmall", channel_order_id="3456789012345678901")
    south = make_order(9900, province="广东省")
    import_bytes(wechat(pay(plain, 19000, txn="T-1"), pay(large, 590000, txn="T-2"),
                        pay("3456789012345678901", 12000, txn="T-3"), pay(south, 9000, txn="T-4"),
                        pay("UNKNOWN-9", 100, txn="T-5")))
    service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY), actor=service.SYSTEM_ACTOR)
    with runtime.reading() as session:
        found = {d.order_no or d.reference: d for d in session.scalars(select(Discrepancy))}
    names = {plain.order_no: "plain", large.order_no: "large", tmall.order_no: "tmall", south.order_no: "south",
             "UNKNOWN-9": "stray"}
    return {names[key]: value for key, value in found.items()}


def test_each_discrepancy_gets_its_owner_and_supervisor_by_the_first_rule_that_fits(
    pool: dict[str, Discrepancy]
) -> None:
    owners = {name: (d.owner, d.supervisor, d.rule) for name, d in pool.items()}
    assert owners == {
        "plain": ("finance", "finance-lead", "default"),
        "large": ("finance-lead", "cfo", "大额 large amounts"),
        "tmall": ("finance-ali", "finance-lead", "阿里系 Tmall and Taobao"),
        "south": ("finance-south", "finance-lead", "华南 South China"),
        "stray": ("finance", "finance-lead", "default"),
    }
    assert pool["plain"].recon_class == ReconClass.AMOUNT_MISMATCH and pool["plain"].difference_fen == -800
    assert pool["stray"].recon_class == ReconClass.PAYMENT_WITHOUT_ORDER and pool["stray"].actual_fen == 100


def test_an_open_discrepancy_goes_to_the_supervisor_after_48_hours_once(
    runtime: Runtime, clock: FixedClock, pool: dict[str, Discrepancy]
) -> None:
    clock.advance(timedelta(hours=47, minutes=59))
    assert service.escalate_overdue(runtime.uow()) == 0
    service.resolve_discrepancies(runtime.uow(), ids=[pool["stray"].id], reason="退款给客户", actor=CLERK)
    clock.advance(timedelta(minutes=2))
    assert jobs.escalate(runtime) == "0 unpaid orders raised, 4 discrepancies escalated"
    assert service.escalate_overdue(runtime.uow()) == 0
    with runtime.reading() as session:
        plain = service.get_discrepancy(session, pool["plain"].id)
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == service.ESCALATED_TOPIC)).all()
    found = plain.discrepancy
    assert (found.status, found.owner, found.escalated_at) == ("escalated", "finance-lead", clock.now())
    last = plain.events[-1]
    assert (last.action, last.from_owner, last.to_owner, last.actor) == ("escalated", "finance", "finance-lead",
                                                                         "reconciliation")
    assert len(events) == 4 and {event.payload["supervisor"] for event in events} == {"finance-lead", "cfo"}


def test_resolving_needs_a_reason_and_leaves_who_when_and_why_in_the_trail(
    runtime: Runtime, clock: FixedClock, pool: dict[str, Discrepancy]
) -> None:
    target = pool["plain"].id
    with pytest.raises(ResolutionReasonRequired):
        service.resolve_one(runtime.uow(), discrepancy_id=target, reason="  ", actor=CLERK)
    resolved = service.resolve_one(runtime.uow(), discrepancy_id=target, reason="客户少付 8 元，已线下补齐",
                                   actor=CLERK)
    assert (resolved.status, resolved.resolved_by, resolved.resolved_at) == ("resolved", "wang", clock.now())
    with pytest.raises(DiscrepancyClosed):
        service.resolve_one(runtime.uow(), discrepancy_id=target, reason="again", actor=CLERK)
    with runtime.reading() as session:
        trail = service.get_discrepancy(session, target).events
    assert [(e.action, e.actor, e.source, e.reason) for e in trail] == [
        ("created", "reconciliation", "worker", "amount_mismatch → finance (default)"),
        ("resolved", "wang", "console", "客户少付 8 元，已线下补齐"),
    ]
    # A rerun finds the same problem and leaves the resolution alone.
    service.reconcile(runtime, scope=Scope.days(BUSINESS_DAY), actor=service.SYSTEM_ACTOR)
    with runtime.reading() as session:
        assert session.get(Discrepancy, target).status == "resolved"


def test_bulk_assign_and_resolve_change_the_open_ones_and_skip_the_closed(
    runtime: Runtime, pool: dict[str, Discrepancy]
) -> None:
    ids = [d.id for d in pool.values()]
    service.resolve_discrepancies(runtime.uow(), ids=[pool["south"].id], reason="已核实", actor=CLERK)
    assigned = service.assign_discrepancies(runtime.uow(), ids=ids, owner="li.si", reason="交接", actor=CLERK)
    assert sorted(d.id for d in assigned.changed) == sorted(set(ids) - {pool["south"].id})
    assert assigned.skipped == [pool["south"].id]
    resolved = service.resolve_discrepancies(runtime.uow(), ids=ids, reason="月末批量核销", actor=CLERK)
    assert len(resolved.changed) == 4 and resolved.skipped == [pool["south"].id]
    with runtime.reading() as session:
        mine = service.list_discrepancies(session, DiscrepancyFilters(status="resolved", owner="li.si"), limit=2)
        assert len(mine.items) == 2 and mine.next_cursor is not None
        rest = service.list_discrepancies(session, DiscrepancyFilters(status="resolved", owner="li.si"), limit=2,
                                          cursor=mine.next_cursor)
        assert len(rest.items) == 2 and rest.next_cursor is None
        assert {d.id for d in mine.items + rest.items} == set(ids) - {pool["south"].id}
        assert service.discrepancy_counts(session, DiscrepancyFilters()) == {"resolved": 5}
        trail = service.get_discrepancy(session, pool["plain"].id).events
    assert [(e.action, e.from_owner, e.to_owner) for e in trail][1:] == [
        ("assigned", "finance", "li.si"), ("resolved", "li.si", None)]


def test_bulk_actions_refuse_bad_selections_and_change_nothing(
    runtime: Runtime, pool: dict[str, Discrepancy]
) -> None:
    with pytest.raises(InvalidSelection):
        service.resolve_discrepancies(runtime.uow(), ids=[], reason="x", actor=CLERK)
    with pytest.raises(InvalidSelection):
        service.resolve_discrepancies(runtime.uow(), ids=list(range(1, 300)), reason="x", actor=CLERK)
    with pytest.raises(DiscrepancyNotFound, match="999999"):
        service.resolve_discrepancies(runtime.uow(), ids=[pool["plain"].id, 999999], reason="x", actor=CLERK)
    with pytest.raises(UnknownOwner):
        service.assign_discrepancies(runtime.uow(), ids=[pool["plain"].id], owner="not a name!", actor=CLERK)
    with runtime.reading() as session:
        assert session.get(Discrepancy, pool["plain"].id).status == "open"
