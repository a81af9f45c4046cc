"""The customers' lookup on SQLite and PostgreSQL: found by number and phone, progress, parcels and tracks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from orderhub.core.actor import Actor
from orderhub.logistics import service as logistics
from orderhub.lookup import service
from orderhub.lookup.errors import NoMatchingOrder, ReferenceLocked
from orderhub.lookup.guard import LookupGuard
from orderhub.lookup.service import CustomerOrder, Stage
from orderhub.orders import intake
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, DraftWaybill, OrderDraft, Receiver
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.conftest import unavailable
from tests.integration.logistics.tracking_setup import SALT, STAFF, TRACK, manual_order, signed, snapshot

pytestmark = pytest.mark.usefixtures("merchant")

CHANNEL = Actor("douyin", "channel")
WAYBILL = "YT7700000001"


def shipped_douyin_order(runtime: Runtime, *, channel_order_id: str = "6930000000001", tracked: bool = True) -> str:
    """An order that arrived from Douyin already shipped, its carrier's track pushed up to delivery (untracked:
    the platform named no waybill)."""
    draft = OrderDraft(
        channel="douyin", shop="dy-flagship", channel_order_id=channel_order_id,
        receiver=Receiver(name="李小龙", phone="139****5678", province="广东省", city="深圳市", district="南山区",
                          address="科技园南路 8 号"),
        lines=[DraftLine(sku="SKU-001", qty=2, unit_price_fen=9900, title="保温杯 500ml", spec="白色")],
        paid_amount_fen=19800, paid_at=datetime(2026, 11, 19, 12, 0, tzinfo=UTC), status="shipped",
        channel_status="3", platform_modified_at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC),
        waybills=[DraftWaybill("圆通速递", WAYBILL)] if tracked else [],
    )
    order_no = intake.accept_channel_order(runtime.uow(), draft=draft, actor=CHANNEL, policy=runtime.policy).order_no
    if not tracked:
        return order_no
    param = snapshot(TRACK, number=WAYBILL)
    logistics.receive_kuaidi100_push(runtime.uow(), param=param, sign=signed(param)["sign"], salt=SALT)
    return order_no


def look_up(runtime: Runtime, reference: str, phone: str, *, client: str = "198.51.100.1",
            guard: LookupGuard | None = None) -> list[CustomerOrder]:
    with runtime.reading() as session:
        return service.look_up(session, guard or runtime.lookup_guard, reference=reference, phone=phone,
                               client=client)


def test_a_customer_finds_a_shipped_order_by_the_platform_number_with_its_track(runtime: Runtime) -> None:
    order_no = shipped_douyin_order(runtime)
    (found,) = look_up(runtime, "6930000000001", "5678")
    assert (found.order_no, found.channel, found.stage) == (order_no, "douyin", Stage.DELIVERED)
    assert (found.receiver_name, found.receiver_phone, found.receiver_region) == ("李**", "139****5678",
                                                                                   "广东省 深圳市 南山区")
    assert [(line.title, line.spec, line.qty) for line in found.lines] == [("保温杯 500ml", "白色", 2)]
    (parcel,) = found.parcels
    assert (parcel.carrier_name, parcel.waybill_no, parcel.state) == ("圆通速递", WAYBILL, "delivered")
    assert [event.text for event in parcel.events] == [text for _, text, _ in reversed(TRACK)]
    assert [(step.stage, step.reached) for step in found.steps] == [(stage, True) for stage in service.PROGRESS]
    placed, paid, *_, delivered = found.steps
    assert placed.at is None  # it reached OrderHub after it was paid: when it was placed is the platform's
    assert paid.at == datetime(2026, 11, 19, 12, 0, tzinfo=UTC) and delivered.at is not None
    assert [o.order_no for o in look_up(runtime, order_no.lower(), "5678")] == [order_no]


def test_a_paid_order_shows_where_it_is_and_no_parcel_yet(runtime: Runtime) -> None:
    order_no = manual_order(runtime)  # receiver phone 13800138000
    (found,) = look_up(runtime, order_no, "13800138000")
    assert found.stage is Stage.PAID and found.parcels == []
    assert [(step.stage, step.reached) for step in found.steps] == [
        (Stage.PLACED, True), (Stage.PAID, True), (Stage.PREPARING, False), (Stage.SHIPPED, False),
        (Stage.DELIVERED, False)]


def test_a_held_order_reads_as_the_stage_it_was_held_at_and_shows_no_reason(runtime: Runtime) -> None:
    order_no = manual_order(runtime)
    orders.transition_order(runtime.uow(), order_no=order_no, target=OrderStatus.ON_HOLD, reason="地址待核实：疑似刷单",
                            actor=STAFF, policy=runtime.policy)
    (found,) = look_up(runtime, order_no, "8000")
    assert found.stage is Stage.PAID
    assert "刷单" not in repr(found)


def test_a_cancelled_order_keeps_the_steps_it_reached(runtime: Runtime) -> None:
    order_no = manual_order(runtime)
    orders.transition_order(runtime.uow(), order_no=order_no, target=OrderStatus.CANCELLED, reason="客户取消",
                            actor=STAFF, policy=runtime.policy)
    (found,) = look_up(runtime, order_no, "8000")
    assert found.stage is Stage.CANCELLED
    assert [step.reached for step in found.steps] == [True, True, False, False, False]


def test_a_wrong_phone_and_an_unknown_number_get_the_same_answer(runtime: Runtime) -> None:
    order_no = manual_order(runtime)
    with pytest.raises(NoMatchingOrder) as wrong_phone:
        look_up(runtime, order_no, "1234")
    with pytest.raises(NoMatchingOrder) as unknown:
        look_up(runtime, "TB_20991231_000000", "8000")
    assert wrong_phone.value.to_dict() == unknown.value.to_dict()
    assert wrong_phone.value.status == 404


def test_the_buyers_phone_finds_the_order_too(runtime: Runtime) -> None:
    draft = OrderDraft(
        channel="phone", shop="hq", source_type="电话订单", customer_phone="13911112222",
        receiver=Receiver(name="王五", phone="13800138000", province="浙江省", city="杭州市", district="西湖区",
                          address="文三路90号"),
        lines=[DraftLine(sku="SKU-001", qty=1, unit_price_fen=9900)], paid_amount_fen=9900, payment_method="wechat",
        paid_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
    )
    order_no = orders.create_manual_order(runtime.uow(), draft=draft, actor=STAFF, policy=runtime.policy).order_no
    assert [o.order_no for o in look_up(runtime, order_no, "2222")] == [order_no]


def test_wrong_phones_lock_the_number_even_for_the_right_phone_from_elsewhere(runtime: Runtime) -> None:
    order_no = manual_order(runtime)
    guard = LookupGuard(storage_uri="memory://", client_limits="100/minute", failure_limits="3/hour")
    for tail in ("0001", "0002", "0003"):
        with pytest.raises(NoMatchingOrder):
            look_up(runtime, order_no, tail, guard=guard, client=f"203.0.113.{tail[-1]}")
    with pytest.raises(ReferenceLocked):
        look_up(runtime, order_no, "8000", guard=guard, client="198.51.100.99")
    other = manual_order(runtime)
    assert look_up(runtime, other, "8000", guard=guard)


def test_counts_in_redis_are_shared_by_every_process() -> None:
    """Two guards over one Redis stand for two serve processes: a lock set through one holds in the other."""
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis not reachable at {url}: {exc}")
    first, second = (LookupGuard(storage_uri=url, client_limits="100/minute", failure_limits="2/hour")
                     for _ in range(2))
    # Redis outlives the test: a number no earlier run used keeps the runs apart.
    reference = f"TB-{uuid.uuid4().hex[:12]}"
    first.record_failure(reference)
    second.record_failure(reference)
    with pytest.raises(ReferenceLocked):
        first.check_reference(reference)
    with pytest.raises(ReferenceLocked):
        second.check_reference(reference)
