"""The unified order status and the one transition table every channel's statuses map onto."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    APPROVED = "approved"
    ALLOCATED = "allocated"
    PICKING = "picking"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    REFUNDING = "refunding"
    REFUNDED = "refunded"


S = OrderStatus

# Forward flow plus the ways back a real back office needs: un-approve (反审) before allocation,
# release an allocation, and a refund that is withdrawn (refunding returns to where it came from).
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED, S.ON_HOLD}),
    S.PAID: frozenset({S.APPROVED, S.CANCELLED, S.REFUNDING, S.ON_HOLD}),
    S.APPROVED: frozenset({S.ALLOCATED, S.PAID, S.CANCELLED, S.REFUNDING, S.ON_HOLD}),
    S.ALLOCATED: frozenset({S.PICKING, S.APPROVED, S.CANCELLED, S.REFUNDING, S.ON_HOLD}),
    S.PICKING: frozenset({S.PACKED, S.REFUNDING, S.ON_HOLD}),
    S.PACKED: frozenset({S.SHIPPED, S.REFUNDING, S.ON_HOLD}),
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUNDING, S.ON_HOLD}),
    S.DELIVERED: frozenset({S.COMPLETED, S.REFUNDING}),
    S.COMPLETED: frozenset({S.REFUNDING}),
    S.REFUNDING: frozenset({S.REFUNDED, S.ON_HOLD}),
    S.ON_HOLD: frozenset(),  # only back to the status it came from, or cancelled where that allows it
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}

TERMINAL = frozenset({S.CANCELLED, S.REFUNDED})

# The console's Chinese names (the back-office words merchants use).
LABELS_ZH = {
    S.PENDING_PAYMENT: "待付款",
    S.PAID: "待审",
    S.APPROVED: "已审",
    S.ALLOCATED: "已分仓",
    S.PICKING: "拣货中",
    S.PACKED: "已打包",
    S.SHIPPED: "已发货",
    S.DELIVERED: "已签收",
    S.COMPLETED: "已完成",
    S.ON_HOLD: "挂起",
    S.CANCELLED: "已取消",
    S.REFUNDING: "退款中",
    S.REFUNDED: "已退款",
}
