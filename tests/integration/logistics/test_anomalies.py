"""Parcel anomalies on SQLite and PostgreSQL: each kind opens one ticket with its owner, clears, and stays
resolved when staff resolve it; delivered parcels move their order to delivered once; the carrier scorecard."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from orderhub.core.clock import FixedClock
from orderhub.core.outbox import OutboxEvent
from orderhub.logistics import anomalies, jobs
from orderhub.logistics.errors import BadMonth, ResolutionReasonRequired, TicketClosed, TicketNotFound
from orderhub.logistics.model import ExceptionTicket
from orderhub.orders import service as orders
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.integration.logistics.anomaly_setup import STAFF, bind, order_status, shipped_order, track

pytestmark = pytest.mark.usefixtures("merchant")

# Beijing times on the clock fixture's day: it starts (and the orders ship) at 2026-11-20 10:00 +08:00.
COLLECTED = ("2026-11-20 12:00:00", "【杭州市】圆通速递 已揽收", "揽收", "浙江,杭州市")
ARRIVED = ("2026-11-21 02:00:00", "快件已到达【杭州转运中心】", "在途", "浙江,杭州市")
OUT = ("2026-11-21 09:00:00", "【杭州市】快递员 李四 正在派件", "派件", "浙江,杭州市")
SIGNED = ("2026-11-21 15:00:00", "【杭州市】已签收，签收人：本人", "签收", "浙江,杭州市")
CLEARED = ("2026-11-21 02:00:00", "【杭州海关】包裹已清关", "已清关", "浙江,杭州市")


def tickets(runtime: Runtime, **where: Any) -> list[ExceptionTicket]:
    with runtime.reading() as session:
        query = select(ExceptionTicket).order_by(ExceptionTicket.id)
        for name, value in where.items():
            query = query.where(getattr(ExceptionTicket, name) == value)
        return list(session.scalars(query))


def topics(runtime: Runtime) -> list[str]:
    with runtime.reading() as session:
        return list(session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic.like("logistics.anomaly_%"))
                                    .order_by(OutboxEvent.id)))


def scan(runtime: Runtime) -> anomalies.ScanReport:
    return jobs.scan_anomalies(runtime)


def test_a_parcel_not_collected_in_24_hours_opens_one_ticket_that_clears_once_collected(
        runtime: Runtime, clock: FixedClock) -> None:
    order_no = shipped_order(runtime)
    bind(runtime, order_no, "YT1000000001")
    clock.advance(timedelta(hours=23, minutes=59))
    assert scan(runtime).opened == 0
    clock.advance(timedelta(minutes=1))
    assert scan(runtime).opened == 1
    assert scan(runtime).opened == 0  # reruns open nothing new
    [ticket] = tickets(runtime)
    assert (ticket.kind, ticket.status, ticket.owner, ticket.order_no) == (
        "not_collected", "open", "ops_supervisor", order_no)
    track(runtime, "YT1000000001", [COLLECTED])
    assert scan(runtime).resolved == 1
    [ticket] = tickets(runtime)
    assert (ticket.status, ticket.resolved_by) == ("resolved", "anomaly-scan")
    assert topics(runtime) == ["logistics.anomaly_opened", "logistics.anomaly_resolved"]
    with runtime.reading() as session:
        assert [(e.from_status, e.to_status) for e in anomalies.ticket_trail(session, ticket.id)] == [
            (None, "open"), ("open", "resolved")]


def test_no_update_for_48_hours_opens_a_ticket_owned_by_the_carrier_desk(runtime: Runtime, clock: FixedClock) -> None:
    order_no = shipped_order(runtime)
    bind(runtime, order_no, "SF1000000001", carrier="SF")
    track(runtime, "SF1000000001", [COLLECTED], carrier="SF")  # 2 h after shipping
    clock.advance(timedelta(hours=49, minutes=59))
    assert scan(runtime).opened == 0
    clock.advance(timedelta(minutes=1))
    scan(runtime)
    [ticket] = tickets(runtime)
    assert (ticket.kind, ticket.owner) == ("no_update", "direct-carrier-desk")
    track(runtime, "SF1000000001", [COLLECTED, ARRIVED], carrier="SF")
    scan(runtime)
    assert [t.status for t in tickets(runtime)] == ["resolved"]


def test_the_delivery_limit_is_longer_for_xinjiang(runtime: Runtime, clock: FixedClock) -> None:
    hangzhou, urumqi = shipped_order(runtime), shipped_order(runtime, "乌鲁木齐")
    bind(runtime, hangzhou, "YT1000000002")
    bind(runtime, urumqi, "YT1000000003")
    for number in ("YT1000000002", "YT1000000003"):
        track(runtime, number, [COLLECTED, ("2026-11-23 08:00:00", "快件运输中", "在途", "")])
    clock.advance(timedelta(hours=73))
    scan(runtime)
    assert [(t.order_no, t.kind, t.owner) for t in tickets(runtime)] == [
        (hangzhou, "not_delivered", "ops_supervisor")]
    clock.advance(timedelta(hours=96))  # 169 h after shipping: past Xinjiang's 168 h
    scan(runtime)
    assert {(t.kind, t.owner) for t in tickets(runtime, order_no=urumqi)} == {
        ("not_delivered", "west-ops"), ("no_update", "west-ops")}
    assert len(tickets(runtime, order_no=hangzhou)) == 2  # not delivered, still; and now quiet too


def test_delivered_without_an_out_for_delivery_scan_is_suspicious_and_the_order_is_delivered_once(
        runtime: Runtime, clock: FixedClock) -> None:
    order_no = shipped_order(runtime)
    bind(runtime, order_no, "YT1000000004")
    track(runtime, "YT1000000004", [COLLECTED, ARRIVED, SIGNED])
    assert order_status(runtime, order_no) == "delivered"
    clock.advance(timedelta(hours=30))
    scan(runtime)
    scan(runtime)
    [ticket] = tickets(runtime)
    assert (ticket.kind, ticket.owner) == ("suspicious_signoff", "ops")
    with runtime.reading() as session:
        moves = [e for e in orders.order_timeline(session, order_no) if e.to_status == "delivered"]
    assert [(m.from_status, m.actor) for m in moves] == [("shipped", "tracking")]
    track(runtime, "YT1000000004", [COLLECTED, ARRIVED, OUT, SIGNED])  # the carrier's late scan
    scan(runtime)
    assert [t.status for t in tickets(runtime)] == ["resolved"]


def test_signed_for_in_another_province_is_suspicious(runtime: Runtime) -> None:
    order_no = shipped_order(runtime)
    bind(runtime, order_no, "YT1000000005")
    track(runtime, "YT1000000005", [COLLECTED, ARRIVED, OUT,
                                    ("2026-11-21 15:00:00", "【广州市】已签收，签收人：门卫", "签收", "广东,广州市")])
    clean = shipped_order(runtime)
    bind(runtime, clean, "YT1000000006")
    track(runtime, "YT1000000006", [COLLECTED, ARRIVED, OUT, SIGNED])
    scan(runtime)
    [ticket] = tickets(runtime)
    assert (ticket.order_no, ticket.kind) == (order_no, "suspicious_signoff") and "广东" in ticket.detail
    assert order_status(runtime, clean) == order_status(runtime, order_no) == "delivered"


def test_an_order_of_two_parcels_is_delivered_when_both_are(runtime: Runtime) -> None:
    order_no = shipped_order(runtime)
    bind(runtime, order_no, "YT1000000007")
    bind(runtime, order_no, "YT1000000008")
    track(runtime, "YT1000000007", [COLLECTED, OUT, SIGNED])
    assert order_status(runtime, order_no) == "shipped"
    track(runtime, "YT1000000008", [COLLECTED, OUT, SIGNED])
    assert order_status(runtime, order_no) == "delivered"


def test_a_parcel_signed_for_before_the_order_shipped_delivers_it_at_the_next_scan(runtime: Runtime) -> None:
    order_no = shipped_order(runtime, until=OrderStatus.PACKED)
    bind(runtime, order_no, "YT1000000012")
    track(runtime, "YT1000000012", [COLLECTED, OUT, SIGNED])
    assert order_status(runtime, order_no) == "packed"  # only shipped → delivered
    orders.transition_order(runtime.uow(), order_no=order_no, target=OrderStatus.SHIPPED, reason="出库",
                            actor=STAFF, policy=runtime.policy)
    assert scan(runtime).delivered_orders == 1
    assert order_status(runtime, order_no) == "delivered"
    assert scan(runtime).delivered_orders == 0


def test_a_cross_border_parcel_cleared_through_customs_needs_a_domestic_waybill(runtime: Runtime) -> None:
    order_no = shipped_order(runtime, shop="bonded")
    bind(runtime, order_no, "YT1000000009")
    track(runtime, "YT1000000009", [COLLECTED, CLEARED])
    scan(runtime)
    [ticket] = tickets(runtime)
    assert (ticket.kind, ticket.owner, ticket.waybill_no) == ("cross_border_switch", "ops_supervisor", "YT1000000009")
    plain = shipped_order(runtime)  # the same scans on a domestic shop's parcel are nothing to act on
    bind(runtime, plain, "YT1000000010")
    track(runtime, "YT1000000010", [COLLECTED, CLEARED])
    bind(runtime, order_no, "ZT1000000001", carrier="ZTO")  # the domestic leg
    scan(runtime)
    assert [(t.order_no, t.status) for t in tickets(runtime)] == [(order_no, "resolved")]


def test_a_ticket_resolved_by_hand_stays_resolved_while_its_condition_lasts(
        runtime: Runtime, clock: FixedClock) -> None:
    order_no = shipped_order(runtime)
    bind(runtime, order_no, "YT1000000011")
    clock.advance(timedelta(hours=25))
    scan(runtime)
    [ticket] = tickets(runtime)
    with pytest.raises(ResolutionReasonRequired):
        anomalies.resolve_ticket(runtime.uow(), ticket_id=ticket.id, reason="  ", actor=STAFF)
    anomalies.acknowledge_ticket(runtime.uow(), ticket_id=ticket.id, actor=STAFF, note="已联系网点")
    with pytest.raises(TicketClosed):
        anomalies.acknowledge_ticket(runtime.uow(), ticket_id=ticket.id, actor=STAFF)
    anomalies.resolve_ticket(runtime.uow(), ticket_id=ticket.id, reason="网点确认已揽收，未扫描", actor=STAFF)
    with pytest.raises(TicketClosed):
        anomalies.resolve_ticket(runtime.uow(), ticket_id=ticket.id, reason="again", actor=STAFF)
    with pytest.raises(TicketNotFound):
        anomalies.resolve_ticket(runtime.uow(), ticket_id=ticket.id + 1000, reason="x", actor=STAFF)
    clock.advance(timedelta(hours=1))
    scan(runtime)
    [ticket] = tickets(runtime)
    assert (ticket.status, ticket.resolved_by, ticket.acknowledged_by) == ("resolved", "ops", "ops")
    assert topics(runtime) == ["logistics.anomaly_opened", "logistics.anomaly_resolved"]


def test_the_scorecard_counts_shipments_deliveries_delays_and_suspicious_signoffs(
        runtime: Runtime, clock: FixedClock) -> None:
    on_time, late, lost = shipped_order(runtime), shipped_order(runtime), shipped_order(runtime)
    bind(runtime, on_time, "YT2000000001")
    bind(runtime, late, "YT2000000002")
    bind(runtime, lost, "SF2000000001", carrier="SF")
    track(runtime, "YT2000000001", [COLLECTED, OUT, SIGNED])
    # Signed for 4 days after shipping, without an out-for-delivery scan: late and suspicious.
    track(runtime, "YT2000000002", [COLLECTED, ("2026-11-24 12:00:00", "【杭州市】已签收", "签收", "浙江,杭州市")])
    clock.advance(timedelta(days=5))
    with runtime.reading() as session:
        card = anomalies.carrier_scorecard(session, month="2026-11", zone=runtime.settings.zone, now=clock.now())
        december = anomalies.carrier_scorecard(session, month="2026-12", zone=runtime.settings.zone, now=clock.now())
        with pytest.raises(BadMonth):
            anomalies.carrier_scorecard(session, month="2026-13", zone=runtime.settings.zone, now=clock.now())
    assert [(c.carrier, c.shipped, c.delivered, c.due, c.delayed, c.suspicious_signoffs) for c in card] == [
        ("SF", 1, 0, 1, 1, 0), ("YTO", 2, 2, 2, 1, 1)]
    assert [(c.delay_rate, c.signoff_trust) for c in card] == [(1.0, None), (0.5, 0.5)]
    assert december == []


def test_racing_scans_open_each_ticket_once(runtime: Runtime, clock: FixedClock) -> None:
    for number in range(5):
        bind(runtime, shipped_order(runtime), f"YT30000000{number:02d}")
    clock.advance(timedelta(hours=25))
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        anomalies.scan_batch(runtime.uow())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tickets(runtime, kind="not_collected")) == 5
    assert topics(runtime).count("logistics.anomaly_opened") == 5
