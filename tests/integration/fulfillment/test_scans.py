"""Warehouse scans on SQLite and PostgreSQL: pick → pack → ship, replays, offline batches, conflicts, interception."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orderhub.aftersales import service as aftersales
from orderhub.aftersales.model import CaseKind
from orderhub.aftersales.service import CaseRequest, LineRequest
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.errors import InvalidInput
from orderhub.fulfillment import scans, service
from orderhub.fulfillment.errors import (
    MalformedShipmentRef,
    OtherWarehouse,
    ScanIdReused,
    ScanOutOfOrder,
    ShipmentFrozen,
    UnknownShipment,
)
from orderhub.fulfillment.model import ScanKind, WarehouseScan
from orderhub.fulfillment.scans import Scan
from orderhub.fulfillment.tables import load_tables
from orderhub.inventory import service as inventory
from orderhub.logistics import interception
from orderhub.logistics import service as logistics
from orderhub.logistics.carriers import carrier_table
from orderhub.logistics.errors import MalformedWaybill, NotInterceptable, WaybillNotFound
from orderhub.orders import service as orders
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import (
    STAFF,
    approved_order,
    events,
    photograph,
    put_stock,
    set_up_warehouses,
)
from tests.integration.logistics.tracking_setup import SALT, signed, snapshot

pytestmark = pytest.mark.usefixtures("merchant", "warehouses")
TABLES = load_tables()
SCANNER = Actor("pda-hz-01", "scanner")
WAYBILL = "SF1400000001"
FLOW = (ScanKind.PICK_STARTED, ScanKind.PICKED, ScanKind.PACKED, ScanKind.SHIPPED)


@pytest.fixture
def warehouses(runtime: Runtime, merchant: None) -> None:
    set_up_warehouses(runtime)


def routed_order(runtime: Runtime, lines: tuple[tuple[str, int], ...] = (("R-CUP", 2),)) -> str:
    """An allocated order of the Hangzhou warehouse, shipped by SF (one parcel unless the stock splits it)."""
    order_no = approved_order(runtime, "杭州", lines=lines)
    service.route_order(runtime.uow(), order_no=order_no, tables=TABLES, actor=STAFF)
    return order_no


def scan(order_no: str, kind: ScanKind, at: datetime, *, event: str | None = None, parcel: int = 1,
         warehouse: str = "WH-HZ", waybill: str = "", device: str = "pda-hz-01") -> Scan:
    return Scan(device, event or f"{order_no}-{parcel}-{kind.value}", warehouse, f"{order_no}-{parcel}", kind, at,
                waybill)


def apply(runtime: Runtime, one: Scan) -> scans.ScanResult:
    return scans.apply_scan(runtime.uow(), scan=one, actor=SCANNER)


def through(runtime: Runtime, order_no: str, kinds: tuple[ScanKind, ...], start: datetime, *, parcel: int = 1,
            warehouse: str = "WH-HZ") -> None:
    for step, kind in enumerate(kinds):
        waybill = WAYBILL if kind is ScanKind.SHIPPED and parcel == 1 else ""
        apply(runtime, scan(order_no, kind, start + timedelta(minutes=step), parcel=parcel, warehouse=warehouse,
                            waybill=waybill))


def status(runtime: Runtime, order_no: str) -> tuple[str, list[str]]:
    with runtime.reading() as session:
        routing = service.order_routing(session, order_no)
        return routing.order.status, [s.status for s in routing.shipments]


def stored(runtime: Runtime) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.count()).select_from(WarehouseScan)) or 0


def test_scans_take_an_order_from_allocated_to_shipped_and_its_stock_is_deducted(
        runtime: Runtime, clock: FixedClock) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = routed_order(runtime)
    now = clock.now() - timedelta(hours=3)

    first = apply(runtime, scan(order_no, ScanKind.PICK_STARTED, now))
    assert (first.outcome, first.replay, first.shipment_status) == ("applied", False, "picking")
    assert status(runtime, order_no) == ("picking", ["picking"])
    apply(runtime, scan(order_no, ScanKind.PICKED, now + timedelta(minutes=5)))
    apply(runtime, scan(order_no, ScanKind.PACKED, now + timedelta(minutes=9)))
    assert status(runtime, order_no) == ("packed", ["packed"])
    apply(runtime, scan(order_no, ScanKind.SHIPPED, now + timedelta(minutes=20), waybill=WAYBILL))

    assert status(runtime, order_no) == ("shipped", ["shipped"])
    with runtime.reading() as session:
        assert inventory.verify(session) == []
        hz = next(p for p in inventory.availability(session, "R-CUP").warehouses if p.warehouse == "WH-HZ")
        assert (hz.on_hand, hz.reserved) == (3, 0)
        parcel = logistics.get_waybill(session, carrier="SF", waybill_no=WAYBILL)
        routing = service.order_routing(session, order_no)
        assert parcel.waybill.shipment_id == routing.shipments[0].id
        assert [row.kind for row in scans.shipment_scans(session, routing.shipments[0].id)] == [k.value for k in FLOW]
        timeline = [(e.to_status, e.actor) for e in orders.order_timeline(session, order_no)][-3:]
    assert timeline == [("picking", "pda-hz-01"), ("packed", "pda-hz-01"), ("shipped", "pda-hz-01")]
    assert len(events(runtime, "fulfillment.shipment_scanned")) == 4


def test_a_replayed_scan_returns_the_first_answer_and_changes_nothing(runtime: Runtime, clock: FixedClock) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = routed_order(runtime)
    first = scan(order_no, ScanKind.PICK_STARTED, clock.now(), event="evt-1")
    apply(runtime, first)

    again = apply(runtime, first)

    assert (again.outcome, again.replay, again.shipment_status) == ("applied", True, "picking")
    assert stored(runtime) == 1
    assert len(events(runtime, "fulfillment.shipment_scanned")) == 1
    with pytest.raises(ScanIdReused, match="evt-1"):
        apply(runtime, scan(order_no, ScanKind.PICKED, clock.now(), event="evt-1"))
    # The same step scanned twice (a second event id) is kept and changes nothing.
    twice = apply(runtime, scan(order_no, ScanKind.PICK_STARTED, clock.now(), event="evt-2"))
    assert (twice.outcome, twice.shipment_status) == ("already_done", "picking")
    assert status(runtime, order_no) == ("picking", ["picking"])


def test_a_split_order_is_packed_and_shipped_only_when_every_parcel_is(runtime: Runtime, clock: FixedClock,
                                                                      tmp_path: Path) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    put_stock(runtime, "WH-GZ", R_TEA=5)
    order_no = routed_order(runtime, (("R-CUP", 1), ("R-TEA", 1)))
    with runtime.reading() as session:
        parcels = {s.parcel_no: s.warehouse_code for s in service.order_routing(session, order_no).shipments}
    assert sorted(parcels.values()) == ["WH-GZ", "WH-HZ"]
    now = clock.now() - timedelta(hours=3)
    hz, gz = (next(no for no, code in parcels.items() if code == wh) for wh in ("WH-HZ", "WH-GZ"))

    through(runtime, order_no, FLOW[:3], now, parcel=hz, warehouse="WH-HZ")
    assert status(runtime, order_no)[0] == "picking"
    through(runtime, order_no, FLOW[:3], now, parcel=gz, warehouse="WH-GZ")
    assert status(runtime, order_no)[0] == "packed"
    photograph(runtime, tmp_path, order_no, gz)
    through(runtime, order_no, FLOW[3:], now + timedelta(hours=1), parcel=hz, warehouse="WH-HZ")
    assert status(runtime, order_no)[0] == "packed"
    through(runtime, order_no, FLOW[3:], now + timedelta(hours=1), parcel=gz, warehouse="WH-GZ")

    assert status(runtime, order_no) == ("shipped", ["shipped", "shipped"])
    with runtime.reading() as session:
        assert inventory.verify(session) == []


def test_an_offline_batch_is_applied_in_event_time_order_and_replays_safely(
        runtime: Runtime, clock: FixedClock) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = routed_order(runtime)
    now = clock.now() - timedelta(hours=3)
    taken = [scan(order_no, kind, now + timedelta(minutes=step), waybill=WAYBILL if kind is ScanKind.SHIPPED else "")
             for step, kind in enumerate(FLOW)]
    uploaded = [taken[3], taken[1], taken[0], taken[2]]

    results = scans.apply_batch(runtime.uow(), scans=uploaded, actor=SCANNER)

    assert [(r.kind, r.outcome) for r in results] == [(k.value, "applied") for k in FLOW]
    assert status(runtime, order_no) == ("shipped", ["shipped"])
    replayed = scans.apply_batch(runtime.uow(), scans=uploaded, actor=SCANNER)
    assert all(r.replay and r.outcome == "applied" for r in replayed)
    assert stored(runtime) == 4
    with runtime.reading() as session:
        assert inventory.verify(session) == []


def test_bad_scans_are_refused_with_clear_errors_and_nothing_is_stored(runtime: Runtime, clock: FixedClock) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = routed_order(runtime)
    now = clock.now() - timedelta(hours=3)

    with pytest.raises(MalformedShipmentRef, match="ORDER_NO-PARCEL"):
        apply(runtime, Scan("pda", "e1", "WH-HZ", "not a ref", ScanKind.PICK_STARTED, now))
    with pytest.raises(UnknownShipment):
        apply(runtime, Scan("pda", "e2", "WH-HZ", "PH_20261120_000000-1", ScanKind.PICK_STARTED, now))
    with pytest.raises(UnknownShipment):
        apply(runtime, scan(order_no, ScanKind.PICK_STARTED, now, parcel=7))
    with pytest.raises(OtherWarehouse, match="WH-HZ"):
        apply(runtime, scan(order_no, ScanKind.PICK_STARTED, now, warehouse="WH-GZ"))
    with pytest.raises(ScanOutOfOrder, match="skips a step"):
        apply(runtime, scan(order_no, ScanKind.PACKED, now))
    with pytest.raises(MalformedWaybill):
        apply(runtime, scan(order_no, ScanKind.PICK_STARTED, now, waybill="#?"))
    with pytest.raises(InvalidInput, match="device clock"):
        apply(runtime, scan(order_no, ScanKind.PICK_STARTED, clock.now() + timedelta(hours=1)))
    assert stored(runtime) == 0
    assert status(runtime, order_no) == ("allocated", ["planned"])

    apply(runtime, scan(order_no, ScanKind.PICK_STARTED, now))
    with pytest.raises(ScanOutOfOrder, match="earlier than the shipment's last scan"):
        apply(runtime, scan(order_no, ScanKind.PICKED, now - timedelta(minutes=1)))
    assert status(runtime, order_no) == ("picking", ["picking"])


def test_a_refund_before_shipping_freezes_the_shipment_and_offline_scans_become_conflicts(
        runtime: Runtime, clock: FixedClock) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = routed_order(runtime)
    now = clock.now() - timedelta(hours=3)
    apply(runtime, scan(order_no, ScanKind.PICK_STARTED, now))
    aftersales.open_case(runtime.uow(), request=CaseRequest(order_no=order_no, kind=CaseKind.REFUND_ONLY,
                                                            lines=[LineRequest(line_no=1, qty=2)], reason="不要了"),
                         actor=STAFF)
    with runtime.reading() as session:
        assert [case.order_no for case in aftersales.cases_needing_interception(session)] == [order_no]

    with pytest.raises(ShipmentFrozen, match="售后中：拦截") as refused:
        apply(runtime, scan(order_no, ScanKind.PICKED, now + timedelta(minutes=5)))
    assert refused.value.status == 409 and "frozen" in refused.value.message

    other = routed_order(runtime, (("R-CUP", 1),))
    results = scans.apply_batch(runtime.uow(), actor=SCANNER, scans=[
        scan(order_no, ScanKind.PICKED, now + timedelta(minutes=5)),
        scan(other, ScanKind.PICK_STARTED, now + timedelta(minutes=6)),
        scan(other, ScanKind.PICKED, now + timedelta(minutes=7), warehouse="WH-GZ"),
    ])

    assert [(r.outcome, r.error_code) for r in results] == [
        ("conflict", "fulfillment.shipment_frozen"), ("applied", ""), ("conflict", "fulfillment.other_warehouse")]
    assert status(runtime, order_no) == ("on_hold", ["picking"])
    assert status(runtime, other) == ("picking", ["picking"])
    with runtime.reading() as session:
        listed = scans.scan_conflicts(session)
    assert [(row.reference, row.error_code) for row in listed] == [
        (f"{other}-1", "fulfillment.other_warehouse"), (f"{order_no}-1", "fulfillment.shipment_frozen")]
    assert "售后中：拦截" in listed[1].message
    assert len(events(runtime, "fulfillment.scan_conflict")) == 2
    # Uploading the batch again stores no second conflict.
    again = scans.apply_batch(runtime.uow(), actor=SCANNER, scans=[
        scan(order_no, ScanKind.PICKED, now + timedelta(minutes=5))])
    assert (again[0].outcome, again[0].replay) == ("conflict", True)
    with runtime.reading() as session:
        assert len(scans.scan_conflicts(session)) == 2


def returning(param: str) -> str:
    """The push with kuaidi100's state code 6 (退回: on its way back to the sender)."""
    body = json.loads(param)
    body["lastResult"]["state"] = "6"
    return json.dumps(body, ensure_ascii=False)


def test_a_shipped_parcel_is_intercepted_and_the_returned_track_settles_it(
        runtime: Runtime, clock: FixedClock) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = routed_order(runtime)
    now = clock.now() - timedelta(hours=3)
    through(runtime, order_no, FLOW[:2], now)
    apply(runtime, scan(order_no, ScanKind.PACKED, now + timedelta(minutes=2), waybill=WAYBILL))
    with pytest.raises(NotInterceptable, match="has not shipped"):
        interception.request_interception(runtime.uow(), carrier="SF", waybill_no=WAYBILL, reason="退款", actor=STAFF)
    apply(runtime, scan(order_no, ScanKind.SHIPPED, now + timedelta(minutes=30)))

    requested = interception.request_interception(runtime.uow(), carrier="SF", waybill_no=WAYBILL,
                                                  reason="售后退款，拦截退回", actor=STAFF)
    again = interception.request_interception(runtime.uow(), carrier="SF", waybill_no=WAYBILL, reason="再次",
                                              actor=STAFF)

    assert (requested.state, again.id, again.reason) == ("requested", requested.id, "售后退款，拦截退回")
    (sent,) = events(runtime, "logistics.interception_requested")
    assert sent.payload["waybill_no"] == WAYBILL and sent.payload["com"] == carrier_table().com_of("SF")
    track = [("2026-11-20 18:00:00", "【杭州市】顺丰速运 已收取快件", "揽收"),
             ("2026-11-21 09:00:00", "快件已拦截，退回寄件人", "退回")]
    param = returning(snapshot(track, number=WAYBILL, com=carrier_table().com_of("SF") or ""))
    clock.advance(timedelta(days=1))
    logistics.receive_kuaidi100_push(runtime.uow(), salt=SALT, **signed(param))

    with runtime.reading() as session:
        settled = interception.get_interception(session, carrier="SF", waybill_no=WAYBILL)
    assert (settled.state, settled.resolution) == ("intercepted", "快件已拦截，退回寄件人")
    assert [e.payload["interception"] for e in events(runtime, "logistics.interception_resolved")] == ["intercepted"]


def test_an_interception_fails_when_the_parcel_is_signed_for_first(runtime: Runtime, clock: FixedClock) -> None:
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = routed_order(runtime)
    through(runtime, order_no, FLOW, clock.now() - timedelta(hours=3))
    interception.request_interception(runtime.uow(), carrier="SF", waybill_no=WAYBILL, reason="退款", actor=STAFF)
    param = snapshot([("2026-11-21 15:00:00", "【杭州市】已签收，签收人：本人", "签收")], number=WAYBILL,
                     com=carrier_table().com_of("SF") or "")
    logistics.receive_kuaidi100_push(runtime.uow(), salt=SALT, **signed(param))

    with runtime.reading() as session:
        assert interception.get_interception(session, carrier="SF", waybill_no=WAYBILL).state == "failed"
        assert orders.get_order(session, order_no).status == OrderStatus.DELIVERED
    with pytest.raises(WaybillNotFound):
        interception.request_interception(runtime.uow(), carrier="SF", waybill_no="SF1400000999", reason="x",
                                          actor=STAFF)
    with pytest.raises(MalformedWaybill):
        interception.request_interception(runtime.uow(), carrier="SF", waybill_no="#1", reason="x", actor=STAFF)
