"""Warehouse scans: a PDA or scanner app moves a shipment through pick started → picked → packed → shipped.

Each scan names its device and the device's own event id; a scan is stored once under that pair
(unique index), so a replay returns what the first one did and changes nothing. The order follows
its shipments in the same transaction: picking at the first pick scan, packed when every live
shipment is packed, shipped when every one is shipped (orders' stock rules then turn the
reservation into a deduction).

A scan is refused with a clear reason when its shipment reference is malformed or unknown, it comes
from another warehouse, its order is on hold (an after-sales interception freezes the shipment),
cancelled or being refunded, it skips a step, or it happened before the shipment's last scan. Online,
the refusal is the answer (nothing is stored, so the scanner can try again). An offline batch is
applied in event-time order, each scan in its own savepoint; a refused one is stored as a conflict
for a person (`scan_conflicts`) and the rest go on. A person resolves a conflict once (`resolve_conflict`):
applies it after all, through the very rules above, or dismisses it, with a note either way.

Transactions lock the orders they touch (a batch all of them up front, ordered by number), so scans of
one order's parcels, online or in batches, take turns and never deadlock. On PostgreSQL a batch first
takes its device's turn (an advisory lock): uploads of one device's log, the only ones that can carry
the same event ids, queue. Without it, two uploads storing the same refused scan (which locks no order)
would race on its unique key: the later one failing, or deadlocking against the other's stock locks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, func, or_, select, text
from sqlalchemy.orm import Session

from orderhub.auth.errors import OutsideScope
from orderhub.channels import writeback
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, insert_ignoring_conflicts
from orderhub.core.errors import InvalidInput, OrderHubError
from orderhub.core.outbox import add_event
from orderhub.fulfillment import repository
from orderhub.fulfillment.errors import (
    ConflictAlreadyResolved,
    ConflictStillRefused,
    MalformedShipmentRef,
    OtherWarehouse,
    PhotoRequired,
    ScanIdReused,
    ScanOutOfOrder,
    ShipmentCancelled,
    ShipmentFrozen,
    UnknownScanConflict,
    UnknownShipment,
)
from orderhub.fulfillment.model import (
    FLOW,
    SCAN_TARGET,
    ConflictResolution,
    ParcelPhoto,
    ScanKind,
    ScanOutcome,
    ScanStep,
    Shipment,
    ShipmentStatus,
    WarehouseScan,
    scan_step,
)
from orderhub.inventory import service as inventory
from orderhub.inventory.model import WarehouseKind
from orderhub.logistics import service as logistics
from orderhub.logistics.model import WaybillSource
from orderhub.orders import service as orders
from orderhub.orders.model import Order
from orderhub.orders.status import LABELS_ZH, OrderStatus

# `{order_no}-{parcel_no}`, as printed on the pick list and the parcel label.
SHIPMENT_REF = re.compile(r"^(?P<order_no>[A-Za-z0-9_]{1,32})-(?P<parcel>[1-9][0-9]{0,2})$")
# A device clock this far ahead of ours is wrong, and its scan would block every true later one.
CLOCK_SKEW = timedelta(minutes=10)
# The order statuses in which its shipments are worked on; any other freezes them.
WORKING = (OrderStatus.ALLOCATED, OrderStatus.PICKING, OrderStatus.PACKED, OrderStatus.SHIPPED)
KIND_LABELS_ZH = {ScanKind.PICK_STARTED: "开始拣货", ScanKind.PICKED: "拣货完成", ScanKind.PACKED: "打包",
                  ScanKind.SHIPPED: "发货"}


def shipment_ref(order_no: str, parcel_no: int) -> str:
    return f"{order_no}-{parcel_no}"


@dataclass(frozen=True)
class Scan:
    device_id: str
    client_event_id: str
    warehouse: str
    reference: str
    kind: ScanKind
    occurred_at: datetime
    waybill_no: str = ""

    def same_as(self, row: WarehouseScan) -> bool:
        return (row.warehouse_code, row.reference, row.kind, row.waybill_no) == (
            self.warehouse, self.reference, self.kind.value, self.waybill_no)


@dataclass(frozen=True)
class ScanResult:
    client_event_id: str
    reference: str
    kind: str
    outcome: str  # ScanOutcome, or "refused" (a batch scan whose event id was taken: not stored)
    replay: bool
    order_no: str = ""
    shipment_status: str | None = None
    error_code: str = ""
    message: str = ""

    @classmethod
    def of(cls, row: WarehouseScan, *, replay: bool, shipment_status: str | None) -> ScanResult:
        # A conflict a person applied keeps its first refusal on record, but it is no longer the scan's answer.
        refused = row.outcome == ScanOutcome.CONFLICT.value
        return cls(row.client_event_id, row.reference, row.kind, row.outcome, replay, row.order_no, shipment_status,
                   row.error_code if refused else "", row.message if refused or not row.error_code else "")


@dataclass(frozen=True)
class ScanRules:
    """Who scans and what the merchant requires.

    scope: the one warehouse a scoped scanner works for (None: any); its scans for another are refused
    (OutsideScope), and another warehouse's parcel is to it an unknown one. photo_required: an outsourced
    warehouse's parcel is ship-scanned only once it has a package photo.
    """

    scope: str | None = None
    photo_required: bool = True


def _check_scope(warehouse: str, rules: ScanRules) -> None:
    if rules.scope is not None and warehouse != rules.scope:
        raise OutsideScope(rules.scope, warehouse)


def apply_scan(uow: UnitOfWork, *, scan: Scan, actor: Actor, rules: ScanRules = ScanRules()) -> ScanResult:
    """One online scan: applied, or refused with its reason (nothing stored); a replay returns the first answer."""
    _check_scope(scan.warehouse, rules)
    with uow:
        session = uow.session
        stored = _stored(session, scan)
        if stored is not None:
            return _replayed(session, stored)
        order_no = _parse(scan.reference)[0]
        _lock_orders(session, [order_no])
        result = _apply(session, scan, source="online", actor=actor, now=uow.now(), rules=rules)
        uow.commit()
        return result


def apply_batch(uow: UnitOfWork, *, scans: Sequence[Scan], actor: Actor,
                rules: ScanRules = ScanRules()) -> list[ScanResult]:
    """An offline upload: every scan in event-time order, each applied or stored as a conflict; results in that order.

    A scan whose device and event id were stored before is a replay; one whose id was stored with another
    scan is refused and not stored (the first one stands).
    """
    for scan in scans:
        _check_scope(scan.warehouse, rules)
    ordered = sorted(scans, key=lambda scan: scan.occurred_at)
    with uow:
        session, now = uow.session, uow.now()
        _take_device_turns(session, [scan.device_id for scan in ordered])
        _lock_orders(session, [parsed[0] for scan in ordered if (parsed := _try_parse(scan.reference))])
        results = []
        for scan in ordered:
            try:
                stored = _stored(session, scan)
                if stored is not None:
                    results.append(_replayed(session, stored))
                    continue
                with session.begin_nested():
                    results.append(_apply(session, scan, source="batch", actor=actor, now=now, rules=rules))
            except OrderHubError as exc:
                results.append(_conflict(session, scan, exc, actor=actor, now=now))
        uow.commit()
        return results


class ConflictState(StrEnum):
    OPEN = "open"  # waiting for a person
    RESOLVED = "resolved"  # applied or dismissed
    ALL = "all"


class ConflictDecision(StrEnum):
    APPLY = "apply"  # apply the scan now, if the shipment's state allows it (the same rules as any scan)
    DISMISS = "dismiss"  # leave it unapplied


RESOLVED_AS = {ConflictDecision.APPLY: ConflictResolution.APPLIED,
               ConflictDecision.DISMISS: ConflictResolution.DISMISSED}
NOTE_MAX = 500


def scan_conflicts(session: Session, *, warehouse: str | None = None, state: ConflictState = ConflictState.OPEN,
                   limit: int = 50, before_id: int | None = None) -> list[WarehouseScan]:
    """Refused offline scans, newest first: those waiting for a person, those settled, or both.

    A conflict that was applied is an applied (or already-done) scan now; its resolution marks where it came from.
    """
    open_ = (WarehouseScan.outcome == ScanOutcome.CONFLICT.value) & (WarehouseScan.resolution == "")
    resolved = WarehouseScan.resolution.in_([r.value for r in ConflictResolution])
    where = {ConflictState.OPEN: open_, ConflictState.RESOLVED: resolved,
             ConflictState.ALL: or_(WarehouseScan.outcome == ScanOutcome.CONFLICT.value, resolved)}[state]
    query = select(WarehouseScan).where(where)
    if warehouse:
        query = query.where(WarehouseScan.warehouse_code == warehouse)
    if before_id is not None:
        query = query.where(WarehouseScan.id < before_id)
    return list(session.scalars(query.order_by(WarehouseScan.id.desc()).limit(limit)))


def get_conflict(session: Session, *, conflict_id: int, scope: str | None = None) -> WarehouseScan:
    """One conflict, open or settled; another warehouse's is answered as one that does not exist."""
    row = session.get(WarehouseScan, conflict_id)
    is_conflict = row is not None and (row.outcome == ScanOutcome.CONFLICT.value or row.resolution != "")
    if row is None or not is_conflict or (scope is not None and row.warehouse_code != scope):
        raise UnknownScanConflict(conflict_id)
    return row


def resolve_conflict(uow: UnitOfWork, *, conflict_id: int, decision: ConflictDecision, note: str, actor: Actor,
                     rules: ScanRules = ScanRules()) -> WarehouseScan:
    """A person's decision on a conflict, taken once, with a note saying why.

    `apply` runs the scan through the same rules as when it came in (its own event time, the order's state
    now, the photo rule …); still refused: ConflictStillRefused and nothing changes. `dismiss` leaves the
    shipment as it is. Either way who, when, the decision and the note are kept on the scan. A second
    decision is refused (ConflictAlreadyResolved); `rules.scope` hides other warehouses' conflicts.
    """
    note = _note(note)
    with uow:
        session, now = uow.session, uow.now()
        found = get_conflict(session, conflict_id=conflict_id, scope=rules.scope)
        if found.order_no:
            _lock_orders(session, [found.order_no])  # before the scan row, as every scan transaction does
        row = session.scalar(select(WarehouseScan).where(WarehouseScan.id == conflict_id).with_for_update()
                             .execution_options(populate_existing=True))
        assert row is not None  # a scan row is never deleted
        if row.resolution:
            raise ConflictAlreadyResolved(row.id, row.resolution, row.resolved_by)
        if decision is ConflictDecision.APPLY:
            _apply_conflict(session, row, actor=actor, now=now, rules=rules)
        row.resolution, row.resolved_at = RESOLVED_AS[decision].value, now
        row.resolved_by, row.resolution_note = actor.name[:64], note
        add_event(session, topic="fulfillment.scan_conflict_resolved", key=row.order_no or row.reference, at=now,
                  payload={"id": row.id, "order_no": row.order_no, "reference": row.reference,
                           "warehouse": row.warehouse_code, "kind": row.kind, "decision": decision.value,
                           "outcome": row.outcome, "error_code": row.error_code, "note": note,
                           "resolved_by": row.resolved_by})
        uow.commit()
        return row


def _note(note: str) -> str:
    note = note.strip()
    if any(ord(char) < 32 and char not in "\t\n\r" for char in note):
        raise InvalidInput("the note holds control characters / 说明中含有控制字符",
                           details=[{"field": "note", "rule": "characters", "message": "control characters",
                                     "messages": {"zh-CN": "含有控制字符", "en": "control characters"}}])
    if not note:
        raise InvalidInput("say why in the note / 请填写处理说明",
                           details=[{"field": "note", "rule": "required", "message": "required",
                                     "messages": {"zh-CN": "备注必填", "en": "a note is required"}}])
    if len(note) > NOTE_MAX:
        raise InvalidInput(f"the note is longer than {NOTE_MAX} characters / 说明不能超过 {NOTE_MAX} 个字",
                           details=[{"field": "note", "rule": "max_length", "message": str(NOTE_MAX),
                                     "messages": {"zh-CN": f"最多 {NOTE_MAX} 个字", "en": f"at most {NOTE_MAX}"}}])
    return note


def _apply_conflict(session: Session, row: WarehouseScan, *, actor: Actor, now: datetime, rules: ScanRules) -> None:
    """The stored scan through the scan rules now; the row becomes what the scan did (applied or already done)."""
    scan = Scan(row.device_id, row.client_event_id, row.warehouse_code, row.reference, ScanKind(row.kind),
                row.occurred_at, row.waybill_no)
    try:
        shipment, order_no, outcome, _ = _move(session, scan, actor=actor, now=now, rules=rules)
    except OrderHubError as exc:
        raise ConflictStillRefused(row.id, exc) from exc
    row.outcome, row.shipment_id, row.order_no = outcome.value, shipment.id, order_no
    add_event(session, topic="fulfillment.shipment_scanned", key=order_no, at=now, payload={
        "order_no": order_no, "reference": scan.reference, "warehouse": scan.warehouse, "kind": scan.kind.value,
        "outcome": outcome.value, "shipment_status": shipment.status, "occurred_at": scan.occurred_at.isoformat(),
        "device_id": scan.device_id, "client_event_id": scan.client_event_id, "waybill_no": scan.waybill_no,
        "error_code": "", "resolved_conflict": row.id,
    })


def shipment_scans(session: Session, shipment_id: int) -> list[WarehouseScan]:
    """A shipment's scans in the order they happened."""
    return list(session.scalars(select(WarehouseScan).where(WarehouseScan.shipment_id == shipment_id)
                                .order_by(WarehouseScan.occurred_at, WarehouseScan.id)))


# ---------------------------------------------------------------------------------------------
# Applying one scan
# ---------------------------------------------------------------------------------------------


def _apply(session: Session, scan: Scan, *, source: str, actor: Actor, now: datetime, rules: ScanRules) -> ScanResult:
    shipment, order_no, outcome, message = _move(session, scan, actor=actor, now=now, rules=rules)
    return _store(session, scan, shipment, order_no, outcome, source=source, actor=actor, now=now, message=message)


def _move(session: Session, scan: Scan, *, actor: Actor, now: datetime,
          rules: ScanRules) -> tuple[Shipment, str, ScanOutcome, str]:
    """Check the scan against every rule and move its shipment (and order) on; the caller records the scan.

    Raises the rule's error when refused; the caller's transaction (or savepoint) then rolls back whatever the
    binding of the scan's waybill may have begun, so a refused scan changes nothing.
    """
    order_no, parcel_no = _parse(scan.reference)
    if scan.occurred_at > now + CLOCK_SKEW:
        raise InvalidInput(f"scan time {scan.occurred_at.isoformat()} is in the future; check the device clock "
                           f"/ 扫描时间晚于当前时间，请检查设备时钟",
                           details=[{"field": "occurred_at", "rule": "time.future", "message": "in the future"}])
    shipment = _shipment(session, order_no, parcel_no, scan.reference)
    if shipment.warehouse_code != scan.warehouse:
        if rules.scope is not None:
            raise UnknownShipment(scan.reference)
        raise OtherWarehouse(scan.reference, scan.warehouse, shipment.warehouse_code)
    order = repository.lock_order(session, order_no)
    step = scan_step(shipment.status, scan.kind)
    if step is ScanStep.CANCELLED:
        raise ShipmentCancelled(scan.reference)
    if step is ScanStep.DONE:
        return (shipment, order_no, ScanOutcome.ALREADY_DONE,
                f"shipment already {shipment.status} / 包裹已是 {shipment.status}，不改变状态")
    _check_working(order, scan.reference)
    if step is ScanStep.SKIPS:
        raise ScanOutOfOrder(
            f"{scan.kind.value} scan of shipment {scan.reference} skips a step: it is {shipment.status} "
            f"/ 包裹 {scan.reference} 当前为 {shipment.status}，不能直接{KIND_LABELS_ZH[scan.kind]}",
            details=[{"reference": scan.reference, "status": shipment.status, "kind": scan.kind.value}])
    last = _last_applied_at(session, shipment.id)
    if last is not None and scan.occurred_at < last:
        raise ScanOutOfOrder(
            f"{scan.kind.value} scan at {scan.occurred_at.isoformat()} is earlier than the shipment's last scan at "
            f"{last.isoformat()} / 扫描时间早于该包裹上一次扫描，请人工核对",
            details=[{"reference": scan.reference, "occurred_at": scan.occurred_at.isoformat(),
                      "last_scan_at": last.isoformat()}])
    if scan.kind is ScanKind.SHIPPED and rules.photo_required and _lacks_required_photo(session, shipment):
        raise PhotoRequired(scan.reference, shipment.warehouse_code)
    if scan.waybill_no:
        logistics.bind(session, order_no=order_no, carrier=shipment.carrier_code, waybill_no=scan.waybill_no,
                       actor=actor, source=WaybillSource.CARRIER, now=now, shipment_id=shipment.id)
    shipment.status, shipment.updated_at = SCAN_TARGET[scan.kind].value, now
    _follow(session, order, scan, actor=actor, now=now)
    if scan.kind is ScanKind.SHIPPED:
        _write_back(session, order, shipment, actor=actor, now=now)
    return shipment, order_no, ScanOutcome.APPLIED, ""


def _lacks_required_photo(session: Session, shipment: Shipment) -> bool:
    outsourced = inventory.get_warehouse(session, shipment.warehouse_code).kind == WarehouseKind.THIRD_PARTY
    return outsourced and not session.scalar(select(exists().where(ParcelPhoto.shipment_id == shipment.id)))


def _write_back(session: Session, order: Order, shipment: Shipment, *, actor: Actor, now: datetime) -> None:
    """Tell the order's platform the parcel left, with its carrier and waybill, in the scan's own transaction."""
    if not writeback.writes_shipments(order.channel):
        return
    waybill = logistics.shipment_waybill(session, shipment_id=shipment.id)
    if waybill is None:
        # Nothing to tell the platform yet; alerts pick this up, and binding a number later is a manual write-back.
        add_event(session, topic="fulfillment.shipped_without_waybill", key=order.order_no, at=now,
                  payload={"order_no": order.order_no, "parcel_no": shipment.parcel_no,
                           "carrier": shipment.carrier_code})
        return
    writeback.queue_shipment(session, order_no=order.order_no, carrier_code=waybill.carrier_code,
                             waybill_no=waybill.number, actor=actor, at=now)


def _check_working(order: Order, reference: str) -> None:
    status = OrderStatus(order.status)
    if status in WORKING:
        return
    if status is OrderStatus.ON_HOLD:
        because = f"on hold: {order.hold_reason}" if order.hold_reason else "on hold"
        because_zh = f"已挂起（{order.hold_reason}）" if order.hold_reason else "已挂起"
    else:
        because, because_zh = status.value, LABELS_ZH[status]
    raise ShipmentFrozen(
        f"order {order.order_no} is {because}: shipment {reference} is frozen, do not pick, pack or ship it "
        f"/ 订单 {order.order_no} {because_zh}，包裹 {reference} 已冻结，请勿拣货、打包或发货",
        details=[{"reference": reference, "order_no": order.order_no, "status": status.value,
                  "hold_reason": order.hold_reason or ""}])


def _follow(session: Session, order: Order, scan: Scan, *, actor: Actor, now: datetime) -> None:
    """Move the order to where its live shipments are: picking once one started, then the least advanced one's step."""
    statuses = [ShipmentStatus(status) for status in session.scalars(
        select(Shipment.status).where(Shipment.order_id == order.id,
                                      Shipment.status != ShipmentStatus.CANCELLED.value))]
    least = min(FLOW.index(status) for status in statuses)
    target = {FLOW.index(ShipmentStatus.PACKED): OrderStatus.PACKED,
              FLOW.index(ShipmentStatus.SHIPPED): OrderStatus.SHIPPED}.get(least, OrderStatus.PICKING)
    path = WORKING[WORKING.index(OrderStatus(order.status)) + 1:WORKING.index(target) + 1]
    for status in path:
        orders.apply_transition(session, order, target=status, actor=actor, at=now,
                                reason=f"扫描{KIND_LABELS_ZH[scan.kind]}：包裹 {scan.reference}（{scan.warehouse}）")


def _store(session: Session, scan: Scan, shipment: Shipment | None, order_no: str, outcome: ScanOutcome, *,
           source: str, actor: Actor, now: datetime, error: OrderHubError | None = None,
           message: str = "") -> ScanResult:
    row = _row(scan, outcome, source=source, actor=actor, now=now,
               shipment_id=shipment.id if shipment else None, order_no=order_no,
               error_code=error.code if error else "", message=(error.message if error else message)[:500])
    stored = session.scalar(insert_ignoring_conflicts(session, WarehouseScan.__table__)
                            .returning(WarehouseScan.__table__.c.id), row)
    if stored is None:
        # The same device and event id landed in another transaction meanwhile: that one stands.
        raise ScanIdReused(f"scan {scan.device_id}/{scan.client_event_id} was stored meanwhile; send it again "
                           f"/ 该扫描已由另一请求保存，请重试")
    topic = "fulfillment.scan_conflict" if outcome is ScanOutcome.CONFLICT else "fulfillment.shipment_scanned"
    add_event(session, topic=topic, key=order_no or scan.reference, at=now, payload={
        "order_no": order_no, "reference": scan.reference, "warehouse": scan.warehouse, "kind": scan.kind.value,
        "outcome": outcome.value, "shipment_status": shipment.status if shipment else None,
        "occurred_at": scan.occurred_at.isoformat(), "device_id": scan.device_id,
        "client_event_id": scan.client_event_id, "waybill_no": scan.waybill_no, "error_code": row["error_code"],
    })
    return ScanResult(scan.client_event_id, scan.reference, scan.kind.value, outcome.value, False, order_no,
                      shipment.status if shipment else None, row["error_code"], row["message"])


def _conflict(session: Session, scan: Scan, error: OrderHubError, *, actor: Actor, now: datetime) -> ScanResult:
    """A refused offline scan, kept for a person (or, when its id was taken by another scan, only reported)."""
    if isinstance(error, ScanIdReused):
        return ScanResult(scan.client_event_id, scan.reference, scan.kind.value, "refused", False,
                          error_code=error.code, message=error.message)
    parsed = _try_parse(scan.reference)
    return _store(session, scan, None, parsed[0] if parsed else "", ScanOutcome.CONFLICT, source="batch",
                  actor=actor, now=now, error=error)


def _row(scan: Scan, outcome: ScanOutcome, *, source: str, actor: Actor, now: datetime, shipment_id: int | None,
         order_no: str, error_code: str, message: str) -> dict[str, Any]:
    return {"device_id": scan.device_id, "client_event_id": scan.client_event_id, "warehouse_code": scan.warehouse,
            "reference": scan.reference, "waybill_no": scan.waybill_no, "kind": scan.kind.value,
            "shipment_id": shipment_id, "order_no": order_no[:32], "occurred_at": scan.occurred_at,
            "received_at": now, "source": source, "outcome": outcome.value, "error_code": error_code,
            "message": message, "actor": actor.name[:64]}


# ---------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------


def _try_parse(reference: str) -> tuple[str, int] | None:
    match = SHIPMENT_REF.match(reference)
    return (match["order_no"], int(match["parcel"])) if match else None


def _parse(reference: str) -> tuple[str, int]:
    parsed = _try_parse(reference)
    if parsed is None:
        raise MalformedShipmentRef(reference)
    return parsed


def _take_device_turns(session: Session, device_ids: Sequence[str]) -> None:
    """Queue behind other open uploads of the same devices (PostgreSQL; SQLite writers take turns anyway)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for device_id in sorted(set(device_ids)):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                        {"key": f"orderhub.warehouse_scan.device:{device_id}"})


def _lock_orders(session: Session, order_nos: Sequence[str]) -> None:
    """Row-lock the orders in number order (the same order in every transaction: no deadlocks)."""
    for order_no in sorted(set(order_nos)):
        if orders.order_ids(session, [order_no]):
            repository.lock_order(session, order_no)


def _shipment(session: Session, order_no: str, parcel_no: int, reference: str) -> Shipment:
    order_id = orders.order_ids(session, [order_no]).get(order_no)
    shipment = None if order_id is None else repository.parcel(session, order_id, parcel_no)
    if shipment is None:
        raise UnknownShipment(reference)
    return shipment


def _last_applied_at(session: Session, shipment_id: int) -> datetime | None:
    return session.scalar(select(func.max(WarehouseScan.occurred_at)).where(
        WarehouseScan.shipment_id == shipment_id, WarehouseScan.outcome == ScanOutcome.APPLIED.value))


def _stored(session: Session, scan: Scan) -> WarehouseScan | None:
    """The scan stored before under the device's event id; ScanIdReused when that was another scan."""
    row = session.scalar(select(WarehouseScan).where(WarehouseScan.device_id == scan.device_id,
                                                     WarehouseScan.client_event_id == scan.client_event_id))
    if row is not None and row.warehouse_code != scan.warehouse:
        # Another warehouse's scan: say nothing of it.
        raise ScanIdReused(f"event id {scan.client_event_id} of device {scan.device_id} was used by another scan; "
                           f"the first one stands / 设备事件号已被另一次扫描使用",
                           details=[{"client_event_id": scan.client_event_id}])
    if row is not None and not scan.same_as(row):
        raise ScanIdReused(
            f"event id {scan.client_event_id} of device {scan.device_id} was used by another scan "
            f"({row.kind} {row.reference}); the first one stands / 设备事件号已被另一次扫描使用",
            details=[{"client_event_id": scan.client_event_id, "reference": row.reference, "kind": row.kind}])
    return row


def _replayed(session: Session, row: WarehouseScan) -> ScanResult:
    status = session.scalar(select(Shipment.status).where(Shipment.id == row.shipment_id)) if row.shipment_id else None
    return ScanResult.of(row, replay=True, shipment_status=status)
