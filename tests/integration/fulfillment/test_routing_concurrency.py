"""Workers and API calls routing the same orders at once on PostgreSQL: each order is assigned exactly once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from orderhub.fulfillment import service
from orderhub.fulfillment.errors import OrderNotRoutable
from orderhub.fulfillment.model import RoutingDecision, Shipment, ShipmentLine
from orderhub.fulfillment.tables import load_tables
from orderhub.inventory import service as inventory
from orderhub.orders.model import Order
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import STAFF, approved_order, free_stock, put_stock, set_up_warehouses

TABLES = load_tables()
ORDERS = 40
WORKERS = 4


@pytest.mark.usefixtures("merchant")
def test_workers_and_api_calls_routing_the_same_orders_at_once_assign_each_exactly_once(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("row locks and real concurrent connections: PostgreSQL only")
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=25, R_TEA=10)
    put_stock(runtime, "WH-GZ", R_CUP=25, R_TEA=10)
    numbers = [approved_order(runtime, "杭州" if n % 2 else "广州", lines=[("R-CUP", 1), ("R-TEA", 1)][:1 + n % 2])
               for n in range(ORDERS)]
    start = threading.Barrier(WORKERS + 2)
    failures: list[BaseException] = []
    claimed: Counter[str] = Counter()
    refused: Counter[str] = Counter()

    def worker() -> None:
        try:
            start.wait()
            idle = 0
            while idle < 3:  # a few empty rounds: the others may still hold rows this one skipped
                report = service.route_approved_orders(runtime.uow(), tables=TABLES, limit=5)
                claimed["worker"] += report.routed
                claimed["retried"] += report.retried
                idle = idle + 1 if report.claimed == 0 else 0
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which fails with it
            failures.append(exc)

    def clicker(order: list[str]) -> None:
        try:
            start.wait()
            for order_no in order:
                try:
                    service.route_order(runtime.uow(), order_no=order_no, tables=TABLES, actor=STAFF)
                    claimed["api"] += 1
                except OrderNotRoutable:
                    refused["api"] += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which fails with it
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    threads += [threading.Thread(target=clicker, args=(numbers,)), threading.Thread(target=clicker,
                                                                                     args=(numbers[::-1],))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert claimed["retried"] == 0  # no batch failed (a deadlock would have rolled one back)
    assert claimed["worker"] + claimed["api"] == ORDERS
    assert refused["api"] == 2 * ORDERS - claimed["api"]

    with runtime.reading() as session:
        applied = dict(session.execute(select(RoutingDecision.id, RoutingDecision.order_id)
                                       .where(RoutingDecision.applied.is_(True))).all())
        assert len(applied) == len(set(applied.values())) == ORDERS  # one applied decision per order
        parcels = session.execute(select(Shipment.order_id, Shipment.decision_id)).all()
        # Every parcel belongs to its order's one applied decision (late orders split when a warehouse ran dry).
        assert all(applied.get(decision_id) == order_id for order_id, decision_id in parcels)
        shipped = {sku: qty for sku, qty in session.execute(
            select(ShipmentLine.sku, func.sum(ShipmentLine.qty)).group_by(ShipmentLine.sku))}
        statuses = set(session.scalars(select(Order.status)))
    assert shipped == {"R-CUP": ORDERS, "R-TEA": ORDERS // 2}
    assert statuses == {"allocated"}
    free = free_stock(runtime, "R-CUP", "R-TEA")
    assert sum(free["R-CUP"].values()) == 50 - ORDERS and sum(free["R-TEA"].values()) == 20 - ORDERS // 2


@pytest.mark.usefixtures("merchant")
def test_batches_routed_side_by_side_over_the_same_best_sellers_never_deadlock_nor_oversell(runtime: Runtime) -> None:
    """No lock serialises routing: batches share SKUs and warehouses and lock them in one order."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("row locks and real concurrent connections: PostgreSQL only")
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=60, R_TEA=30, R_POT=10)
    put_stock(runtime, "WH-GZ", R_CUP=60, R_TEA=30, R_POT=10)
    put_stock(runtime, "WH-CD", R_CUP=30, R_TEA=30, R_POT=10)
    baskets = [[("R-CUP", 1)], [("R-CUP", 1), ("R-TEA", 1)], [("R-TEA", 2), ("R-POT", 1)], [("R-POT", 1), ("R-CUP", 2)]]
    places = ["杭州", "广州", "南京", "乌鲁木齐"]
    numbers = [approved_order(runtime, places[n % 4], lines=baskets[n % 4]) for n in range(120)]
    start = threading.Barrier(WORKERS)
    failures: list[BaseException] = []
    reports: list[service.BatchReport] = []

    def worker() -> None:
        try:
            start.wait()
            total = service.BatchReport()
            idle = 0
            while idle < 3:
                report = service.route_approved_orders(runtime.uow(), tables=TABLES, limit=7)
                total.add(report)
                idle = idle + 1 if report.claimed == 0 else 0
            reports.append(total)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which fails with it
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert sum(r.retried for r in reports) == 0 and sum(r.failed for r in reports) == 0
    assert sum(r.claimed for r in reports) == len(numbers)
    with runtime.reading() as session:
        assert inventory.verify(session) == []
        applied = session.scalar(select(func.count()).select_from(RoutingDecision)
                                 .where(RoutingDecision.applied.is_(True)))
        shipped = dict(session.execute(select(ShipmentLine.sku, func.sum(ShipmentLine.qty))
                                       .group_by(ShipmentLine.sku)).all())
    assert applied == sum(r.routed for r in reports)
    free = free_stock(runtime, "R-CUP", "R-TEA", "R-POT")
    assert all(units >= 0 for by_warehouse in free.values() for units in by_warehouse.values())  # none oversold
    for sku, received in (("R-CUP", 150), ("R-TEA", 90), ("R-POT", 30)):
        assert sum(free[sku].values()) + shipped.get(sku, 0) == received
