"""The fulfillment REST API: route an order now, read its decision, record warehouse SLA results, scan shipments."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, File, Path, Query, Response, UploadFile

from orderhub.auth.deps import RuntimeDep, require
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.core.clock import ensure_utc
from orderhub.core.errors import InvalidInput
from orderhub.core.pagination import decode_id_cursor
from orderhub.core.schemas import RowId
from orderhub.fulfillment import portal as portal_service
from orderhub.fulfillment import scans, service
from orderhub.fulfillment.model import ShipmentStatus
from orderhub.fulfillment.photos import DiskPhotoStore
from orderhub.fulfillment.schemas import (
    BreakerOut,
    PhotoOut,
    PortalParcelList,
    PortalParcelOut,
    PortalReportOut,
    RoutingOut,
    ScanBatchIn,
    ScanBatchOut,
    ScanConflictList,
    ScanConflictOut,
    ScanConflictResolveIn,
    ScanIn,
    ScanOut,
    SlaIn,
)
from orderhub.fulfillment.tables import tables_at
from orderhub.logistics import ewaybill
from orderhub.logistics.schemas import EwaybillRead
from orderhub.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["fulfillment"])
portal = APIRouter(prefix="/api/v1/portal", tags=["warehouse portal"])
# The photo uploads (API and console) may carry a photo up to the photo limit (plus the multipart envelope),
# more than other bodies.
PHOTO_UPLOAD_PATH = re.compile(r"^/(api/v1/portal|console/warehouse)/parcels/[^/]+/[^/]+/photo$")
UPLOAD_OVERHEAD_BYTES = 64 * 1024

Reader = Annotated[Principal, Depends(require(Permission.ORDERS_READ))]
Router = Annotated[Principal, Depends(require(Permission.ORDERS_ROUTE))]
SlaRecorder = Annotated[Principal, Depends(require(Permission.FULFILLMENT_SLA))]
Scanner = Annotated[Principal, Depends(require(Permission.FULFILLMENT_SCAN))]
PortalReader = Annotated[Principal, Depends(require(Permission.PORTAL_READ))]
Photographer = Annotated[Principal, Depends(require(Permission.PORTAL_PHOTO))]
WarehouseCode = Annotated[str, Path(max_length=32)]
OrderNo = Annotated[str, Path(max_length=32)]
ParcelNo = Annotated[int, Path(ge=1, le=999)]


@router.post("/orders/{order_no}/route", response_model=RoutingOut)
def route_order(order_no: str, runtime: RuntimeDep, principal: Router) -> RoutingOut:
    """Route an approved order now; the answer says where it goes, or why it cannot go yet."""
    service.route_order(runtime.uow(), order_no=order_no, tables=tables_at(runtime.settings.routing_file),
                        actor=principal.actor("api"))
    with runtime.reading() as session:
        return RoutingOut.of(service.order_routing(session, order_no))


@router.get("/orders/{order_no}/routing", response_model=RoutingOut)
def get_routing(order_no: str, runtime: RuntimeDep, _: Reader) -> RoutingOut:
    """The order's latest routing decision with its reasons, and its planned parcels."""
    with runtime.reading() as session:
        return RoutingOut.of(service.order_routing(session, order_no))


@router.get("/fulfillment/breakers", response_model=list[BreakerOut])
def list_breakers(runtime: RuntimeDep, _: Reader) -> list[BreakerOut]:
    """Each warehouse's SLA circuit breaker: closed, open (out of routing until) or half-open."""
    with runtime.reading() as session:
        return [BreakerOut.of(view) for view in service.breaker_views(session, now=runtime.clock.now())]


@router.post("/fulfillment/warehouses/{code}/sla", response_model=BreakerOut)
def record_sla(code: WarehouseCode, body: SlaIn, runtime: RuntimeDep, principal: SlaRecorder) -> BreakerOut:
    """Record whether one piece of a warehouse's work met its SLA (each reference counts once)."""
    if body.at is not None and body.at.tzinfo is None:
        raise InvalidInput("at needs a UTC offset, e.g. 2026-11-20T10:00:00+08:00 / at 需要带时区",
                           details=[{"field": "at", "rule": "datetime.offset_required", "message": "offset required"}])
    view = service.record_sla_result(
        runtime.uow(), warehouse=code, breached=body.breached, reference=body.reference,
        at=ensure_utc(body.at) if body.at else runtime.clock.now(), tables=tables_at(runtime.settings.routing_file),
        actor=principal.actor("api"),
    )
    return BreakerOut.of(view)


@router.post("/fulfillment/scans", response_model=ScanOut)
def scan(body: ScanIn, runtime: RuntimeDep, principal: Scanner) -> ScanOut:
    """One scan from a PDA: the shipment moves a step, or a clear refusal (nothing kept; send it again later).

    The same device and client event id again returns the first answer and changes nothing.
    """
    return ScanOut.of(scans.apply_scan(runtime.uow(), scan=body.scan(), actor=principal.actor("scanner"),
                                       rules=_scan_rules(runtime, principal)))


@router.post("/fulfillment/scans/batch", response_model=ScanBatchOut)
def scan_batch(body: ScanBatchIn, runtime: RuntimeDep, principal: Scanner) -> ScanBatchOut:
    """Scans taken offline, applied in event-time order; each refused one is kept as a conflict for a person."""
    results = [ScanOut.of(result) for result in scans.apply_batch(runtime.uow(), scans=body.all(),
                                                                   actor=principal.actor("scanner"),
                                                                   rules=_scan_rules(runtime, principal))]
    return ScanBatchOut(results=results, applied=sum(r.outcome == "applied" and not r.replay for r in results),
                        conflicts=sum(r.outcome == "conflict" for r in results))


@router.get("/fulfillment/scan-conflicts", response_model=ScanConflictList)
def scan_conflicts(runtime: RuntimeDep, _: Reader, warehouse: Annotated[str | None, Query(max_length=32)] = None,
                   state: scans.ConflictState = scans.ConflictState.OPEN, cursor: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ScanConflictList:
    """Offline scans that were refused (frozen order, other warehouse, out of order …), newest first:
    `state=open` (default) those waiting for a person, `resolved` those settled, `all` both."""
    return _conflict_list(runtime, warehouse=warehouse, state=state, cursor=cursor, limit=limit)


def _conflict_list(runtime: Runtime, *, warehouse: str | None, state: scans.ConflictState, cursor: str | None,
                   limit: int) -> ScanConflictList:
    with runtime.reading() as session:
        rows = scans.scan_conflicts(session, warehouse=warehouse, state=state, limit=limit + 1,
                                    before_id=decode_id_cursor(cursor))
    return ScanConflictList(items=[ScanConflictOut.of(row) for row in rows[:limit]],
                            next_cursor=str(rows[limit - 1].id) if len(rows) > limit else None)


@router.post("/fulfillment/scan-conflicts/{conflict_id}/resolve", response_model=ScanConflictOut)
def resolve_scan_conflict(conflict_id: RowId, body: ScanConflictResolveIn, runtime: RuntimeDep,
                          principal: Scanner) -> ScanConflictOut:
    """A person's decision on a conflict, once, with a required note: `apply` runs the scan through the scan
    rules now (still refused: 409 `fulfillment.conflict_still_refused`, nothing changed), `dismiss` leaves it.

    Decided before: 409 `fulfillment.conflict_resolved`. A user held to one warehouse sees only its conflicts
    (another's is a 404 `fulfillment.unknown_scan_conflict`).
    """
    row = scans.resolve_conflict(runtime.uow(), conflict_id=conflict_id, decision=body.decision, note=body.note,
                                 actor=principal.actor("api"), rules=_scan_rules(runtime, principal))
    return ScanConflictOut.of(row)


@router.post("/fulfillment/shipments/{order_no}/{parcel_no}/waybill", response_model=EwaybillRead,
             summary="Get the parcel's e-waybill number from its carrier (电子面单)")
def request_waybill(order_no: OrderNo, parcel_no: ParcelNo, runtime: RuntimeDep, principal: Scanner) -> EwaybillRead:
    """A parcel that has a waybill returns it; otherwise the carrier is asked and the number bound to the parcel.

    A carrier failure (after retries) is a 502 `logistics.ewaybill_unavailable` or `logistics.ewaybill_refused`
    with the carrier's code, and nothing is bound.
    """
    with runtime.reading() as session:
        portal_service.visible_parcel(session, order_no=order_no, parcel_no=parcel_no,
                                      warehouse=principal.warehouse_code)
    settings = runtime.settings
    account = ewaybill.EwaybillAccount(url=settings.ewaybill_url, key=settings.ewaybill_key,
                                       secret=settings.ewaybill_secret, partner_id=settings.ewaybill_partner_id,
                                       partner_key=settings.ewaybill_partner_key,
                                       sender_mobile=settings.ewaybill_sender_mobile)
    with httpx.Client(timeout=ewaybill.HTTP_TIMEOUT) as http:
        issued = ewaybill.request_waybill(runtime.uow(), order_no=order_no, parcel_no=parcel_no,
                                          actor=principal.actor("api"), http=http, account=account)
    return EwaybillRead.of(issued)


def _scan_rules(runtime: Runtime, principal: Principal) -> scans.ScanRules:
    return scans.ScanRules(scope=principal.warehouse_code, photo_required=runtime.settings.photo_required)


def _portal_warehouse(principal: Principal, asked: str | None) -> str:
    warehouse = principal.warehouse_for(asked)
    if warehouse is None:
        raise InvalidInput("name the warehouse (?warehouse=CODE) / 请指定仓库",
                           details=[{"field": "warehouse", "rule": "required", "message": "required"}])
    return warehouse


@portal.get("/parcels", response_model=PortalParcelList)
def portal_parcels(runtime: RuntimeDep, principal: PortalReader,
                   warehouse: Annotated[str | None, Query(max_length=32)] = None,
                   status: ShipmentStatus | None = None, cursor: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50) -> PortalParcelList:
    """The warehouse's parcels, newest first: order number, status, waybill, photos.

    A user held to one warehouse sees only its parcels (naming another is a 403 `auth.outside_scope`);
    others name the warehouse.
    """
    code = _portal_warehouse(principal, warehouse)
    with runtime.reading() as session:
        views = portal_service.list_parcels(session, warehouse=code, status=status, limit=limit + 1,
                                            before_id=decode_id_cursor(cursor))
    return PortalParcelList(items=[PortalParcelOut.of(view) for view in views[:limit]],
                      next_cursor=str(views[limit - 1].id) if len(views) > limit else None)


@portal.get("/parcels/{order_no}/{parcel_no}", response_model=PortalParcelOut)
def portal_parcel(order_no: OrderNo, parcel_no: ParcelNo, runtime: RuntimeDep,
                  principal: PortalReader) -> PortalParcelOut:
    """One parcel; another warehouse's parcel is a 404, exactly as one that does not exist."""
    with runtime.reading() as session:
        return PortalParcelOut.of(portal_service.parcel_view(session, order_no=order_no, parcel_no=parcel_no,
                                                       warehouse=principal.warehouse_code))


@portal.post("/parcels/{order_no}/{parcel_no}/photo", status_code=201, response_model=PhotoOut)
def upload_photo(order_no: OrderNo, parcel_no: ParcelNo, runtime: RuntimeDep, principal: Photographer,
                 photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP showing the order number")]
                 ) -> PhotoOut:
    """Upload the parcel's package photo (multipart field `photo`); it must show the order number.

    Not an image: 422 `portal.photo_not_image`; over the limit: 413 `portal.photo_too_large`.
    """
    settings = runtime.settings
    # One byte over the limit is enough to refuse it; never read more than that.
    content = photo.file.read(settings.photo_max_bytes + 1)
    row = portal_service.attach_photo(runtime.uow(), DiskPhotoStore(settings.photo_dir), order_no=order_no,
                                      parcel_no=parcel_no, warehouse=principal.warehouse_code, content=content,
                                      max_bytes=settings.photo_max_bytes, actor=principal.actor("portal"),
                                      require_order_code=settings.photo_order_code)
    return PhotoOut.of(row)


@portal.get("/photos/{photo_id}", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}})
def portal_photo(photo_id: RowId, runtime: RuntimeDep, principal: PortalReader) -> Response:
    """A package photo's image; another warehouse's is a 404 `portal.unknown_photo`."""
    return photo_response(runtime, photo_id=photo_id, warehouse=principal.warehouse_code)


def photo_response(runtime: Runtime, *, photo_id: int, warehouse: str | None) -> Response:
    """The photo's bytes as stored; private to the signed-in user's browser (photos show addresses)."""
    with runtime.reading() as session:
        row, content = portal_service.photo_content(session, DiskPhotoStore(runtime.settings.photo_dir),
                                                    photo_id=photo_id, warehouse=warehouse)
    return Response(content, media_type=row.content_type,
                    headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})


@portal.get("/scan-conflicts", response_model=ScanConflictList)
def portal_scan_conflicts(runtime: RuntimeDep, principal: PortalReader,
                          warehouse: Annotated[str | None, Query(max_length=32)] = None,
                          state: scans.ConflictState = scans.ConflictState.OPEN, cursor: str | None = None,
                          limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ScanConflictList:
    """The warehouse's scan conflicts (a user held to one warehouse: only its own; others name the warehouse)."""
    return _conflict_list(runtime, warehouse=_portal_warehouse(principal, warehouse), state=state, cursor=cursor,
                          limit=limit)


@portal.get("/report", response_model=PortalReportOut)
def portal_report(runtime: RuntimeDep, principal: PortalReader, day: Annotated[date, Query(alias="date")],
                  warehouse: Annotated[str | None, Query(max_length=32)] = None) -> PortalReportOut:
    """The warehouse's day (business timezone): parcels shipped, on-time rate, wrong-ship rate, photo compliance."""
    code = _portal_warehouse(principal, warehouse)
    with runtime.reading() as session:
        return PortalReportOut.of(portal_service.daily_report(session, warehouse=code, day=day,
                                                              zone=runtime.settings.zone))
