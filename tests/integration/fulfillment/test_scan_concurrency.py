"""Many connections uploading overlapping offline scan batches for the same parcels at once, on PostgreSQL.

Two PDAs worked the same warehouse offline: their logs cover some of the same parcels (the second one
scanned a step again half a minute after the first), one parcel of a frozen order, a parcel scanned out of
order and a label that matches no order. Sixteen clients upload those logs at once, each several times and
each time a longer piece from the start (as a PDA re-sends its growing log when the network flaps); a third
PDA, which only scanned labels of no order (refused scans that lock no order), sends its log in random pieces.

Whatever order the uploads land in, each device's event id is stored once and acted on once, every
parcel ends where applying all the scans in event-time order takes it, nothing is lost or stored twice,
and refused scans stay conflicts for a person — a later upload never overwrites them.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from orderhub.core.actor import Actor
from orderhub.core.db import make_engine
from orderhub.core.outbox import OutboxEvent
from orderhub.fulfillment import scans, service
from orderhub.fulfillment.model import FLOW, SCAN_TARGET, ScanKind, ScanStep, WarehouseScan, scan_step
from orderhub.fulfillment.scans import Scan
from orderhub.fulfillment.tables import load_tables
from orderhub.inventory import service as inventory
from orderhub.orders import service as orders
from orderhub.orders.model import OrderEvent
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime, build_runtime
from tests.integration.fulfillment.routing_setup import STAFF, approved_order, put_stock, set_up_warehouses

CLIENTS = 16
UPLOADS_EACH = 3
ORDERS = 10
STOCK = 40
KINDS = tuple(SCAN_TARGET)  # pick_started, picked, packed, shipped
# Where each shipment status leaves its order once every parcel (one each here) is there.
ORDER_OF = {"planned": "allocated", "picking": "picking", "picked": "picking", "packed": "packed",
            "shipped": "shipped"}


@dataclass(frozen=True)
class Logs:
    devices: dict[str, list[Scan]]
    orders: list[str]
    frozen: str
    skipping: str


def build_logs(numbers: list[str], frozen: str, start: datetime) -> Logs:
    """Device A scanned orders 0–6, device B orders 4–9; on 4–6 B scanned each step again 30 s after A.

    Each order's log stops at a different step; A's log also holds the frozen order's first two steps, a
    parcel packed before it was picked (skips a step: refused whenever it lands) and a label of no order.
    """
    logs: dict[str, list[Scan]] = {"pda-a": [], "pda-b": []}

    def add(device: str, order_no: str, kind: ScanKind, at: datetime) -> None:
        logs[device].append(Scan(device, f"{device}-{order_no}-{kind.value}", "WH-HZ", f"{order_no}-1", kind, at))

    for index, order_no in enumerate(numbers[:-1]):
        last_step = index % len(KINDS)  # 0: pick started … 3: shipped
        for device, lag in (("pda-a", 0), ("pda-b", 30)):
            if (device == "pda-a" and index > 6) or (device == "pda-b" and index < 4):
                continue
            for step in range(last_step + 1):
                add(device, order_no, KINDS[step], start + timedelta(minutes=4 * step, seconds=10 * index + lag))
    skipping = numbers[-1]
    add("pda-a", skipping, ScanKind.PICK_STARTED, start)
    add("pda-a", skipping, ScanKind.PACKED, start + timedelta(minutes=8))
    add("pda-a", frozen, ScanKind.PICK_STARTED, start + timedelta(minutes=1))
    add("pda-a", frozen, ScanKind.PICKED, start + timedelta(minutes=5))
    logs["pda-a"].append(Scan("pda-a", "pda-a-typo", "WH-HZ", "PH_20261120_000000-1", ScanKind.PACKED,
                              start + timedelta(minutes=2)))
    logs["pda-c"] = [Scan("pda-c", f"pda-c-typo-{n}", "WH-HZ", f"PH_20261120_00000{n}-1", ScanKind.PICKED,
                          start + timedelta(minutes=n)) for n in range(1, 7)]
    for device in logs:
        logs[device].sort(key=lambda scan: scan.occurred_at)
    return Logs(logs, numbers, frozen, skipping)


def event_time_result(logs: Logs) -> dict[str, str]:
    """Each parcel's status after all distinct scans, applied one by one in event-time order (the rules' model:
    the next step applies, a step taken already changes nothing, anything else is refused)."""
    status = dict.fromkeys([*logs.orders, logs.frozen], "planned")
    last: dict[str, datetime] = {}
    for scan in sorted((s for log in logs.devices.values() for s in log), key=lambda s: s.occurred_at):
        order_no = scan.reference.rsplit("-", 1)[0]
        if order_no not in status or order_no == logs.frozen:
            continue
        if scan_step(status[order_no], scan.kind) is ScanStep.APPLY and scan.occurred_at >= last.get(
                order_no, scan.occurred_at):
            status[order_no], last[order_no] = SCAN_TARGET[scan.kind].value, scan.occurred_at
    return status


@pytest.mark.usefixtures("merchant")
def test_sixteen_clients_uploading_overlapping_offline_batches_apply_each_scan_once_in_event_time_order(
        runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("row locks and real concurrent connections: PostgreSQL only")
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=STOCK)
    numbers = [approved_order(runtime, "杭州") for _ in range(ORDERS + 1)]
    for order_no in numbers:
        service.route_order(runtime.uow(), order_no=order_no, tables=load_tables(), actor=STAFF)
    frozen = numbers.pop()
    orders.transition_order(runtime.uow(), order_no=frozen, target=OrderStatus.ON_HOLD, reason="客户申请退款，拦截",
                            actor=STAFF, policy=runtime.policy)
    logs = build_logs(numbers, frozen, runtime.clock.now() - timedelta(hours=3))
    expected = event_time_result(logs)

    own = make_engine(runtime.engine.url.render_as_string(hide_password=False), pool_size=CLIENTS, max_overflow=0)
    racing = build_runtime(runtime.settings, clock=runtime.clock, engine=own)
    start = threading.Barrier(CLIENTS)
    failures: list[BaseException] = []
    answers: list[scans.ScanResult] = []
    uploads: Counter[str] = Counter()

    def client(number: int) -> None:
        device = ("pda-a", "pda-b", "pda-c", "pda-a")[number % 4]
        log = logs.devices[device]
        draw = random.Random(number)
        if device == "pda-c":
            pieces = [draw.sample(log, draw.randint(1, len(log))) for _ in range(UPLOADS_EACH - 1)] + [log]
        else:
            pieces = [log[:draw.randint(1, len(log))] for _ in range(UPLOADS_EACH - 1)] + [log]
        draw.shuffle(pieces)
        try:
            start.wait()
            for piece in pieces:
                answers.extend(scans.apply_batch(racing.uow(), scans=piece, actor=Actor(device, "scanner")))
                uploads[device] += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which fails with it
            failures.append(exc)

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    elapsed = time.perf_counter() - began
    own.dispose()
    assert not failures, failures
    assert sum(uploads.values()) == CLIENTS * UPLOADS_EACH
    # No upload was told its event id belonged to another scan: every repeat was recognised as a replay.
    assert {answer.outcome for answer in answers} <= {"applied", "already_done", "conflict"}

    sent = {(scan.device_id, scan.client_event_id) for log in logs.devices.values() for scan in log}
    with runtime.reading() as session:
        rows = list(session.scalars(select(WarehouseScan)))
        routing = {order_no: service.order_routing(session, order_no) for order_no in [*numbers, frozen]}
        repeated_moves = session.execute(
            select(OrderEvent.order_id, OrderEvent.to_status, func.count()).where(OrderEvent.kind == "transition")
            .group_by(OrderEvent.order_id, OrderEvent.to_status).having(func.count() > 1)).all()
        topics = Counter(session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic.like("fulfillment.%"))))
        assert inventory.verify(session) == []
        on_hand = inventory.availability(session, "R-CUP").on_hand

    # Nothing lost, nothing stored twice: one row per device event id sent.
    assert len(rows) == len(sent) and {(row.device_id, row.client_event_id) for row in rows} == sent
    # Every parcel is where event-time order takes it, and took each step on its way exactly once.
    final = {order_no: r.shipments[0].status for order_no, r in routing.items()}
    assert final == expected
    applied = Counter((row.order_no, row.kind) for row in rows if row.outcome == "applied")
    for order_no, status in final.items():
        steps = [step.value for step in FLOW].index(status)  # planned: none taken … shipped: all four
        assert [applied[(order_no, kind.value)] for kind in KINDS] == [1] * steps + [0] * (len(KINDS) - steps), (
            order_no, status)
        if order_no != frozen:
            assert routing[order_no].order.status == ORDER_OF[status]
    assert repeated_moves == []  # no order moved into any status twice
    # Refused scans stay conflicts, once each and untouched: the frozen order's, the skipped step, the typo.
    conflicts = sorted((row.reference, row.kind, row.error_code, row.resolution) for row in rows
                       if row.outcome == "conflict")
    assert conflicts == sorted([
        (f"{frozen}-1", "pick_started", "fulfillment.shipment_frozen", ""),
        (f"{frozen}-1", "picked", "fulfillment.shipment_frozen", ""),
        (f"{logs.skipping}-1", "packed", "fulfillment.scan_out_of_order", ""),
        ("PH_20261120_000000-1", "packed", "fulfillment.unknown_shipment", ""),
        *[(f"PH_20261120_00000{n}-1", "picked", "fulfillment.unknown_shipment", "") for n in range(1, 7)],
    ])
    assert routing[frozen].order.status == "on_hold" and final[frozen] == "planned"
    # One outbox event per stored scan: replays announced nothing.
    assert topics["fulfillment.scan_conflict"] == len(conflicts)
    assert topics["fulfillment.shipment_scanned"] == len(rows) - len(conflicts)
    assert on_hand == STOCK - sum(status == "shipped" for status in final.values())
    print(f"\n{CLIENTS} clients, {len(answers)} scans in {CLIENTS * UPLOADS_EACH} uploads "
          f"({len(rows)} distinct) in {elapsed:.1f} s")
