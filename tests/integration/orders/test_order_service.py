"""Order services on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from orderhub.auth.permissions import Permission
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.db import UnitOfWork
from orderhub.core.errors import StaleVersion
from orderhub.core.outbox import OutboxEvent
from orderhub.orders import intake, service
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.errors import IllegalTransition, OrderValidationFailed
from orderhub.orders.model import Order, OrderEvent
from orderhub.orders.repository import OrderFilters
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime

pytestmark = pytest.mark.usefixtures("merchant")
OPS = Actor("ops", "api", frozenset({Permission.ORDERS_TRANSITION.value}))
SUPERVISOR = Actor(
    "boss", "console", frozenset({Permission.ORDERS_TRANSITION.value, Permission.ORDERS_APPROVE_LARGE.value})
)


def phone_draft(**changes: object) -> OrderDraft:
    draft = OrderDraft(
        channel="phone",
        shop="hq",
        source_type="电话订单",
        receiver=Receiver(
            name="张三", phone="13800138000", province="浙江省", city="杭州市", district="西湖区", address="文三路90号"
        ),
        lines=[DraftLine(sku="SKU-001", qty=2, unit_price_fen=9900)],
        paid_amount_fen=19800,
        payment_method="wechat",
        paid_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
    )
    for name, value in changes.items():
        setattr(draft, name, value)
    return draft


def count(runtime: Runtime, model: type) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_clean_manual_order_is_stored_with_its_timeline_and_outbox_event(runtime: Runtime) -> None:
    order = service.create_manual_order(runtime.uow(), draft=phone_draft(), actor=OPS, policy=runtime.policy)
    assert re.fullmatch(r"PH_20261120_[0-9a-f]{6}", order.order_no)
    assert order.status == OrderStatus.PAID
    with runtime.reading() as session:
        stored = service.get_order(session, order.order_no)
        assert [line.title for line in stored.lines] == ["保温杯 500ml"]
        assert (stored.goods_amount_fen, stored.paid_amount_fen) == (19800, 19800)
        assert stored.receiver_adcode == "330106"
        assert stored.created_at == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
        assert stored.created_at.tzinfo is not None
        timeline = service.order_timeline(session, order.order_no)
        assert [(e.kind, e.to_status, e.actor, e.source) for e in timeline] == [("created", "paid", "ops", "api")]
        events = session.scalars(select(OutboxEvent)).all()
        assert [(e.topic, e.key) for e in events] == [("order.created", order.order_no)]


def test_order_numbers_use_the_business_day_not_the_utc_day(runtime: Runtime) -> None:
    late_evening_utc = FixedClock(datetime(2026, 11, 20, 17, 30, tzinfo=UTC))  # 01:30 on the 21st in Shanghai
    order = service.create_manual_order(
        UnitOfWork(runtime.session_factory, late_evening_utc), draft=phone_draft(), actor=OPS, policy=runtime.policy
    )
    assert order.order_no.startswith("PH_20261121_")


def test_an_invalid_manual_order_reports_every_error_and_stores_nothing(runtime: Runtime) -> None:
    draft = phone_draft(
        receiver=Receiver(name="", phone="1380013800", province="浙江省", city="杭州市", district="", address="文三路"),
        lines=[DraftLine(sku="SKU-404", qty=1, unit_price_fen=100)],
        paid_amount_fen=999,
        source_type="",
    )
    with pytest.raises(OrderValidationFailed) as refused:
        service.create_manual_order(runtime.uow(), draft=draft, actor=OPS, policy=runtime.policy)
    fields = {(d["field"], d["rule"]) for d in refused.value.details}
    assert {"receiver.name", "receiver.phone", "receiver.district", "lines[0].sku", "paid_amount", "source_type"} <= {
        field for field, _ in fields
    }
    assert ("lines[0].sku", "sku.unknown") in fields
    assert all(d["messages"]["zh-CN"] and d["messages"]["en"] for d in refused.value.details)
    assert count(runtime, Order) == 0 and count(runtime, OrderEvent) == 0 and count(runtime, OutboxEvent) == 0


def test_an_unknown_shop_is_a_field_error(runtime: Runtime) -> None:
    with pytest.raises(OrderValidationFailed) as refused:
        service.create_manual_order(runtime.uow(), draft=phone_draft(shop="nope"), actor=OPS, policy=runtime.policy)
    assert ("shop", "shop.not_found") in {(d["field"], d["rule"]) for d in refused.value.details}


def test_cross_border_shops_require_a_valid_id_card(runtime: Runtime) -> None:
    with pytest.raises(OrderValidationFailed) as refused:
        service.create_manual_order(
            runtime.uow(), draft=phone_draft(channel="manual", shop="bonded"), actor=OPS, policy=runtime.policy
        )
    assert "id_card" in {d["field"] for d in refused.value.details}
    order = service.create_manual_order(
        runtime.uow(),
        draft=phone_draft(channel="manual", shop="bonded", id_card="11010519491231002x"),
        actor=OPS,
        policy=runtime.policy,
    )
    assert order.id_card == "11010519491231002X"


def channel_draft(**changes: object) -> OrderDraft:
    draft = phone_draft(
        channel="douyin",
        shop="dy-flagship",
        source_type="",
        channel_order_id="6920000000000000001",
        status="paid",
        channel_status="105",
    )
    for name, value in changes.items():
        setattr(draft, name, value)
    return draft


def test_a_channel_order_missing_its_district_is_accepted_on_hold_with_the_reason(runtime: Runtime) -> None:
    draft = channel_draft(
        receiver=Receiver(name="李四", phone="13900139000", province="浙江省", city="宁波市", address="中山东路138号")
    )
    order = intake.accept_channel_order(
        runtime.uow(), draft=draft, actor=Actor("douyin", "channel"), policy=runtime.policy
    )
    assert order.status == OrderStatus.ON_HOLD and order.held_from == OrderStatus.PAID
    assert order.hold_reason and "区" in order.hold_reason
    with runtime.reading() as session:
        kinds = [(e.kind, e.to_status, e.source) for e in service.order_timeline(session, order.order_no)]
    assert kinds == [("created", "paid", "channel"), ("transition", "on_hold", "channel")]
    service.transition_order(
        runtime.uow(),
        order_no=order.order_no,
        target=OrderStatus.PAID,
        reason="客服补全地址",
        actor=OPS,
        policy=runtime.policy,
    )


def test_a_channel_order_with_a_masked_phone_is_accepted_without_hold(runtime: Runtime) -> None:
    draft = channel_draft(
        receiver=Receiver(name="王*", phone="138****5678", province="广东省", city="东莞市", address="长安镇振安路1号")
    )
    order = intake.accept_channel_order(
        runtime.uow(), draft=draft, actor=Actor("douyin", "channel"), policy=runtime.policy
    )
    assert order.status == OrderStatus.PAID and order.receiver_phone_kind == "masked"


def test_a_channel_order_nobody_could_fix_is_refused_for_the_dead_letter_store(runtime: Runtime) -> None:
    with pytest.raises(OrderValidationFailed):
        intake.accept_channel_order(
            runtime.uow(), draft=channel_draft(lines=[]), actor=Actor("douyin", "channel"), policy=runtime.policy
        )
    assert count(runtime, Order) == 0


def test_transitions_append_to_the_timeline_in_order(runtime: Runtime, clock: FixedClock) -> None:
    order = service.create_manual_order(runtime.uow(), draft=phone_draft(), actor=OPS, policy=runtime.policy)
    for target in (OrderStatus.APPROVED, OrderStatus.ALLOCATED):
        clock.advance(timedelta(minutes=5))
        service.transition_order(
            runtime.uow(), order_no=order.order_no, target=target, reason="", actor=OPS, policy=runtime.policy
        )
    with pytest.raises(IllegalTransition):
        service.transition_order(
            runtime.uow(),
            order_no=order.order_no,
            target=OrderStatus.DELIVERED,
            reason="",
            actor=OPS,
            policy=runtime.policy,
        )
    with runtime.reading() as session:
        timeline = service.order_timeline(session, order.order_no)
        assert [(e.from_status, e.to_status) for e in timeline] == [
            (None, "paid"),
            ("paid", "approved"),
            ("approved", "allocated"),
        ]
        assert [e.at for e in timeline] == sorted(e.at for e in timeline)
        assert service.get_order(session, order.order_no).version == 3


def test_a_large_order_needs_a_supervisor_after_the_operator(runtime: Runtime) -> None:
    big = phone_draft(lines=[DraftLine(sku="SKU-002", qty=20, unit_price_fen=39900)], paid_amount_fen=798000)
    order = service.create_manual_order(runtime.uow(), draft=big, actor=OPS, policy=runtime.policy)
    first = service.transition_order(
        runtime.uow(),
        order_no=order.order_no,
        target=OrderStatus.APPROVED,
        reason="已电话核实",
        actor=OPS,
        policy=runtime.policy,
    )
    assert first.approval_pending and first.order.status == OrderStatus.PAID
    assert first.order.approval_requested_by == "ops"
    second = service.transition_order(
        runtime.uow(),
        order_no=order.order_no,
        target=OrderStatus.APPROVED,
        reason="主管复核通过",
        actor=SUPERVISOR,
        policy=runtime.policy,
    )
    assert not second.approval_pending and second.order.status == OrderStatus.APPROVED
    assert second.order.approval_requested_by is None
    with runtime.reading() as session:
        kinds = [e.kind for e in service.order_timeline(session, order.order_no)]
    assert kinds == ["created", "approval_requested", "transition"]


def test_a_stale_version_is_refused(runtime: Runtime) -> None:
    order = service.create_manual_order(runtime.uow(), draft=phone_draft(), actor=OPS, policy=runtime.policy)
    service.transition_order(
        runtime.uow(),
        order_no=order.order_no,
        target=OrderStatus.APPROVED,
        reason="",
        actor=OPS,
        policy=runtime.policy,
        expected_version=1,
    )
    with pytest.raises(StaleVersion):
        service.transition_order(
            runtime.uow(),
            order_no=order.order_no,
            target=OrderStatus.ALLOCATED,
            reason="",
            actor=OPS,
            policy=runtime.policy,
            expected_version=1,
        )


def test_keyset_pages_cover_every_order_once_newest_first(runtime: Runtime, clock: FixedClock) -> None:
    made = []
    for _ in range(7):
        clock.advance(timedelta(minutes=1))
        made.append(
            service.create_manual_order(runtime.uow(), draft=phone_draft(), actor=OPS, policy=runtime.policy).order_no
        )
    seen: list[str] = []
    cursor = None
    with runtime.reading() as session:
        while True:
            page = service.list_orders(session, OrderFilters(), limit=3, cursor=cursor)
            seen += [o.order_no for o in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == list(reversed(made))


def test_list_filters_combine(runtime: Runtime) -> None:
    paid = service.create_manual_order(runtime.uow(), draft=phone_draft(), actor=OPS, policy=runtime.policy)
    intake.accept_channel_order(
        runtime.uow(), draft=channel_draft(), actor=Actor("douyin", "channel"), policy=runtime.policy
    )
    with runtime.reading() as session:
        by_channel = service.list_orders(session, OrderFilters(channel="phone"))
        assert [o.order_no for o in by_channel.items] == [paid.order_no]
        by_q = service.list_orders(session, OrderFilters(q="6920000000000000001"))
        assert [o.channel for o in by_q.items] == ["douyin"]
        counts = service.status_counts(session, OrderFilters())
        assert counts == {"paid": 2}
