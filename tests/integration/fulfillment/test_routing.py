"""Routing on SQLite and PostgreSQL: warehouse and carrier choice, splits, waiting for stock, the breaker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from orderhub.core.clock import FixedClock
from orderhub.fulfillment import jobs, service
from orderhub.fulfillment.errors import OrderNotRoutable, UnknownWarehouse
from orderhub.fulfillment.model import RoutingDecision, Shipment
from orderhub.fulfillment.tables import load_tables
from orderhub.inventory import service as inventory
from orderhub.orders import service as orders
from orderhub.orders.model import Order
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import (
    STAFF,
    approved_order,
    events,
    free_stock,
    put_stock,
    set_up_warehouses,
)

pytestmark = pytest.mark.usefixtures("merchant", "warehouses")
TABLES = load_tables()


@pytest.fixture
def warehouses(runtime: Runtime, merchant: None) -> None:
    set_up_warehouses(runtime)


def route(runtime: Runtime, order_no: str) -> RoutingDecision:
    return service.route_order(runtime.uow(), order_no=order_no, tables=TABLES, actor=STAFF)


def routing(runtime: Runtime, order_no: str) -> service.OrderRouting:
    with runtime.reading() as session:
        return service.order_routing(session, order_no)


def verdicts(row: RoutingDecision) -> dict[str, str]:
    return {item["code"]: item["verdict"] for item in row.reasons["warehouses"]}


def carriers(row: RoutingDecision, parcel: int = 0) -> dict[str, tuple[str, str | None]]:
    return {o["code"]: (o["verdict"], o["rule"]) for o in row.parcels[parcel]["carriers"]}


def test_an_approved_order_goes_to_the_fastest_warehouse_and_is_allocated_with_its_reasons(runtime: Runtime) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    put_stock(runtime, "WH-GZ", R_CUP=5)
    order_no = approved_order(runtime, "杭州", lines=[("R-CUP", 2)])

    row = route(runtime, order_no)

    assert (row.outcome, row.applied, row.eta_hours) == ("routed", True, 12)
    assert [(p["warehouse"], p["carrier"]) for p in row.parcels] == [("WH-HZ", "SF")]
    assert verdicts(row) == {"WH-HZ": "chosen", "WH-GZ": "slower", "WH-CD": "short"}
    assert row.reasons["names"]["warehouses"]["WH-HZ"] == "杭州主仓"
    found = routing(runtime, order_no)
    assert found.order.status == OrderStatus.ALLOCATED
    assert [(s.warehouse_code, s.carrier_code, s.status, [(ln.sku, ln.qty) for ln in s.lines])
            for s in found.shipments] == [("WH-HZ", "SF", "planned", [("R-CUP", 2)])]
    assert free_stock(runtime, "R-CUP")["R-CUP"] == {"WH-HZ": 3, "WH-GZ": 5}
    assert [e.key for e in events(runtime, "fulfillment.order_routed")] == [order_no]
    with runtime.reading() as session:
        timeline = orders.order_timeline(session, order_no)
    assert timeline[-1].to_status == "allocated" and "杭州主仓 · 顺丰速运" in timeline[-1].reason


def test_among_equally_fast_carriers_the_cheaper_one_wins(runtime: Runtime) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    row = route(runtime, approved_order(runtime, "南京"))
    # To 江苏 from 杭州, SF and JD both take a day; JD's ¥12.00 beats SF's ¥13.00.
    assert row.parcels[0]["carrier"] == "JD"
    assert carriers(row)["JD"] == ("chosen", None) and carriers(row)["SF"] == ("pricier", None)


@pytest.mark.parametrize(("place", "lines", "warehouse", "rule"), [
    ("乌鲁木齐", [("R-CUP", 1)], "WH-CD", "新疆西藏不走圆通、韵达"),
    ("杭州", [("R-POT", 2)], "WH-HZ", "超过 3 kg 不走圆通、韵达（协议价只含 3 kg 以内）"),
])
def test_carrier_rules_keep_excluded_carriers_out(
    runtime: Runtime, place: str, lines: list[tuple[str, int]], warehouse: str, rule: str
) -> None:
    put_stock(runtime, warehouse, R_CUP=5, R_POT=5)
    row = route(runtime, approved_order(runtime, place, lines=lines))
    options = carriers(row)
    assert row.parcels[0]["carrier"] not in {"YTO", "YD"}
    assert options["YD"] == ("excluded", rule)
    if warehouse == "WH-HZ":
        assert options["YTO"] == ("excluded", rule)


def test_an_order_is_split_only_when_no_warehouse_holds_everything_and_then_into_the_fewest_parcels(
    runtime: Runtime,
) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5, R_TEA=5)
    put_stock(runtime, "WH-GZ", R_POT=5)
    put_stock(runtime, "WH-CD", R_CUP=5)
    whole = route(runtime, approved_order(runtime, "杭州", lines=[("R-CUP", 1), ("R-TEA", 1)]))
    assert [p["warehouse"] for p in whole.parcels] == ["WH-HZ"]

    split = route(runtime, approved_order(runtime, "杭州", lines=[("R-CUP", 1), ("R-TEA", 1), ("R-POT", 1)]))

    assert sorted((p["warehouse"], [(ln["sku"], ln["qty"]) for ln in p["lines"]]) for p in split.parcels) == [
        ("WH-GZ", [("R-POT", 1)]), ("WH-HZ", [("R-CUP", 1), ("R-TEA", 1)])]
    assert verdicts(split)["WH-HZ"] == verdicts(split)["WH-GZ"] == "in_split"
    assert free_stock(runtime, "R-CUP", "R-TEA", "R-POT") == {
        "R-CUP": {"WH-HZ": 3, "WH-CD": 5}, "R-TEA": {"WH-HZ": 3}, "R-POT": {"WH-GZ": 4}}


def test_an_order_nothing_can_ship_waits_for_stock_and_is_tried_again_later(
    runtime: Runtime, clock: FixedClock
) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=1)
    put_stock(runtime, "WH-GZ", R_CUP=1)
    order_no = approved_order(runtime, "杭州", lines=[("R-CUP", 3)])  # came in short: holds nothing

    report = jobs.route_approved_orders(runtime)

    assert (report.claimed, report.routed, report.unroutable) == (1, 0, 1)
    row = routing(runtime, order_no).latest
    assert row is not None and (row.outcome, row.reason, row.applied) == ("unroutable", "out_of_stock", False)
    assert row.reasons["shortages"] == [{"sku": "R-CUP", "need": 3, "have": 2}]
    assert row.retry_at == clock.now() + timedelta(minutes=10)
    assert routing(runtime, order_no).order.status == OrderStatus.APPROVED
    assert free_stock(runtime, "R-CUP")["R-CUP"] == {"WH-HZ": 1, "WH-GZ": 1}  # nothing assigned
    assert [e.payload["reason"] for e in events(runtime, "fulfillment.order_unroutable")] == ["out_of_stock"]

    put_stock(runtime, "WH-HZ", R_CUP=5)
    assert jobs.route_approved_orders(runtime).claimed == 0  # not due yet
    clock.advance(timedelta(minutes=10))
    assert jobs.route_approved_orders(runtime).routed == 1
    assert routing(runtime, order_no).order.status == OrderStatus.ALLOCATED


def test_an_order_without_its_central_reservation_waits_even_when_a_warehouse_shows_the_units(
    runtime: Runtime, clock: FixedClock
) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=1)
    first = approved_order(runtime, "杭州")  # holds the only cup centrally, not yet assigned
    second = approved_order(runtime, "杭州")  # came in short

    row = route(runtime, second)

    assert (row.outcome, row.reason, row.reasons["reserved"]) == ("unroutable", "out_of_stock", False)
    assert row.retry_at == clock.now() + timedelta(minutes=10)
    assert free_stock(runtime, "R-CUP")["R-CUP"] == {"WH-HZ": 1}
    assert route(runtime, first).applied


def test_a_warehouse_tripped_by_three_sla_breaches_is_skipped_for_two_hours_and_its_owner_told(
    runtime: Runtime, clock: FixedClock
) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    put_stock(runtime, "WH-GZ", R_CUP=5)
    for number in range(3):
        view = service.record_sla_result(runtime.uow(), warehouse="WH-HZ", breached=True, reference=f"SH-{number}",
                                         at=clock.now(), tables=TABLES)
    assert (view.state, view.tripped_until) == ("open", clock.now() + timedelta(hours=2))
    (tripped,) = events(runtime, "fulfillment.warehouse_tripped")
    assert tripped.payload["owner"] == "hz-lead" and sorted(tripped.payload["references"]) == ["SH-0", "SH-1", "SH-2"]

    row = route(runtime, approved_order(runtime, "杭州"))
    assert row.parcels[0]["warehouse"] == "WH-GZ" and verdicts(row)["WH-HZ"] == "tripped"

    clock.advance(timedelta(hours=2))
    assert route(runtime, approved_order(runtime, "杭州")).parcels[0]["warehouse"] == "WH-HZ"


def test_an_sla_result_counts_once_per_reference(runtime: Runtime, clock: FixedClock) -> None:
    for _ in range(3):
        view = service.record_sla_result(runtime.uow(), warehouse="WH-GZ", breached=True, reference="SH-1",
                                         at=clock.now(), tables=TABLES)
    assert (view.state, view.consecutive_breaches) == ("closed", 1)


def test_sla_results_for_an_unknown_warehouse_are_refused(runtime: Runtime, clock: FixedClock) -> None:
    with pytest.raises(UnknownWarehouse):
        service.record_sla_result(runtime.uow(), warehouse="WH-NOPE", breached=True, reference="SH-1",
                                  at=clock.now(), tables=TABLES)


def test_only_approved_orders_are_routed(runtime: Runtime) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = approved_order(runtime, "杭州")
    orders.transition_order(runtime.uow(), order_no=order_no, target=OrderStatus.PAID, reason="反审", actor=STAFF,
                            policy=runtime.policy)
    with pytest.raises(OrderNotRoutable):
        route(runtime, order_no)
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(RoutingDecision)) == 0


def test_an_order_sent_back_to_approved_is_routed_afresh_and_its_old_parcels_cancelled(runtime: Runtime) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = approved_order(runtime, "杭州", lines=[("R-CUP", 2)])
    route(runtime, order_no)
    orders.transition_order(runtime.uow(), order_no=order_no, target=OrderStatus.APPROVED, reason="改地址",
                            actor=STAFF, policy=runtime.policy)

    again = route(runtime, order_no)

    assert (again.attempt, again.applied) == (2, True)
    with runtime.reading() as session:
        statuses = session.execute(select(Shipment.decision_id, Shipment.status).order_by(Shipment.id)).all()
    assert [status for _, status in statuses] == ["cancelled", "planned"]
    assert free_stock(runtime, "R-CUP")["R-CUP"] == {"WH-HZ": 3}


def test_the_worker_routes_every_due_order_in_batches(runtime: Runtime) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=200)
    numbers = [approved_order(runtime, "杭州") for _ in range(5)]

    report = jobs.route_approved_orders(runtime)

    assert (report.claimed, report.routed) == (5, 5)
    assert {routing(runtime, n).order.status for n in numbers} == {OrderStatus.ALLOCATED}
    assert jobs.route_approved_orders(runtime).claimed == 0


def test_an_order_whose_province_cannot_be_read_goes_on_hold_instead_of_waiting(runtime: Runtime) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = approved_order(runtime, "杭州")
    with runtime.uow() as uow:
        uow.session.execute(update(Order).where(Order.order_no == order_no).values(receiver_province="火星"))
        uow.commit()

    report = jobs.route_approved_orders(runtime)

    assert (report.claimed, report.held) == (1, 1)
    found = routing(runtime, order_no)
    assert found.order.status == OrderStatus.ON_HOLD and "火星" in (found.order.hold_reason or "")
    assert found.latest is not None and (found.latest.reason, found.latest.retry_at) == ("province_unknown", None)
    assert free_stock(runtime, "R-CUP")["R-CUP"] == {"WH-HZ": 5}


def test_the_dry_run_decides_as_routing_would_and_changes_nothing(runtime: Runtime, clock: FixedClock) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    put_stock(runtime, "WH-GZ", R_CUP=5)
    order_no = approved_order(runtime, "杭州", lines=[("R-CUP", 2)])
    with runtime.reading() as session:
        decision = service.preview(session, order_no=order_no, tables=TABLES, now=clock.now())
    assert decision.routed and [parcel.warehouse for parcel in decision.parcels] == ["WH-HZ"]
    assert routing(runtime, order_no).order.status == OrderStatus.APPROVED and not routing(runtime, order_no).decisions
    assert free_stock(runtime, "R-CUP")["R-CUP"] == {"WH-HZ": 5, "WH-GZ": 5}
    assert route(runtime, order_no).parcels[0]["warehouse"] == "WH-HZ"  # what routing then does


def before_the_stock_is_locked(monkeypatch: pytest.MonkeyPatch, move: Callable[[Session], object]) -> None:
    """Another worker's `move`, made once, in the batch's transaction, just before the batch locks its stock."""
    read = inventory.ReservationAssigner.free

    def moved_first(assigner: inventory.ReservationAssigner, *, lock: bool) -> dict[str, dict[str, int]]:
        if lock:
            move(assigner.session)
            monkeypatch.setattr(inventory.ReservationAssigner, "free", read)
        return read(assigner, lock=lock)

    monkeypatch.setattr(inventory.ReservationAssigner, "free", moved_first)


def test_stock_another_worker_takes_while_a_batch_decides_sends_the_order_elsewhere_never_oversold(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch decides on stock as it stands, then locks it and checks: a unit gone meanwhile is not assigned."""
    put_stock(runtime, "WH-HZ", R_CUP=1)
    put_stock(runtime, "WH-GZ", R_CUP=1)
    first = approved_order(runtime, "杭州")  # decided on WH-HZ's only cup …
    second = approved_order(runtime, "杭州")
    with runtime.reading() as session:
        second_id = orders.get_order(session, second).id
    # … which another worker assigns to the second order before the batch locks the stock
    before_the_stock_is_locked(monkeypatch, lambda session: inventory.assign_reservation(
        session, order_id=second_id, allocations=[("R-CUP", "WH-HZ", 1)], at=runtime.clock.now(), actor=STAFF))
    report = service.route_approved_orders(runtime.uow(), tables=TABLES, limit=1)

    assert (report.claimed, report.routed, report.redecided) == (1, 1, 1)
    found = routing(runtime, first)
    (row,) = found.decisions  # the first decision, written before the stock was locked, is gone
    assert [p["warehouse"] for p in row.parcels] == ["WH-GZ"] and verdicts(row)["WH-HZ"] == "short"
    assert [(s.warehouse_code, s.decision_id, len(s.lines)) for s in found.shipments] == [("WH-GZ", row.id, 1)]
    assert free_stock(runtime, "R-CUP")["R-CUP"] == {"WH-HZ": 0, "WH-GZ": 0}
    with runtime.reading() as session:
        assert inventory.verify(session) == []


def test_stock_freed_while_a_batch_decides_is_used_when_it_is_faster(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision made while a faster warehouse had nothing is made again when that warehouse has the units."""
    put_stock(runtime, "WH-HZ", R_CUP=1)
    put_stock(runtime, "WH-GZ", R_CUP=1)
    first = approved_order(runtime, "杭州")
    second = approved_order(runtime, "杭州")
    with runtime.uow() as uow:  # another worker's batch holds WH-HZ's only cup for the second order …
        second_id = orders.get_order(uow.session, second).id
        inventory.assign_reservation(uow.session, order_id=second_id, allocations=[("R-CUP", "WH-HZ", 1)],
                                     at=uow.now(), actor=STAFF)
        uow.commit()
    # … and gives it back before this batch locks the stock
    before_the_stock_is_locked(monkeypatch, lambda session: inventory.release_assignment(
        session, order_id=second_id, at=runtime.clock.now(), actor=STAFF))
    report = service.route_approved_orders(runtime.uow(), tables=TABLES, limit=1)

    assert (report.claimed, report.routed, report.redecided) == (1, 1, 1)
    found = routing(runtime, first)
    (row,) = found.decisions
    assert [p["warehouse"] for p in row.parcels] == ["WH-HZ"]
    assert [(s.warehouse_code, s.decision_id) for s in found.shipments] == [("WH-HZ", row.id)]
    assert [e.payload["parcels"][0]["warehouse"] for e in events(runtime, "fulfillment.order_routed")] == ["WH-HZ"]
    with runtime.reading() as session:
        assert inventory.verify(session) == []
