"""Typed errors of the fulfillment domain."""

from __future__ import annotations

from orderhub.core.errors import Conflict, NotFound


class OrderNotRoutable(Conflict):
    """Only approved orders are routed."""

    code = "routing.order_not_approved"

    def __init__(self, order_no: str, status: str) -> None:
        super().__init__(
            f"order {order_no} is {status}; only approved orders are routed "
            f"/ 订单 {order_no} 当前为 {status}，只有已审订单可以分仓",
            details=[{"order_no": order_no, "status": status}],
        )


class UnknownWarehouse(NotFound):
    code = "fulfillment.unknown_warehouse"

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown warehouse {code} / 仓库 {code} 不存在")
