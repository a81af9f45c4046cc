"""Waybills and tracking on SQLite and PostgreSQL: binding, pushes, dedup, replays, order of events, polling."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select

from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.outbox import OutboxEvent
from orderhub.fulfillment import service as fulfillment
from orderhub.fulfillment.tables import load_tables
from orderhub.logistics import service
from orderhub.logistics.errors import (
    MalformedPush,
    MalformedWaybill,
    PushSignatureInvalid,
    UnknownCarrier,
    WaybillNotFound,
    WaybillTaken,
)
from orderhub.logistics.kuaidi100 import parse_push, sign
from orderhub.logistics.model import PushOutcome, TrackingEvent, TrackingPush, Waybill
from orderhub.logistics.states import TrackingState
from orderhub.models import metadata
from orderhub.orders import intake
from orderhub.orders.draft import DraftLine, DraftWaybill, OrderDraft, Receiver
from orderhub.orders.errors import OrderNotFound
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import approved_order, put_stock, set_up_warehouses
from tests.integration.logistics.tracking_setup import NUMBER, SALT, STAFF, TRACK, manual_order, signed, snapshot

pytestmark = pytest.mark.usefixtures("merchant")


def push(runtime: Runtime, param: str, *, salt: str | None = SALT, signature: str | None = None) -> service.PushReceipt:
    form = signed(param)
    return service.receive_kuaidi100_push(runtime.uow(), param=param, sign=signature or form["sign"], salt=salt)


def bind(runtime: Runtime, order_no: str, number: str = NUMBER, carrier: str = "YTO") -> Waybill:
    return service.bind_waybill(runtime.uow(), order_no=order_no, carrier=carrier, waybill_no=number, actor=STAFF)


def stored(runtime: Runtime, model: type[Any]) -> list[Any]:
    with runtime.reading() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def parcel(runtime: Runtime, number: str = NUMBER, carrier: str = "YTO") -> service.Parcel:
    with runtime.reading() as session:
        return service.get_waybill(session, carrier=carrier, waybill_no=number)


def test_a_push_stores_each_event_once_and_the_waybill_follows_the_newest(runtime: Runtime) -> None:
    order_no = manual_order(runtime)
    bind(runtime, order_no)
    first = push(runtime, snapshot(TRACK[:2]))
    assert (first.outcome, first.new_events, first.state) == (PushOutcome.ACCEPTED, 2, TrackingState.IN_TRANSIT)
    second = push(runtime, snapshot(TRACK))
    assert (second.new_events, second.duplicates, second.state) == (2, 2, TrackingState.DELIVERED)
    found = parcel(runtime)
    assert [e.state for e in found.events] == ["delivered", "out_for_delivery", "in_transit", "collected"]
    assert found.waybill.next_poll_at is None  # delivered: nothing more to ask
    with runtime.reading() as session:
        topics = session.scalars(select(OutboxEvent.topic).where(OutboxEvent.key == order_no)).all()
    assert topics.count("logistics.tracking_changed") == 2 and "logistics.waybill_bound" in topics


def test_the_same_full_push_within_30_minutes_is_ignored(runtime: Runtime, clock: FixedClock) -> None:
    bind(runtime, manual_order(runtime))
    param = snapshot(TRACK[:2])
    push(runtime, param)
    clock.advance(timedelta(minutes=29))
    again = push(runtime, param)
    assert (again.outcome, again.new_events) == (PushOutcome.REPEATED, 0)
    assert [p.outcome for p in stored(runtime, TrackingPush)] == ["accepted", "repeated"]


def test_a_push_replayed_hours_later_adds_nothing_and_moves_nothing(runtime: Runtime, clock: FixedClock) -> None:
    bind(runtime, manual_order(runtime))
    old = snapshot(TRACK[:2])
    push(runtime, old)
    push(runtime, snapshot(TRACK))
    clock.advance(timedelta(hours=5))
    replay = push(runtime, old)
    assert (replay.outcome, replay.new_events, replay.duplicates) == (PushOutcome.ACCEPTED, 0, 2)
    assert parcel(runtime).waybill.state == "delivered"
    assert len(stored(runtime, TrackingEvent)) == 4


def test_events_arriving_out_of_order_are_kept_but_never_move_the_state_back(runtime: Runtime) -> None:
    bind(runtime, manual_order(runtime))
    push(runtime, snapshot([TRACK[0], TRACK[3]]))
    late = push(runtime, snapshot(TRACK[:3]))  # older scans the carrier reported late
    assert (late.new_events, late.state) == (2, TrackingState.DELIVERED)
    events = parcel(runtime).events
    assert [e.text for e in events] == [text for _, text, _ in reversed(TRACK)]


def test_a_push_with_a_bad_signature_is_refused_and_kept_for_audit(runtime: Runtime) -> None:
    bind(runtime, manual_order(runtime))
    param = snapshot(TRACK)
    with pytest.raises(PushSignatureInvalid):
        push(runtime, param, signature=sign(param, "not-the-salt"))
    with pytest.raises(PushSignatureInvalid):
        service.receive_kuaidi100_push(runtime.uow(), param=param, sign=None, salt=SALT)
    kept = stored(runtime, TrackingPush)
    assert [(p.outcome, p.param) for p in kept] == [("rejected", param), ("rejected", param)]
    assert stored(runtime, TrackingEvent) == []


def test_without_a_salt_pushes_are_taken_unsigned(runtime: Runtime) -> None:
    bind(runtime, manual_order(runtime))
    receipt = service.receive_kuaidi100_push(runtime.uow(), param=snapshot(TRACK[:1]), sign="", salt=None)
    assert receipt.new_events == 1


@pytest.mark.parametrize("param", ["{\"lastResult\": ", "", "{\"lastResult\": {\"com\": \"yuantong\", \"nu\": \"\"}}"])
def test_a_malformed_push_is_refused_with_its_reason_and_kept(runtime: Runtime, param: str) -> None:
    with pytest.raises(MalformedPush) as refused:
        push(runtime, param)
    (kept,) = stored(runtime, TrackingPush)
    assert (kept.outcome, kept.param, kept.reason) == ("malformed", param, refused.value.message)


def test_a_push_for_a_waybill_not_bound_yet_is_kept_and_taken_in_at_binding(runtime: Runtime) -> None:
    early = push(runtime, snapshot(TRACK[:2]))
    assert early.outcome is PushOutcome.UNKNOWN_WAYBILL
    with pytest.raises(WaybillNotFound):
        parcel(runtime)
    bind(runtime, manual_order(runtime))
    assert [e.state for e in parcel(runtime).events] == ["in_transit", "collected"]
    (kept,) = stored(runtime, TrackingPush)
    assert (kept.outcome, kept.new_events) == ("accepted", 2)


def test_binding_refuses_unknown_carriers_malformed_numbers_and_numbers_of_other_orders(runtime: Runtime) -> None:
    first, second = manual_order(runtime), manual_order(runtime)
    with pytest.raises(UnknownCarrier):
        bind(runtime, first, carrier="无名快递")
    for number in ("", "ab", "YT 123", "YT123!@#", "X" * 41):
        with pytest.raises(MalformedWaybill):
            bind(runtime, first, number=number)
    with pytest.raises(OrderNotFound):
        bind(runtime, "PH_20261120_000000")
    waybill = bind(runtime, first, carrier="圆通速递")
    assert (waybill.carrier_code, waybill.source) == ("YTO", "manual")
    assert bind(runtime, first, carrier="yuantong").id == waybill.id  # the same binding again: the same parcel
    with pytest.raises(WaybillTaken):
        bind(runtime, second)
    with pytest.raises(WaybillNotFound):
        parcel(runtime, number="YT0000000000")


def test_a_waybill_binds_to_the_planned_shipment_of_its_carrier(runtime: Runtime) -> None:
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=5)
    order_no = approved_order(runtime)
    fulfillment.route_order(runtime.uow(), order_no=order_no, tables=load_tables(),
                            actor=Actor("ops", "api", frozenset({"orders.route"})))
    with runtime.reading() as session:
        (shipment,) = fulfillment.order_routing(session, order_no).shipments
    other = "JD" if shipment.carrier_code != "JD" else "SF"
    assert bind(runtime, order_no, number="OTHER0001", carrier=other).shipment_id is None
    assert bind(runtime, order_no, number="MATCH0001", carrier=shipment.carrier_code).shipment_id == shipment.id


def test_orders_arriving_shipped_record_their_waybills_once_per_parcel(runtime: Runtime) -> None:
    lines = [DraftLine(sku="SKU-001", qty=1, unit_price_fen=9900), DraftLine(sku="SKU-002", qty=1, unit_price_fen=100)]
    draft = OrderDraft(
        channel="douyin", shop="dy-flagship", channel_order_id="69001",
        receiver=Receiver(name="张三", phone="13800138000", province="浙江省", city="杭州市", district="西湖区",
                          address="文三路90号"),
        lines=lines, paid_amount_fen=10000, status="shipped", channel_status="3",
        platform_modified_at=runtime.clock.now(),
        waybills=[DraftWaybill("zhongtong", "ZT7770001"), DraftWaybill("shentong", "ST7770002"),
                  DraftWaybill("无名快递", "WM7770003"), DraftWaybill("zhongtong", "bad number")],
    )
    order = intake.accept_channel_order(runtime.uow(), draft=draft, actor=Actor("douyin", "channel"),
                                        policy=runtime.policy)
    again = OrderDraft(**{**draft.__dict__, "platform_modified_at": runtime.clock.now() + timedelta(minutes=1)})
    intake.accept_channel_order(runtime.uow(), draft=again, actor=Actor("douyin", "channel"), policy=runtime.policy)
    waybills = stored(runtime, Waybill)
    assert [(w.order_no, w.carrier_code, w.carrier_name, w.number, w.source) for w in waybills] == [
        (order.order_no, "ZTO", "zhongtong", "ZT7770001", "platform"),
        (order.order_no, "STO", "shentong", "ST7770002", "platform"),
        (order.order_no, "", "无名快递", "WM7770003", "platform"),
    ]
    assert waybills[2].next_poll_at is None  # no carrier to ask
    push(runtime, snapshot(TRACK[:1], number="ZT7770001", com="zhongtong"))
    assert parcel(runtime, number="ZT7770001", carrier="ZTO").waybill.state == "collected"


def test_the_migration_creates_exactly_the_logistics_tables(engine: Engine) -> None:
    ours = {"waybill", "tracking_event", "tracking_push"}
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)

    def table_of(diff: Any) -> str:
        kind, first, *rest = diff[0] if isinstance(diff, list) else diff
        if kind in ("add_table", "remove_table"):
            return str(first.name)
        if kind.endswith(("_index", "_constraint", "_fk")):
            return str(first.table.name)
        return str(rest[0])

    assert [diff for diff in differences if table_of(diff) in ours] == []


def test_identical_pushes_at_once_store_each_event_once(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the race is PostgreSQL's: SQLite runs one writer at a time")
    bind(runtime, manual_order(runtime))
    # Overlapping snapshots, each sent by several threads at once: every event is in several of them.
    params = [snapshot(TRACK[:2]), snapshot(TRACK[:3]), snapshot(TRACK), snapshot(TRACK[1:])] * 4
    start = threading.Barrier(len(params))
    receipts: list[service.PushReceipt] = []
    errors: list[BaseException] = []

    def send(param: str) -> None:
        start.wait()
        try:
            receipts.append(push(runtime, param))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(param,)) for param in params]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(TrackingEvent)) == len(TRACK)
    assert sum(r.new_events for r in receipts) == len(TRACK)
    assert parcel(runtime).waybill.state == "delivered"


def test_concurrent_inserts_of_the_same_events_without_a_waybill_lock_still_store_them_once(runtime: Runtime) -> None:
    """The unique fingerprint index alone, not the row lock, decides: `take_snapshot` in bare sessions at once."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the race is PostgreSQL's: SQLite runs one writer at a time")
    bind(runtime, manual_order(runtime))
    track = parse_push(snapshot(TRACK))
    start = threading.Barrier(8)
    landed: list[int] = []

    def take() -> None:
        with runtime.uow() as uow:
            waybill = uow.session.scalars(select(Waybill)).one()  # no FOR UPDATE: the index must arbitrate
            start.wait()
            landed.append(service.take_snapshot(uow.session, waybill, track, source="push", now=uow.now()).new_events)
            uow.commit()

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(landed) == len(TRACK)
    assert len(stored(runtime, TrackingEvent)) == len(TRACK)


def test_the_same_waybill_bound_at_once_from_many_places_is_one_parcel(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the race is PostgreSQL's: SQLite runs one writer at a time")
    order_no = manual_order(runtime)
    push(runtime, snapshot(TRACK[:2]))  # parked until the waybill is bound: taken in exactly once
    start = threading.Barrier(6)
    ids: list[int] = []

    def bind_now() -> None:
        start.wait()
        ids.append(bind(runtime, order_no).id)

    threads = [threading.Thread(target=bind_now) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 6 and len(set(ids)) == 1
    assert len(stored(runtime, Waybill)) == 1 and len(stored(runtime, TrackingEvent)) == 2
    with runtime.reading() as session:
        bound = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "logistics.waybill_bound")).all()
    assert len(bound) == 1
