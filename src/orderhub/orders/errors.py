"""Typed errors of the orders domain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orderhub.core.errors import Conflict, InvalidInput, NotFound, OrderHubError

if TYPE_CHECKING:
    from orderhub.orders.status import OrderStatus


class OrderNotFound(NotFound):
    code = "order.not_found"

    def __init__(self, order_no: str) -> None:
        super().__init__(f"order {order_no} not found / 订单 {order_no} 不存在")


class IllegalTransition(Conflict):
    code = "order.illegal_transition"

    def __init__(self, current: OrderStatus, target: OrderStatus) -> None:
        super().__init__(
            f"cannot move an order from {current.value} to {target.value} "
            f"/ 订单不能从 {current.value} 变为 {target.value}",
            details=[{"from": current.value, "to": target.value}],
        )


class HoldReasonRequired(OrderHubError):
    code, status = "order.hold_reason_required", 422

    def __init__(self) -> None:
        super().__init__("putting an order on hold needs a reason / 挂起订单必须填写原因")


class OrderValidationFailed(InvalidInput):
    code = "order.validation_failed"

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(f"the order has {len(details)} error(s) / 订单有 {len(details)} 处错误", details=details)


class DuplicateOrder(Conflict):
    code = "order.duplicate"


class UnknownShop(InvalidInput):
    code = "shop.not_found"
