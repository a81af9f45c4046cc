"""Orders arriving already shipped get their parcels as shipments, bound to their waybills (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from orderhub.channels import service as channels
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.outbox import OutboxEvent
from orderhub.fulfillment import service as fulfillment
from orderhub.fulfillment.errors import OrderNotRoutable
from orderhub.fulfillment.model import RoutingDecision, Shipment, ShipmentLine
from orderhub.fulfillment.platform_shipments import PLATFORM_SHIPPED, PLATFORM_WAREHOUSE
from orderhub.fulfillment.tables import load_tables
from orderhub.inventory import service as inventory
from orderhub.inventory.model import Reservation, WarehouseKind
from orderhub.logistics import service
from orderhub.logistics.model import Waybill, WaybillOrder
from orderhub.orders import intake
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, DraftWaybill, OrderDraft, Receiver
from orderhub.orders.model import Order
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import STAFF, approved_order, put_stock, set_up_warehouses
from tests.integration.logistics.tracking_setup import SALT, TRACK, signed, snapshot

pytestmark = pytest.mark.usefixtures("merchant")

CHANNEL = Actor("douyin", "channel")
LINES = (("SKU-001", 2), ("SKU-002", 1), ("SKU-003", 1))


def draft(*, waybills: Sequence[DraftWaybill], status: str = "shipped", order_id: str = "DY-6900001",
          lines: Sequence[tuple[str, int]] = LINES, modified: datetime | None = None) -> OrderDraft:
    return OrderDraft(
        channel="douyin", shop="dy-flagship", channel_order_id=order_id,
        receiver=Receiver(name="张三", phone="13800138000", province="浙江省", city="杭州市", district="西湖区",
                          address="文三路90号"),
        lines=[DraftLine(sku=sku, qty=qty, unit_price_fen=1000) for sku, qty in lines],
        paid_amount_fen=1000 * sum(qty for _, qty in lines), status=status, channel_status="3",
        platform_modified_at=modified or datetime(2026, 11, 20, 1, 0, tzinfo=UTC), waybills=list(waybills),
    )


def arrive(runtime: Runtime, order: OrderDraft) -> str:
    return intake.accept_channel_order(runtime.uow(), draft=order, actor=CHANNEL, policy=runtime.policy).order_no


def parcels(runtime: Runtime, order_no: str) -> list[tuple[int, str, str, str, list[tuple[str, int]]]]:
    """(parcel no, status, carrier, waybill bound to it, lines) of each of the order's shipments."""
    with runtime.reading() as session:
        routing = fulfillment.order_routing(session, order_no)
        bound = service.shipment_waybill_numbers(session, shipment_ids=[s.id for s in routing.shipments])
        return [(s.parcel_no, s.status, s.carrier_code, bound.get(s.id, ""), [(line.sku, line.qty) for line in s.lines])
                for s in routing.shipments]


def count(runtime: Runtime, model: type[object]) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_waybill_shared_by_several_lines_is_one_shipped_parcel(runtime: Runtime, clock: FixedClock) -> None:
    left_at = clock.now() - timedelta(hours=3)
    order_no = arrive(runtime, draft(waybills=[DraftWaybill("中通快递", "ZT5550001", lines=((1, 2), (2, 1), (3, 1)),
                                                            shipped_at=left_at)]))
    assert parcels(runtime, order_no) == [
        (1, "shipped", "ZTO", "ZT5550001", [("SKU-001", 2), ("SKU-002", 1), ("SKU-003", 1)])]
    with runtime.reading() as session:
        routing = fulfillment.order_routing(session, order_no)
    (shipment,) = routing.shipments
    assert (shipment.warehouse_code, shipment.created_at, shipment.updated_at) == (PLATFORM_WAREHOUSE, clock.now(),
                                                                                   left_at)
    (decision,) = routing.decisions
    assert (decision.outcome, decision.source, decision.applied, decision.reason) == (PLATFORM_SHIPPED, "platform",
                                                                                     False, None)
    assert decision.actor == "douyin" and "平台已发货" in decision.reasons["summary"]
    assert [(p["parcel_no"], p["waybill_no"], p["shipped_at"]) for p in decision.parcels] == [
        (1, "ZT5550001", left_at.isoformat())]
    assert routing.order.status == OrderStatus.SHIPPED


def test_two_waybills_are_two_parcels_each_with_its_lines(runtime: Runtime) -> None:
    order_no = arrive(runtime, draft(waybills=[DraftWaybill("zhongtong", "ZT5550001", lines=((1, 2),)),
                                               DraftWaybill("yunda", "YD5550002", lines=((2, 1), (3, 1)))]))
    assert parcels(runtime, order_no) == [
        (1, "shipped", "ZTO", "ZT5550001", [("SKU-001", 2)]),
        (2, "shipped", "YD", "YD5550002", [("SKU-002", 1), ("SKU-003", 1)]),
    ]
    with runtime.reading() as session:
        shipments = dict(session.execute(select(Waybill.number, Waybill.shipment_id)).all())
        ids = set(session.scalars(select(Shipment.id)))
    assert set(shipments.values()) == ids and len(ids) == 2


def test_lines_the_platform_does_not_place_go_with_the_first_parcel(runtime: Runtime) -> None:
    order_no = arrive(runtime, draft(waybills=[DraftWaybill("zhongtong", "ZT5550001"),
                                               DraftWaybill("yunda", "YD5550002", lines=((1, 1),))]))
    assert parcels(runtime, order_no) == [
        (1, "shipped", "ZTO", "ZT5550001", [("SKU-001", 1), ("SKU-002", 1), ("SKU-003", 1)]),
        (2, "shipped", "YD", "YD5550002", [("SKU-001", 1)]),
    ]


def test_a_later_parcel_the_platform_says_nothing_about_holds_no_line_twice(runtime: Runtime) -> None:
    order_no = arrive(runtime, draft(waybills=[DraftWaybill("zhongtong", "ZT5550001")]))
    arrive(runtime, draft(waybills=[DraftWaybill("zhongtong", "ZT5550001"), DraftWaybill("yunda", "YD5550002")],
                          modified=datetime(2026, 11, 20, 1, 30, tzinfo=UTC)))
    assert parcels(runtime, order_no) == [
        (1, "shipped", "ZTO", "ZT5550001", [("SKU-001", 2), ("SKU-002", 1), ("SKU-003", 1)]),
        (2, "shipped", "YD", "YD5550002", []),
    ]


def test_the_same_order_arriving_again_and_again_adds_no_parcel(runtime: Runtime) -> None:
    waybills = [DraftWaybill("zhongtong", "ZT5550001", lines=((1, 2), (2, 1), (3, 1)))]
    order_no = arrive(runtime, draft(waybills=waybills))
    for minutes in (0, 5, 5, 10):  # the same version again (pull and push), then newer versions
        arrive(runtime, draft(waybills=waybills, modified=datetime(2026, 11, 20, 1, minutes, tzinfo=UTC)))
    arrive(runtime, draft(waybills=waybills, status="delivered", modified=datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    assert len(parcels(runtime, order_no)) == 1
    assert (count(runtime, Shipment), count(runtime, ShipmentLine), count(runtime, RoutingDecision)) == (1, 3, 1)
    with runtime.reading() as session:
        topics = session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic == "fulfillment.platform_shipped"))
        assert len(topics.all()) == 1


def test_an_update_bringing_a_second_waybill_adds_a_second_parcel(runtime: Runtime) -> None:
    first = DraftWaybill("zhongtong", "ZT5550001", lines=((1, 2),))
    order_no = arrive(runtime, draft(waybills=[first]))
    # Shipped in part: the lines no parcel names are in none yet.
    assert parcels(runtime, order_no) == [(1, "shipped", "ZTO", "ZT5550001", [("SKU-001", 2)])]
    with runtime.reading() as session:
        before = session.scalars(select(Waybill.updated_at)).one()
    second = DraftWaybill("yunda", "YD5550002", lines=((2, 1), (3, 1)))
    arrive(runtime, draft(waybills=[first, second], modified=datetime(2026, 11, 20, 1, 30, tzinfo=UTC)))
    assert parcels(runtime, order_no) == [
        (1, "shipped", "ZTO", "ZT5550001", [("SKU-001", 2)]),
        (2, "shipped", "YD", "YD5550002", [("SKU-002", 1), ("SKU-003", 1)]),
    ]
    with runtime.reading() as session:
        routing = fulfillment.order_routing(session, order_no)
        kept = session.scalars(select(Waybill.updated_at).where(Waybill.number == "ZT5550001")).one()
    assert kept == before  # the waybill already recorded stays as it is
    # The latest decision (what the order page shows) lists every parcel; each parcel keeps the decision that made it.
    assert [d.attempt for d in routing.decisions] == [2, 1]
    assert [p["waybill_no"] for p in routing.decisions[0].parcels] == ["ZT5550001", "YD5550002"]
    assert [s.decision_id for s in routing.shipments] == [routing.decisions[1].id, routing.decisions[0].id]


def test_a_waybill_of_an_order_not_yet_shipped_waits_and_becomes_a_parcel_when_it_ships(runtime: Runtime) -> None:
    waybills = [DraftWaybill("zhongtong", "ZT5550001")]
    order_no = arrive(runtime, draft(waybills=waybills, status="paid"))
    assert parcels(runtime, order_no) == []
    with runtime.reading() as session:
        assert session.scalars(select(Waybill.shipment_id)).one() is None
    arrive(runtime, draft(waybills=waybills, modified=datetime(2026, 11, 20, 1, 30, tzinfo=UTC)))
    assert [p[:4] for p in parcels(runtime, order_no)] == [(1, "shipped", "ZTO", "ZT5550001")]


def test_a_stale_arrival_keeps_its_waybill_but_makes_no_parcel(runtime: Runtime) -> None:
    order_no = arrive(runtime, draft(waybills=[], status="paid", modified=datetime(2026, 11, 20, 3, 0, tzinfo=UTC)))
    arrive(runtime, draft(waybills=[DraftWaybill("zhongtong", "ZT5550001")]))  # older than what is held
    assert parcels(runtime, order_no) == []
    assert count(runtime, Waybill) == 1


def test_an_order_orderhub_routed_itself_gets_no_platform_parcel(runtime: Runtime) -> None:
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = approved_order(runtime)
    fulfillment.route_order(runtime.uow(), order_no=order_no, tables=load_tables(), actor=STAFF)
    # The platform reports a waybill OrderHub does not know for it: kept on the order for a person, no parcel.
    with runtime.uow() as uow:
        service.record_shipped_orders(uow.session, actor=CHANNEL, at=uow.now(), drafts={
            order_no: draft(waybills=[DraftWaybill("zhongtong", "ZT5550001")], lines=(("R-CUP", 1),))})
        uow.commit()
    assert [(p[0], p[1], p[3]) for p in parcels(runtime, order_no)] == [(1, "planned", "")]
    with runtime.reading() as session:
        order_id = orders.get_order(session, order_no).id
        waybill = session.scalars(select(Waybill)).one()
    assert (waybill.order_id, waybill.shipment_id) == (order_id, None)


def test_routing_never_takes_an_order_that_arrived_shipped_and_its_stock_is_untouched(runtime: Runtime) -> None:
    inventory.create_warehouse(runtime.uow(), code="WH-1", name="杭州仓", kind=WarehouseKind.OWN, province="浙江省",
                               city="杭州市")
    inventory.receive(runtime.uow(), sku="SKU-001", warehouse="WH-1", qty=10, reason="采购入库",
                      idempotency_key=uuid.uuid4().hex, actor=STAFF)
    order_no = arrive(runtime, draft(waybills=[DraftWaybill("zhongtong", "ZT5550001")]))
    with pytest.raises(OrderNotRoutable):
        fulfillment.route_order(runtime.uow(), order_no=order_no, tables=load_tables(), actor=STAFF)
    assert fulfillment.route_approved_orders(runtime.uow(), tables=load_tables()).claimed == 0
    with runtime.reading() as session:
        stock = inventory.availability(session, "SKU-001")
        assert session.scalar(select(func.count()).select_from(Reservation)) == 0
        assert inventory.verify(session) == []
    assert (stock.available, [(w.on_hand, w.reserved) for w in stock.warehouses]) == (10, [(10, 0)])


def test_a_paid_order_the_platform_then_ships_uses_its_stock_as_before_and_gets_its_parcel(runtime: Runtime) -> None:
    inventory.create_warehouse(runtime.uow(), code="WH-1", name="杭州仓", kind=WarehouseKind.OWN, province="浙江省",
                               city="杭州市")
    inventory.receive(runtime.uow(), sku="SKU-001", warehouse="WH-1", qty=10, reason="采购入库",
                      idempotency_key=uuid.uuid4().hex, actor=STAFF)
    order_no = arrive(runtime, draft(waybills=[], status="paid", lines=(("SKU-001", 2),)))
    with runtime.reading() as session:
        assert inventory.availability(session, "SKU-001").available == 8
    arrive(runtime, draft(waybills=[DraftWaybill("zhongtong", "ZT5550001")], lines=(("SKU-001", 2),),
                          modified=datetime(2026, 11, 20, 1, 30, tzinfo=UTC)))
    with runtime.reading() as session:
        stock = inventory.availability(session, "SKU-001")
        assert inventory.verify(session) == []
    # The platform's shipment deducts what the order held (orders/stock.py), once.
    assert (stock.available, [(w.on_hand, w.reserved) for w in stock.warehouses]) == (8, [(8, 0)])
    assert parcels(runtime, order_no) == [(1, "shipped", "ZTO", "ZT5550001", [("SKU-001", 2)])]


def test_a_tracking_push_for_the_waybill_moves_the_order_as_for_routed_parcels(runtime: Runtime) -> None:
    order_no = arrive(runtime, draft(waybills=[DraftWaybill("yuantong", "YT9000000001")]))
    param = snapshot(TRACK)
    receipt = service.receive_kuaidi100_push(runtime.uow(), param=param, sign=signed(param)["sign"], salt=SALT)
    assert (receipt.new_events, receipt.state) == (len(TRACK), "delivered")
    with runtime.reading() as session:
        order = orders.get_order(session, order_no)
        timeline = orders.order_timeline(session, order_no)
        (tracked,) = service.order_tracking(session, order_id=order.id)
        (shipment,) = fulfillment.order_routing(session, order_no).shipments
    assert order.status == OrderStatus.DELIVERED
    assert (timeline[-1].to_status, timeline[-1].actor) == ("delivered", "tracking")
    assert tracked.waybill.shipment_id == shipment.id and tracked.waybill.state == "delivered"


def test_a_batch_of_shipped_orders_is_recorded_in_bulk(runtime: Runtime) -> None:
    with runtime.uow() as uow:
        found = channels.get_shop(uow.session, channel="douyin", code="dy-flagship")
        shop = intake.ShopRef(found.id, found.channel, found.code, found.cross_border)
        drafts = [draft(order_id=f"DY-{number}", waybills=[
            DraftWaybill("zhongtong", f"ZT{number:08d}", lines=((1, 2), (2, 1))),
            DraftWaybill("yunda", f"YD{number:08d}", lines=((3, 1),))]) for number in range(40)]
        results = intake.accept_channel_drafts(uow.session, shop=shop, drafts=drafts, policy=runtime.policy,
                                               actor=CHANNEL, at=uow.now())
        uow.commit()
    assert {r.result for r in results} == {intake.IntakeResult.CREATED}
    assert (count(runtime, Shipment), count(runtime, ShipmentLine), count(runtime, RoutingDecision)) == (80, 120, 40)
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).where(Waybill.shipment_id.is_(None))) == 0


def at_once(times: int, work: Callable[[], object]) -> list[BaseException]:
    """Run `work` in `times` threads released together; the errors they raised."""
    start = threading.Barrier(times)
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_the_same_order_arriving_at_once_from_many_places_is_recorded_once(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the race is PostgreSQL's: SQLite runs one writer at a time")
    first = DraftWaybill("zhongtong", "ZT5550001", lines=((1, 2),))
    assert at_once(6, lambda: arrive(runtime, draft(waybills=[first]))) == []
    assert (count(runtime, Order), count(runtime, Shipment), count(runtime, RoutingDecision)) == (1, 1, 1)
    second = DraftWaybill("yunda", "YD5550002", lines=((2, 1), (3, 1)))
    update = draft(waybills=[first, second], modified=datetime(2026, 11, 20, 1, 30, tzinfo=UTC))
    assert at_once(6, lambda: arrive(runtime, update)) == []
    assert (count(runtime, Shipment), count(runtime, ShipmentLine), count(runtime, RoutingDecision)) == (2, 3, 2)


def merged(runtime: Runtime, order_no: str) -> tuple[str, list[str], list[str]]:
    """(status, waybills it is tracked by, waybills its shipments are bound to) of an order."""
    with runtime.reading() as session:
        order = orders.get_order(session, order_no)
        tracked = [parcel.waybill.number for parcel in service.order_tracking(session, order_id=order.id)]
        shipments = [s.id for s in fulfillment.order_routing(session, order_no).shipments]
        bound = list(service.shipment_waybill_numbers(session, shipment_ids=shipments).values())
    return order.status, tracked, bound


def test_orders_shipped_together_under_one_waybill_each_get_the_parcel_and_its_tracking(runtime: Runtime) -> None:
    together = DraftWaybill("yuantong", "YT9000000001")
    first = arrive(runtime, draft(waybills=[together]))
    second = arrive(runtime, draft(order_id="DY-6900002", waybills=[together], lines=[("SKU-002", 1)]))
    assert merged(runtime, first)[1:] == merged(runtime, second)[1:] == (["YT9000000001"], ["YT9000000001"])
    assert (count(runtime, Waybill), count(runtime, WaybillOrder), count(runtime, Shipment)) == (1, 1, 2)
    arrive(runtime, draft(order_id="DY-6900002", waybills=[together], lines=[("SKU-002", 1)]))  # again: nothing new
    assert (count(runtime, WaybillOrder), count(runtime, Shipment)) == (1, 2)
    param = snapshot(TRACK)
    service.receive_kuaidi100_push(runtime.uow(), param=param, sign=signed(param)["sign"], salt=SALT)
    assert merged(runtime, first)[0] == merged(runtime, second)[0] == OrderStatus.DELIVERED


def test_orders_of_one_batch_sharing_a_waybill_are_linked_in_that_batch(runtime: Runtime) -> None:
    with runtime.uow() as uow:
        found = channels.get_shop(uow.session, channel="douyin", code="dy-flagship")
        shop = intake.ShopRef(found.id, found.channel, found.code, found.cross_border)
        drafts = [draft(order_id=f"DY-{number}", waybills=[DraftWaybill("zhongtong", "ZT00000001")])
                  for number in range(3)]
        results = intake.accept_channel_drafts(uow.session, shop=shop, drafts=drafts, policy=runtime.policy,
                                               actor=CHANNEL, at=uow.now())
        uow.commit()
    assert (count(runtime, Waybill), count(runtime, WaybillOrder), count(runtime, Shipment)) == (1, 2, 3)
    assert all(merged(runtime, r.order_no or "")[2] == ["ZT00000001"] for r in results)


def test_orders_sharing_a_waybill_arriving_at_once_share_one_waybill(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the race is PostgreSQL's: SQLite runs one writer at a time")
    together = DraftWaybill("zhongtong", "ZT5550009")
    numbers = iter(range(8))
    lock = threading.Lock()

    def one() -> None:
        with lock:
            number = next(numbers)
        arrive(runtime, draft(order_id=f"DY-69{number:05d}", waybills=[together]))

    assert at_once(8, one) == []
    assert (count(runtime, Waybill), count(runtime, WaybillOrder), count(runtime, Shipment)) == (1, 7, 8)


def test_a_parcel_long_gone_is_recorded_but_never_polled(runtime: Runtime, clock: FixedClock) -> None:
    now = clock.now()
    arrive(runtime, draft(waybills=[
        DraftWaybill("zhongtong", "ZT5550101", lines=((1, 2),), shipped_at=now - timedelta(days=40)),
        DraftWaybill("yunda", "YD5550102", lines=((2, 1),), shipped_at=now - timedelta(days=2)),
        DraftWaybill("某某快运", "XX5550103", lines=((3, 1),), shipped_at=now - timedelta(days=2))]))
    with runtime.reading() as session:
        polls = dict(session.execute(select(Waybill.number, Waybill.next_poll_at)).all())
    assert polls == {"ZT5550101": None, "YD5550102": now + service.FIRST_POLL_AFTER, "XX5550103": None}
