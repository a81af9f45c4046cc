from datetime import UTC, datetime

import pytest

from orderhub.core.actor import Actor
from orderhub.orders.errors import HoldReasonRequired, IllegalTransition
from orderhub.orders.model import Order
from orderhub.orders.status import TERMINAL, TRANSITIONS, OrderStatus

S = OrderStatus
AT = datetime(2026, 11, 20, tzinfo=UTC)
OPS = Actor("ops", "api")


def order_in(status: OrderStatus, **extra: str) -> Order:
    return Order(order_no="PH_20261120_abcdef", status=status.value, **extra)


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (S.PENDING_PAYMENT, S.PAID),
        (S.PAID, S.APPROVED),
        (S.APPROVED, S.ALLOCATED),
        (S.ALLOCATED, S.PICKING),
        (S.PICKING, S.PACKED),
        (S.PACKED, S.SHIPPED),
        (S.SHIPPED, S.DELIVERED),
        (S.DELIVERED, S.COMPLETED),
        (S.PAID, S.CANCELLED),
        (S.SHIPPED, S.REFUNDING),
        (S.APPROVED, S.PAID),
    ],
)
def test_the_machine_allows_its_transitions(start: OrderStatus, target: OrderStatus) -> None:
    order = order_in(start)
    event = order.transition_to(target, reason="", by=OPS, at=AT)
    assert order.status == target
    assert (event.from_status, event.to_status, event.actor, event.source) == (start, target, "ops", "api")


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (S.PENDING_PAYMENT, S.SHIPPED),
        (S.PAID, S.DELIVERED),
        (S.SHIPPED, S.PAID),
        (S.DELIVERED, S.PICKING),
        (S.CANCELLED, S.PAID),
        (S.REFUNDED, S.REFUNDING),
        (S.PICKING, S.CANCELLED),
        (S.COMPLETED, S.SHIPPED),
    ],
)
def test_a_transition_not_in_the_machine_is_refused(start: OrderStatus, target: OrderStatus) -> None:
    order = order_in(start)
    with pytest.raises(IllegalTransition) as refused:
        order.transition_to(target, reason="", by=OPS, at=AT)
    assert refused.value.code == "order.illegal_transition"
    assert refused.value.status == 409
    assert order.status == start


def test_terminal_statuses_lead_nowhere() -> None:
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()


def test_hold_needs_a_reason() -> None:
    order = order_in(S.PAID)
    with pytest.raises(HoldReasonRequired):
        order.transition_to(S.ON_HOLD, reason="  ", by=OPS, at=AT)
    assert order.status == S.PAID


def test_hold_returns_to_where_it_came_from_and_nowhere_else() -> None:
    order = order_in(S.APPROVED)
    order.transition_to(S.ON_HOLD, reason="地址待确认", by=OPS, at=AT)
    assert (order.status, order.held_from, order.hold_reason) == (S.ON_HOLD, S.APPROVED, "地址待确认")
    assert order.allowed_targets() == {S.APPROVED, S.CANCELLED}
    with pytest.raises(IllegalTransition):
        order.transition_to(S.ALLOCATED, reason="", by=OPS, at=AT)
    order.transition_to(S.APPROVED, reason="客户已确认地址", by=OPS, at=AT)
    assert (order.status, order.held_from, order.hold_reason) == (S.APPROVED, None, None)


def test_a_hold_on_a_picked_order_cannot_be_cancelled_because_picking_cannot() -> None:
    order = order_in(S.PICKING)
    order.transition_to(S.ON_HOLD, reason="拦截", by=OPS, at=AT)
    assert order.allowed_targets() == {S.PICKING}


def test_a_withdrawn_refund_returns_to_the_status_before_it() -> None:
    order = order_in(S.SHIPPED)
    order.transition_to(S.REFUNDING, reason="买家申请退款", by=OPS, at=AT)
    assert S.SHIPPED in order.allowed_targets()
    order.transition_to(S.SHIPPED, reason="买家撤销退款", by=OPS, at=AT)
    assert order.status == S.SHIPPED and order.refund_from is None
