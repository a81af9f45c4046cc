"""Typed errors of the inventory domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orderhub.core.errors import Conflict, InvalidInput, NotFound


class DuplicateWarehouse(Conflict):
    code = "inventory.duplicate_warehouse"


class UnknownWarehouse(InvalidInput):
    code = "inventory.unknown_warehouse"

    def __init__(self, code: str) -> None:
        super().__init__(
            f"unknown warehouse {code} / 仓库 {code} 不存在",
            details=[{"field": "warehouse", "rule": "warehouse.unknown", "message": f"仓库 {code} 不存在"}],
        )


class InvalidQuantity(InvalidInput):
    """Quantities are whole units: a positive integer (a non-zero one for adjustments)."""

    code = "inventory.invalid_quantity"

    def __init__(self, field: str, value: object, *, allow_negative: bool = False) -> None:
        wanted = "a non-zero whole number" if allow_negative else "a positive whole number"
        wanted_zh = "非零整数" if allow_negative else "正整数"
        super().__init__(
            f"{field} must be {wanted}, not {value!r} / {field} 须为{wanted_zh}",
            details=[{"field": field, "rule": "quantity.integer", "message": f"须为{wanted_zh}"}],
        )


class ReasonRequired(InvalidInput):
    code = "inventory.reason_required"

    def __init__(self) -> None:
        super().__init__(
            "a stock adjustment needs a reason / 库存调整必须填写原因",
            details=[{"field": "reason", "rule": "reason.required", "message": "必须填写原因"}],
        )


class BundleHoldsNoStock(InvalidInput):
    code = "inventory.bundle_not_stocked"

    def __init__(self, sku: str) -> None:
        super().__init__(
            f"{sku} is a bundle: it holds no stock, its components do / {sku} 是组合装，库存记在组件上",
            details=[{"field": "sku", "rule": "sku.bundle", "message": "组合装不单独记库存"}],
        )


class SameWarehouse(InvalidInput):
    code = "inventory.same_warehouse"

    def __init__(self) -> None:
        super().__init__("a transfer needs two different warehouses / 调拨的调出仓和调入仓不能相同")


@dataclass(frozen=True)
class Shortage:
    """Not enough stock of `sku` (at `warehouse`, or in total when it is empty) for `requested`."""

    sku: str
    requested: int
    available: int
    warehouse: str = ""

    def to_dict(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"sku": self.sku, "requested": self.requested, "available": self.available}
        if self.warehouse:
            detail["warehouse"] = self.warehouse
        return detail

    def label(self) -> str:
        where = f"@{self.warehouse}" if self.warehouse else ""
        return f"{self.sku}{where} 需 {self.requested} 可用 {self.available}"


class InsufficientStock(Conflict):
    code = "inventory.insufficient_stock"

    def __init__(self, shortages: list[Shortage]) -> None:
        self.shortages = shortages
        listed = ", ".join(s.label() for s in shortages)
        super().__init__(
            f"not enough stock / 库存不足：{listed}", details=[shortage.to_dict() for shortage in shortages]
        )


class StockBelowReserved(Conflict):
    """On hand may not drop below zero, nor below what orders have reserved."""

    code = "inventory.below_reserved"

    def __init__(self, *, sku: str, warehouse: str, on_hand: int, reserved: int, change: int) -> None:
        super().__init__(
            f"{sku}@{warehouse}: on hand {on_hand} {change:+d} would fall below the {reserved} reserved "
            f"/ {sku}@{warehouse} 现有 {on_hand}，变动 {change:+d} 后将低于已占用 {reserved}",
            details=[
                {"sku": sku, "warehouse": warehouse, "on_hand": on_hand, "reserved": reserved, "change": change}
            ],
        )


class IdempotencyKeyReused(Conflict):
    code = "inventory.idempotency_conflict"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key} was used for a different request / 幂等键 {key} 已用于另一笔不同的操作",
            details=[{"field": "idempotency_key", "rule": "idempotency.reused", "message": "幂等键已被其他操作使用"}],
        )


class IdempotencyKeyMissing(InvalidInput):
    code = "inventory.idempotency_key_required"

    def __init__(self) -> None:
        super().__init__(
            "an idempotency key of 1–100 characters is required / 需要 1–100 个字符的幂等键",
            details=[
                {"field": "idempotency_key", "rule": "idempotency.required", "message": "需要 1–100 个字符的幂等键"}
            ],
        )


class TransferNotFound(NotFound):
    code = "inventory.transfer_not_found"

    def __init__(self, transfer_id: int) -> None:
        super().__init__(f"transfer {transfer_id} not found / 调拨单 {transfer_id} 不存在")
