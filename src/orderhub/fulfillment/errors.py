"""Typed errors of the fulfillment domain."""

from __future__ import annotations

from orderhub.core.errors import Conflict, InvalidInput, NotFound, OrderHubError


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


class MalformedShipmentRef(InvalidInput):
    code = "fulfillment.malformed_shipment_ref"

    def __init__(self, reference: str) -> None:
        super().__init__(
            f"shipment reference {reference!r} is not ORDER_NO-PARCEL (e.g. DY_20260209_8a3f7b-1) "
            f"/ 包裹编号格式错误，应为 订单号-包裹序号",
            details=[{"field": "reference", "rule": "shipment_ref.format", "message": reference}])


class UnknownShipment(NotFound):
    code = "fulfillment.unknown_shipment"

    def __init__(self, reference: str) -> None:
        super().__init__(f"no shipment {reference} / 包裹 {reference} 不存在",
                         details=[{"reference": reference}])


class OtherWarehouse(Conflict):
    """A scanner may only move its own warehouse's shipments."""

    code = "fulfillment.other_warehouse"

    def __init__(self, reference: str, scanned_at: str, ships_from: str) -> None:
        super().__init__(f"shipment {reference} ships from {ships_from}, not {scanned_at} "
                         f"/ 包裹 {reference} 属于仓库 {ships_from}，不能在 {scanned_at} 扫描",
                         details=[{"reference": reference, "warehouse": scanned_at, "ships_from": ships_from}])


class ShipmentFrozen(Conflict):
    """The order is on hold (an after-sales interception, or any other hold), cancelled or being refunded."""

    code = "fulfillment.shipment_frozen"


class ShipmentCancelled(Conflict):
    code = "fulfillment.shipment_cancelled"

    def __init__(self, reference: str) -> None:
        super().__init__(f"shipment {reference} was cancelled (the order was routed again) "
                         f"/ 包裹 {reference} 已作废（订单已重新分仓）", details=[{"reference": reference}])


class ScanOutOfOrder(Conflict):
    """A scan that skips a step, or happened before the shipment's last scan."""

    code = "fulfillment.scan_out_of_order"


class ScanIdReused(Conflict):
    """The device's client event id was stored before with another scan: the first one stands."""

    code = "fulfillment.scan_id_reused"


class PhotoRequired(Conflict):
    """An outsourced warehouse ships a parcel only once its package photo (showing the order number) is uploaded."""

    code = "fulfillment.photo_required"

    def __init__(self, reference: str, warehouse: str) -> None:
        super().__init__(f"shipment {reference} has no package photo; {warehouse} is an outsourced warehouse and "
                         f"must upload one showing the order number before the ship scan "
                         f"/ 包裹 {reference} 尚未上传包裹照片（需拍到订单号），外包仓发货前必须上传",
                         details=[{"reference": reference, "warehouse": warehouse}])


class AmbiguousParcel(InvalidInput):
    """An order number typed where the order has several parcels in the warehouse: the parcel label says which."""

    code = "fulfillment.ambiguous_parcel"

    def __init__(self, order_no: str, references: list[str]) -> None:
        listed = ", ".join(references)
        super().__init__(f"order {order_no} has {len(references)} parcels here ({listed}); scan the parcel label "
                         f"/ 订单 {order_no} 在本仓有 {len(references)} 个包裹（{listed}），请扫描包裹标签",
                         details=[{"field": "parcel", "rule": "parcel.ambiguous", "message": listed}])


class UnknownScanConflict(NotFound):
    code = "fulfillment.unknown_scan_conflict"

    def __init__(self, conflict_id: int) -> None:
        super().__init__(f"no scan conflict #{conflict_id} / 扫描冲突 #{conflict_id} 不存在",
                         details=[{"id": conflict_id}])


class ConflictAlreadyResolved(Conflict):
    """A conflict is decided once; the first decision stands."""

    code = "fulfillment.conflict_resolved"

    def __init__(self, conflict_id: int, resolution: str, by: str) -> None:
        super().__init__(f"scan conflict #{conflict_id} was already {resolution} by {by} "
                         f"/ 扫描冲突 #{conflict_id} 已由 {by} 处理",
                         details=[{"id": conflict_id, "resolution": resolution, "resolved_by": by}])


class ConflictStillRefused(Conflict):
    """Applying a conflict runs the scan rules again; they refused it again (the reason is the rule's own)."""

    code = "fulfillment.conflict_still_refused"

    def __init__(self, conflict_id: int, refusal: OrderHubError) -> None:
        super().__init__(f"scan conflict #{conflict_id} still cannot be applied, nothing changed: {refusal.message} "
                         f"/ 扫描冲突 #{conflict_id} 仍不能执行，未做任何更改",
                         details=[{"id": conflict_id, "code": refusal.code, "message": refusal.message,
                                   "details": refusal.details}])


class UnknownPhoto(NotFound):
    code = "portal.unknown_photo"

    def __init__(self, photo_id: int) -> None:
        super().__init__(f"no package photo #{photo_id} / 包裹照片 #{photo_id} 不存在", details=[{"id": photo_id}])
