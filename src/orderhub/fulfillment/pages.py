"""Fulfillment in the console: the order page's routing panel ("why this warehouse, why this carrier"), and
the warehouse page, where a warehouse's staff (an outsourced warehouse's too, held to theirs) scan parcels,
upload package photos, read their daily report and settle scan conflicts.

Thin like the other console pages: parse, authorise, call `portal` / `scans`, render. Every write answers an
HTMX request with the work area (`fulfillment/_work.html`) drawn again, so lists, photos and the report agree.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from orderhub.auth.deps import RuntimeDep, require_console
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.core.errors import InvalidInput, OrderHubError
from orderhub.core.i18n import humanise
from orderhub.core.schemas import RowId
from orderhub.fulfillment import portal, scans, service
from orderhub.fulfillment.api import OrderNo, ParcelNo, photo_response
from orderhub.fulfillment.model import RoutingDecision, ScanKind, ShipmentStatus
from orderhub.fulfillment.photos import DiskPhotoStore
from orderhub.inventory import service as inventory
from orderhub.inventory.model import Warehouse
from orderhub.runtime import Runtime
from orderhub.web.htmx import WAREHOUSE_PATH, is_htmx, language_of, render

router = APIRouter(prefix=WAREHOUSE_PATH, include_in_schema=False)

WarehouseReader = Annotated[Principal, Depends(require_console(Permission.PORTAL_READ))]
Scanner = Annotated[Principal, Depends(require_console(Permission.FULFILLMENT_SCAN))]
Photographer = Annotated[Principal, Depends(require_console(Permission.PORTAL_PHOTO))]

PAGE = 100
EVENT_ID = re.compile(r"[0-9a-f]{32}")
SHIPMENT_LABELS_ZH = {
    ShipmentStatus.PLANNED: "待拣货", ShipmentStatus.PICKING: "拣货中", ShipmentStatus.PICKED: "已拣货",
    ShipmentStatus.PACKED: "已打包", ShipmentStatus.SHIPPED: "已发货", ShipmentStatus.CANCELLED: "已作废",
}


@dataclass(frozen=True)
class RoutingPanel:
    decision: RoutingDecision
    warehouses: list[dict[str, Any]]  # the stored verdicts, with `until` as a datetime for display
    warehouse_names: dict[str, str]
    carrier_names: dict[str, list[str]]  # code → [Chinese, English]

    def carrier(self, code: str, language: str) -> str:
        names = self.carrier_names.get(code)
        if names is None:
            return code
        return names[0] if language == "zh-CN" else names[1]

    def warehouse(self, code: str) -> str:
        return self.warehouse_names.get(code, code)


def routing_panel(session: Session, *, order_id: int) -> RoutingPanel | None:
    """The order's latest routing decision, ready for `fulfillment/_routing.html` (None: never routed)."""
    decision = service.latest_decision(session, order_id=order_id)
    if decision is None:
        return None
    names = decision.reasons["names"]
    warehouses = [{**item, "until": datetime.fromisoformat(item["until"]) if item["until"] else None}
                  for item in decision.reasons["warehouses"]]
    return RoutingPanel(decision, warehouses, names["warehouses"], names["carriers"])


# ------------------------------------------------------------------------------------------------
# The warehouse page
# ------------------------------------------------------------------------------------------------


async def _form_data(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form_data)]


def _text(form: FormData, name: str, limit: int = 200) -> str:
    """A form field, trimmed; NUL, which no field may hold (nor PostgreSQL store), is refused."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        raise InvalidInput(f"the field {name} holds a NUL character / 字段 {name} 含有非法字符",
                           details=[{"field": name, "rule": "characters", "message": "NUL"}])
    return value.strip()[:limit]


def _labels(request: Request) -> dict[str, Any]:
    zh = language_of(request) == "zh-CN"
    return {
        "shipment_labels": {s.value: SHIPMENT_LABELS_ZH[s] if zh else humanise(s.value) for s in ShipmentStatus},
        "kind_labels": {k.value: scans.KIND_LABELS_ZH[k] if zh else humanise(k.value) for k in ScanKind},
    }


def _day(runtime: Runtime, text: str) -> date:
    """The business day asked for (YYYY-MM-DD), today when none."""
    if not text:
        return runtime.clock.now().astimezone(runtime.settings.zone).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidInput(f"{text[:10]!r} is not a date (YYYY-MM-DD) / 日期格式应为 YYYY-MM-DD",
                           details=[{"field": "date", "rule": "date.format", "message": text[:10]}]) from None


def _warehouse(session: Session, principal: Principal, asked: str) -> Warehouse | None:
    """The warehouse the page is for: the user's own when held to one (naming another: OutsideScope), else the
    one picked (None: not picked yet)."""
    code = principal.warehouse_for(asked or None)
    return inventory.get_warehouse(session, code) if code else None


def _work(request: Request, session: Session, runtime: Runtime, principal: Principal, warehouse: Warehouse,
          day: date, **extra: Any) -> dict[str, Any]:
    """What `fulfillment/_work.html` shows: the scan form, parcels waiting and shipped that day, the report."""
    zone = runtime.settings.zone
    permissions = principal.permissions
    return {
        "warehouse": warehouse, "day": day, "today": runtime.clock.now().astimezone(zone).date(),
        "waiting": portal.waiting_parcels(session, warehouse=warehouse.code, limit=PAGE),
        "shipped": portal.shipped_parcels(session, warehouse=warehouse.code, day=day, zone=zone, limit=PAGE),
        "report": portal.daily_report(session, warehouse=warehouse.code, day=day, zone=zone),
        "can_scan": Permission.FULFILLMENT_SCAN in permissions, "can_photo": Permission.PORTAL_PHOTO in permissions,
        "can_read_orders": Permission.ORDERS_READ in permissions, "photo_order_code": runtime.settings.photo_order_code,
        "event_id": uuid.uuid4().hex, "values": {}, "scan_error": None, "result": None,
        **_labels(request), **extra,
    }


def _conflicts(session: Session, principal: Principal, warehouse: Warehouse, state: str) -> dict[str, Any]:
    chosen = scans.ConflictState.RESOLVED if state == "resolved" else scans.ConflictState.OPEN
    return {"conflicts": scans.scan_conflicts(session, warehouse=warehouse.code, state=chosen, limit=PAGE),
            "conflict_state": chosen.value, "can_resolve": Permission.FULFILLMENT_SCAN in principal.permissions}


def page_url(warehouse: str, day: str = "") -> str:
    return f"{WAREHOUSE_PATH}?{urlencode({'warehouse': warehouse, **({'date': day} if day else {})})}"


@router.get("")
def warehouse_page(request: Request, runtime: RuntimeDep, principal: WarehouseReader, warehouse: str = "",
                   day_text: Annotated[str, Query(alias="date")] = "", conflicts: str = "") -> HTMLResponse:
    """The warehouse's work: a user held to one warehouse sees it; others pick one."""
    day = _day(runtime, day_text)
    with runtime.reading() as session:
        chosen = _warehouse(session, principal, warehouse.strip()[:32])
        context: dict[str, Any] = {
            "nav": "warehouse", "chosen": chosen, "scoped": principal.warehouse_code is not None, "day": day,
            "warehouses": inventory.list_warehouses(session) if principal.warehouse_code is None else [],
        }
        if chosen is not None:
            context |= _work(request, session, runtime, principal, chosen, day)
            context |= _conflicts(session, principal, chosen, conflicts)
    return render(request, "fulfillment/warehouse.html", context)


def _posted_warehouse(principal: Principal, form: FormData) -> str:
    """The warehouse a form acts for: the user's own when held to one (naming another: OutsideScope)."""
    code = principal.warehouse_for(_text(form, "warehouse", 32) or None)
    if code is None:
        raise InvalidInput("pick a warehouse / 请选择仓库",
                           details=[{"field": "warehouse", "rule": "required", "message": "required",
                                     "messages": {"zh-CN": "必填", "en": "required"}}])
    return code


def _redraw(request: Request, runtime: Runtime, principal: Principal, form: FormData, *,
            template: str = "fulfillment/_work.html", with_conflicts: bool = False, status_code: int = 200,
            headers: dict[str, str] | None = None, **extra: Any) -> HTMLResponse:
    """The work area again (inside `template`, with the open conflicts if asked), for the warehouse and day the
    form came from."""
    day = _day(runtime, _text(form, "date", 10))
    with runtime.reading() as session:
        chosen = inventory.get_warehouse(session, _posted_warehouse(principal, form))
        context = _work(request, session, runtime, principal, chosen, day, **extra)
        if with_conflicts:
            context |= _conflicts(session, principal, chosen, "open")
    return render(request, template, context, status_code=status_code, headers=headers)


@router.post("/scan")
def scan(request: Request, runtime: RuntimeDep, principal: Scanner, form: Posted) -> Response:
    """Scan or type a parcel label or order number: the parcel takes the step chosen, or its next one.

    A refusal comes back inside the scan form with what was typed; nothing was stored, so the same form (and
    event id) can be sent again once fixed. The event id makes a form sent twice one scan.
    """
    values = {name: _text(form, name, 64) for name in ("parcel", "kind", "waybill_no", "event_id")}
    # The form's own id for this scan; a missing or mangled one gets a new id (the scan is then not a replay).
    event_id = values["event_id"] if EVENT_ID.fullmatch(values["event_id"]) else uuid.uuid4().hex
    values["event_id"] = event_id
    try:
        kind = ScanKind(values["kind"]) if values["kind"] else None
    except ValueError:
        kind = None
    try:
        if not values["parcel"]:
            raise InvalidInput("scan or type a parcel label or an order number / 请扫描或输入包裹号或订单号",
                               details=[{"field": "parcel", "rule": "required", "message": "required",
                                         "messages": {"zh-CN": "必填", "en": "required"}}])
        result = portal.scan_parcel(
            runtime.uow(), text=values["parcel"], kind=kind, warehouse=_posted_warehouse(principal, form),
            device_id=f"console:{principal.username}"[:64], client_event_id=event_id,
            actor=principal.actor("console"), rules=_rules(runtime, principal), waybill_no=values["waybill_no"])
    except OrderHubError as exc:
        if not is_htmx(request):
            raise
        return _redraw(request, runtime, principal, form, status_code=exc.status, values=values, scan_error=exc,
                       event_id=event_id, headers={"HX-Retarget": "#warehouse-work", "HX-Reswap": "outerHTML"})
    if not is_htmx(request):
        return RedirectResponse(page_url(_text(form, "warehouse", 32), _text(form, "date", 10)), status_code=303)
    return _redraw(request, runtime, principal, form, result=result, values={"kind": values["kind"]})


def _rules(runtime: Runtime, principal: Principal) -> scans.ScanRules:
    return scans.ScanRules(scope=principal.warehouse_code, photo_required=runtime.settings.photo_required)


@router.post("/parcels/{order_no}/{parcel_no}/photo")
def upload_photo(order_no: OrderNo, parcel_no: ParcelNo, request: Request, runtime: RuntimeDep,
                 principal: Photographer, form: Posted) -> Response:
    """The parcel's package photo (it must show the order number, by the photo rule); the area shows it."""
    upload = form.get("photo")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput("choose a photo of the parcel / 请选择包裹照片",
                           details=[{"field": "photo", "rule": "required", "message": "required",
                                     "messages": {"zh-CN": "必填", "en": "required"}}])
    settings = runtime.settings
    # One byte over the limit is enough to refuse it; never read more than that.
    content = upload.file.read(settings.photo_max_bytes + 1)
    portal.attach_photo(runtime.uow(), DiskPhotoStore(settings.photo_dir), order_no=order_no,
                        parcel_no=parcel_no, warehouse=principal.warehouse_code, content=content,
                        max_bytes=settings.photo_max_bytes, actor=principal.actor("console"),
                        require_order_code=settings.photo_order_code)
    if not is_htmx(request):
        return RedirectResponse(page_url(_text(form, "warehouse", 32), _text(form, "date", 10)), status_code=303)
    return _redraw(request, runtime, principal, form, photo_saved=f"{order_no}-{parcel_no}")


@router.get("/photos/{photo_id}")
def photo(photo_id: RowId, runtime: RuntimeDep, principal: WarehouseReader) -> Response:
    return photo_response(runtime, photo_id=photo_id, warehouse=principal.warehouse_code)


@router.post("/conflicts/{conflict_id}/resolve")
def resolve_conflict(conflict_id: RowId, request: Request, runtime: RuntimeDep, principal: Scanner,
                     form: Posted) -> Response:
    """Apply or dismiss a conflict with a note; the row shows the decision and the work area what it changed."""
    try:
        decision = scans.ConflictDecision(_text(form, "decision", 16))
    except ValueError:
        raise InvalidInput("choose apply or dismiss / 请选择执行或忽略",
                           details=[{"field": "decision", "rule": "choice", "message": "apply, dismiss",
                                     "messages": {"zh-CN": "执行或忽略", "en": "apply or dismiss"}}]) from None
    row = scans.resolve_conflict(runtime.uow(), conflict_id=conflict_id, decision=decision,
                                 note=_text(form, "note", scans.NOTE_MAX + 1), actor=principal.actor("console"),
                                 rules=_rules(runtime, principal))
    if not is_htmx(request):
        return RedirectResponse(page_url(row.warehouse_code, _text(form, "date", 10)), status_code=303)
    # The open conflicts without this one, and the work area (an applied scan moved a parcel) out of band.
    return _redraw(request, runtime, principal, form, template="fulfillment/_resolved.html", with_conflicts=True,
                   resolved=row)
