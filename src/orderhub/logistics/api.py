"""Logistics endpoints: the kuaidi100 push (authenticated by its signature), waybill binding and reading,
interception of shipped parcels, exception tickets of parcel anomalies and the carrier scorecard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from orderhub.auth.deps import RuntimeDep, get_runtime, require
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.core.errors import InvalidInput
from orderhub.core.pagination import decode_id_cursor
from orderhub.core.schemas import RowId
from orderhub.logistics import anomalies, interception, kuaidi100, service
from orderhub.logistics.anomalies import TicketFilters
from orderhub.logistics.anomaly_rules import AnomalyKind
from orderhub.logistics.errors import MalformedPush, PushSignatureInvalid
from orderhub.logistics.model import TicketStatus, Waybill, WaybillSource
from orderhub.logistics.schemas import (
    CarrierScoreRead,
    InterceptionIn,
    InterceptionRead,
    Scorecard,
    TicketAcknowledge,
    TicketList,
    TicketRead,
    TicketResolve,
    WaybillBind,
    WaybillRead,
)
from orderhub.runtime import Runtime

router = APIRouter(prefix="/api/v1/logistics", tags=["logistics"])

Reader = Annotated[Principal, Depends(require(Permission.LOGISTICS_READ))]
Writer = Annotated[Principal, Depends(require(Permission.LOGISTICS_WRITE))]


@router.post("/kuaidi100/push", summary="Receive a kuaidi100 subscription push (form fields param and sign)")
async def kuaidi100_push(request: Request) -> JSONResponse:
    # The runtime is read here rather than through the RuntimeDep dependency, a plain function FastAPI would
    # hand to its thread pool on every push; the transaction itself runs there, off the event loop, so a
    # worker takes in other pushes while this one waits on the database.
    runtime = get_runtime(request)
    form = await request.form()
    param, sign = form.get("param"), form.get("sign")
    try:
        receipt = await run_in_threadpool(
            service.receive_kuaidi100_push, runtime.uow(), param=param if isinstance(param, str) else None,
            sign=sign if isinstance(sign, str) else None, salt=runtime.settings.kuaidi100_salt)
    except (PushSignatureInvalid, MalformedPush) as exc:
        # kuaidi100 reads `result`/`returnCode`; OrderHub's own callers read `error`.
        body = kuaidi100.refusal(str(exc.status), exc.message) | exc.to_dict()
        return JSONResponse(body, status_code=exc.status)
    return JSONResponse(kuaidi100.ACKNOWLEDGED | {"outcome": receipt.outcome.value, "new_events": receipt.new_events,
                                                  "duplicates": receipt.duplicates})


@router.post("/waybills", status_code=201, response_model=WaybillRead, summary="Bind a waybill to an order")
def bind_waybill(body: WaybillBind, runtime: RuntimeDep, principal: Writer) -> WaybillRead:
    waybill = service.bind_waybill(runtime.uow(), order_no=body.order_no, carrier=body.carrier,
                                   waybill_no=body.waybill_no, actor=principal.actor("api"),
                                   source=WaybillSource.MANUAL)
    with runtime.reading() as session:
        return WaybillRead.of(service.get_waybill(session, carrier=waybill.carrier_code, waybill_no=waybill.number))


@router.get("/waybills/{carrier}/{waybill_no}", response_model=WaybillRead, summary="A waybill and its track")
def get_waybill(carrier: str, waybill_no: str, runtime: RuntimeDep, _: Reader) -> WaybillRead:
    with runtime.reading() as session:
        return WaybillRead.of(service.get_waybill(session, carrier=carrier, waybill_no=waybill_no))


def _kind(value: str | None) -> AnomalyKind | None:
    if not value:
        return None
    try:
        return AnomalyKind(value)
    except ValueError:
        raise InvalidInput(f"unknown anomaly kind {value!r} / 未知的异常类型",
                           details=[{"field": "kind", "rule": "kind.unknown", "message": value}]) from None


def ticket_filters(status: str | None, kind: str | None, carrier: str | None, owner: str | None) -> TicketFilters:
    """The list filters, each checked (shared by the console board)."""
    status = status or anomalies.UNRESOLVED
    if status != anomalies.UNRESOLVED and status not in {s.value for s in TicketStatus}:
        raise InvalidInput(f"unknown ticket status {status!r} / 未知的工单状态",
                           details=[{"field": "status", "rule": "status.unknown", "message": status}])
    return TicketFilters(status=status, kind=_kind(kind), carrier=(carrier or "").strip()[:16] or None,
                         owner=(owner or "").strip()[:64] or None)


@router.get("/tickets", response_model=TicketList, summary="Exception tickets of parcel anomalies, newest first")
def list_tickets(runtime: RuntimeDep, _: Reader, status: str | None = None, kind: str | None = None,
                 carrier: str | None = None, owner: str | None = None, cursor: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> TicketList:
    filters = ticket_filters(status, kind, carrier, owner)
    with runtime.reading() as session:
        page = anomalies.list_tickets(session, filters, limit=limit, before_id=decode_id_cursor(cursor))
        return TicketList(items=[TicketRead.of(t) for t in page.items], next_cursor=page.next_cursor)


@router.post("/tickets/{ticket_id}/acknowledge", response_model=TicketRead, summary="Take on an exception ticket")
def acknowledge_ticket(ticket_id: RowId, body: TicketAcknowledge, runtime: RuntimeDep, principal: Writer) -> TicketRead:
    return TicketRead.of(anomalies.acknowledge_ticket(runtime.uow(), ticket_id=ticket_id, note=body.note,
                                                      actor=principal.actor("api")))


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketRead, summary="Resolve an exception ticket")
def resolve_ticket(ticket_id: RowId, body: TicketResolve, runtime: RuntimeDep, principal: Writer) -> TicketRead:
    return TicketRead.of(anomalies.resolve_ticket(runtime.uow(), ticket_id=ticket_id, reason=body.reason,
                                                  actor=principal.actor("api")))


@router.get("/scorecard", response_model=Scorecard, summary="Per-carrier scorecard of the parcels shipped in a month")
def scorecard(runtime: RuntimeDep, _: Reader, month: str) -> Scorecard:
    with runtime.reading() as session:
        scores = anomalies.carrier_scorecard(session, month=month, zone=runtime.settings.zone, now=runtime.clock.now())
    return Scorecard(month=month, carriers=[CarrierScoreRead.of(score) for score in scores])


@router.post("/waybills/{carrier}/{waybill_no}/interception", response_model=InterceptionRead,
             summary="Ask the carrier to stop a shipped parcel and send it back (拦截)")
def request_interception(carrier: str, waybill_no: str, body: InterceptionIn, runtime: RuntimeDep,
                         principal: Writer) -> InterceptionRead:
    """Only a shipped parcel on its way; asking again returns the request already made. Its state follows tracking."""
    interception.request_interception(runtime.uow(), carrier=carrier, waybill_no=waybill_no, reason=body.reason,
                                      actor=principal.actor("api"))
    return read_interception(carrier, waybill_no, runtime)


@router.get("/waybills/{carrier}/{waybill_no}/interception", response_model=InterceptionRead,
            summary="A parcel's interception and its state")
def get_interception(carrier: str, waybill_no: str, runtime: RuntimeDep, _: Reader) -> InterceptionRead:
    return read_interception(carrier, waybill_no, runtime)


def read_interception(carrier: str, waybill_no: str, runtime: Runtime) -> InterceptionRead:
    with runtime.reading() as session:
        found = interception.get_interception(session, carrier=carrier, waybill_no=waybill_no)
        return InterceptionRead.of(found, session.get_one(Waybill, found.waybill_id))
