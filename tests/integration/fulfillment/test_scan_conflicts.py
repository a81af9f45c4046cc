"""Scan conflicts settled by a person, on SQLite and PostgreSQL: apply through the scan rules or dismiss, once,
with a note; a refused apply changes nothing; a user held to one warehouse sees only its own conflicts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.errors import InvalidInput
from orderhub.core.outbox import OutboxEvent
from orderhub.fulfillment import scans, service
from orderhub.fulfillment.errors import ConflictAlreadyResolved, ConflictStillRefused, UnknownScanConflict
from orderhub.fulfillment.model import ScanKind, WarehouseScan
from orderhub.fulfillment.scans import ConflictDecision, ConflictState, Scan, ScanRules
from orderhub.fulfillment.tables import load_tables
from orderhub.orders import service as orders
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import STAFF, approved_order, events, put_stock, set_up_warehouses

pytestmark = pytest.mark.usefixtures("merchant", "warehouses")
TABLES = load_tables()
SCANNER = Actor("pda-hz-01", "scanner")
LEAD = Actor("hz-lead", "console")


@pytest.fixture
def warehouses(runtime: Runtime, merchant: None) -> None:
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=10)


def routed(runtime: Runtime) -> str:
    order_no = approved_order(runtime, "杭州", lines=[("R-CUP", 1)])
    service.route_order(runtime.uow(), order_no=order_no, tables=TABLES, actor=STAFF)
    return order_no


def scan(order_no: str, kind: ScanKind, at: datetime, *, warehouse: str = "WH-HZ") -> Scan:
    return Scan("pda-hz-01", f"{order_no}-{kind.value}", warehouse, f"{order_no}-1", kind, at)


def offline(runtime: Runtime, *taken: Scan) -> list[scans.ScanResult]:
    return scans.apply_batch(runtime.uow(), scans=list(taken), actor=SCANNER)


def shipment_status(runtime: Runtime, order_no: str) -> tuple[str, str]:
    with runtime.reading() as session:
        routing = service.order_routing(session, order_no)
        return routing.order.status, routing.shipments[0].status


def conflict_id(runtime: Runtime) -> int:
    with runtime.reading() as session:
        (row,) = scans.scan_conflicts(session)
        return row.id


def resolve(runtime: Runtime, conflict: int, decision: ConflictDecision, note: str = "已核对",
            rules: ScanRules = ScanRules()) -> WarehouseScan:
    return scans.resolve_conflict(runtime.uow(), conflict_id=conflict, decision=decision, note=note, actor=LEAD,
                                  rules=rules)


def outbox_count(runtime: Runtime) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.count()).select_from(OutboxEvent)) or 0


def test_a_scan_refused_on_hold_is_applied_once_the_hold_is_lifted_and_the_decision_is_kept(
        runtime: Runtime, clock: FixedClock) -> None:
    order_no = routed(runtime)
    start = clock.now() - timedelta(hours=2)
    offline(runtime, scan(order_no, ScanKind.PICK_STARTED, start))
    orders.transition_order(runtime.uow(), order_no=order_no, target=OrderStatus.ON_HOLD, reason="客户要求暂缓发货",
                            actor=STAFF, policy=runtime.policy)
    (refused,) = offline(runtime, scan(order_no, ScanKind.PICKED, start + timedelta(minutes=5)))
    assert (refused.outcome, refused.error_code) == ("conflict", "fulfillment.shipment_frozen")
    conflict = conflict_id(runtime)
    before = outbox_count(runtime)

    # Still on hold: the rules refuse it again, and nothing changes.
    with pytest.raises(ConflictStillRefused) as still:
        resolve(runtime, conflict, ConflictDecision.APPLY, "仓库说已拣完")
    assert still.value.status == 409 and still.value.details[0]["code"] == "fulfillment.shipment_frozen"
    assert "暂缓发货" in still.value.message
    assert shipment_status(runtime, order_no) == ("on_hold", "picking")
    assert outbox_count(runtime) == before
    with runtime.reading() as session:
        assert scans.get_conflict(session, conflict_id=conflict).resolution == ""

    orders.transition_order(runtime.uow(), order_no=order_no, target=OrderStatus.PICKING, reason="客户确认照常发货",
                            actor=STAFF, policy=runtime.policy)
    clock.advance(timedelta(minutes=30))
    decided = resolve(runtime, conflict, ConflictDecision.APPLY, "  挂起已解除，当时确已拣完  ")

    assert (decided.outcome, decided.resolution, decided.resolved_by) == ("applied", "applied", "hz-lead")
    assert (decided.resolution_note, decided.resolved_at) == ("挂起已解除，当时确已拣完", clock.now())
    assert decided.error_code == "fulfillment.shipment_frozen"  # why it was refused stays on record
    assert shipment_status(runtime, order_no) == ("picking", "picked")
    (settled,) = events(runtime, "fulfillment.scan_conflict_resolved")
    assert {k: settled.payload[k] for k in ("id", "decision", "outcome", "resolved_by")} == {
        "id": conflict, "decision": "apply", "outcome": "applied", "resolved_by": "hz-lead"}
    assert events(runtime, "fulfillment.shipment_scanned")[-1].payload["resolved_conflict"] == conflict

    with pytest.raises(ConflictAlreadyResolved) as twice:
        resolve(runtime, conflict, ConflictDecision.DISMISS, "再处理一次")
    assert twice.value.status == 409 and "hz-lead" in twice.value.message
    # The device uploading its log again is told what the scan did now, without the old refusal.
    (replayed,) = offline(runtime, scan(order_no, ScanKind.PICKED, start + timedelta(minutes=5)))
    assert (replayed.outcome, replayed.replay, replayed.error_code, replayed.shipment_status) == (
        "applied", True, "", "picked")
    # A later scan is judged against the applied one's event time.
    offline(runtime, scan(order_no, ScanKind.PACKED, start + timedelta(minutes=9)))
    assert shipment_status(runtime, order_no) == ("packed", "packed")
    with runtime.reading() as session:
        assert scans.scan_conflicts(session) == []
        assert [row.id for row in scans.scan_conflicts(session, state=ConflictState.RESOLVED)] == [conflict]


def test_a_conflict_is_dismissed_with_a_note_and_the_parcel_stays_as_it_was(
        runtime: Runtime, clock: FixedClock) -> None:
    order_no = routed(runtime)
    start = clock.now() - timedelta(hours=2)
    offline(runtime, scan(order_no, ScanKind.PACKED, start))  # skips picking: out of order
    conflict = conflict_id(runtime)

    for blank in ("", "   "):
        with pytest.raises(InvalidInput) as no_note:
            resolve(runtime, conflict, ConflictDecision.DISMISS, blank)
        assert no_note.value.details[0]["field"] == "note"
    with pytest.raises(InvalidInput, match="500"):
        resolve(runtime, conflict, ConflictDecision.DISMISS, "长" * 501)
    dismissed = resolve(runtime, conflict, ConflictDecision.DISMISS, "扫错了，包裹还没拣")

    assert (dismissed.outcome, dismissed.resolution, dismissed.resolution_note) == (
        "conflict", "dismissed", "扫错了，包裹还没拣")
    assert shipment_status(runtime, order_no) == ("allocated", "planned")
    assert events(runtime, "fulfillment.scan_conflict_resolved")[0].payload["decision"] == "dismiss"
    with runtime.reading() as session:
        assert scans.scan_conflicts(session) == []
        assert [r.id for r in scans.scan_conflicts(session, state=ConflictState.ALL)] == [conflict]
    with pytest.raises(ConflictAlreadyResolved):
        resolve(runtime, conflict, ConflictDecision.APPLY)


def test_applying_a_scan_the_parcel_has_moved_past_is_refused_or_already_done(
        runtime: Runtime, clock: FixedClock) -> None:
    late, done = routed(runtime), routed(runtime)
    start = clock.now() - timedelta(hours=2)
    offline(runtime, scan(late, ScanKind.PACKED, start), scan(done, ScanKind.PICKED, start))
    with runtime.reading() as session:
        ids = {row.order_no: row.id for row in scans.scan_conflicts(session)}
    # Meanwhile both parcels were picked, later than the refused scans were taken.
    for order_no, kinds in ((late, (ScanKind.PICK_STARTED, ScanKind.PICKED)), (done, (ScanKind.PICK_STARTED,))):
        for step, kind in enumerate(kinds):
            scans.apply_scan(runtime.uow(), scan=Scan("pda-2", f"{order_no}-{step}", "WH-HZ", f"{order_no}-1", kind,
                                                      start + timedelta(minutes=10 + step)), actor=SCANNER)
    scans.apply_scan(runtime.uow(), scan=Scan("pda-2", f"{done}-x", "WH-HZ", f"{done}-1", ScanKind.PICKED,
                                              start + timedelta(minutes=20)), actor=SCANNER)

    with pytest.raises(ConflictStillRefused) as earlier:
        resolve(runtime, ids[late], ConflictDecision.APPLY)
    already = resolve(runtime, ids[done], ConflictDecision.APPLY, "重复扫描")

    assert earlier.value.details[0]["code"] == "fulfillment.scan_out_of_order"
    assert shipment_status(runtime, late) == ("picking", "picked")
    assert (already.outcome, already.resolution) == ("already_done", "applied")
    assert shipment_status(runtime, done) == ("picking", "picked")


def test_a_user_held_to_one_warehouse_sees_and_settles_only_its_own_conflicts(
        runtime: Runtime, clock: FixedClock) -> None:
    order_no = routed(runtime)
    start = clock.now() - timedelta(hours=2)
    offline(runtime, scan(order_no, ScanKind.PICK_STARTED, start),
            scan(order_no, ScanKind.SHIPPED, start + timedelta(minutes=1)))
    conflict = conflict_id(runtime)
    with runtime.reading() as session:
        applied_id = session.scalar(select(WarehouseScan.id).where(WarehouseScan.outcome == "applied"))
    gz = ScanRules(scope="WH-GZ")

    for missing in (conflict, applied_id or 0, 999_999):
        with pytest.raises(UnknownScanConflict) as hidden:
            resolve(runtime, missing, ConflictDecision.DISMISS, rules=gz)
        assert hidden.value.status == 404 and "WH-HZ" not in hidden.value.message
    with runtime.reading() as session:
        assert scans.scan_conflicts(session, warehouse="WH-GZ") == []
    assert resolve(runtime, conflict, ConflictDecision.DISMISS, rules=ScanRules(scope="WH-HZ")).resolution == (
        "dismissed")
