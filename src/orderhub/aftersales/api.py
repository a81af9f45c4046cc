"""The after-sales REST API: open a case for an order, list and read cases, move them. Thin: parse,
authorise, call a service, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from orderhub.aftersales import service
from orderhub.aftersales.model import CaseKind, CaseStatus
from orderhub.aftersales.schemas import CaseCreate, CaseEventOut, CaseList, CaseRead, CaseTimeline, ReasonIn, ReceiveIn
from orderhub.aftersales.service import CaseFilters
from orderhub.auth.deps import RuntimeDep, require
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.core.schemas import aware_query_time

router = APIRouter(prefix="/api/v1/aftersales", tags=["aftersales"])

Reader = Annotated[Principal, Depends(require(Permission.AFTERSALES_READ))]
Handler = Annotated[Principal, Depends(require(Permission.AFTERSALES_HANDLE))]
CaseNo = Annotated[str, Path(max_length=32)]


@router.post("", status_code=201, response_model=CaseRead)
def open_case(body: CaseCreate, runtime: RuntimeDep, principal: Handler) -> CaseRead:
    """Open a return, refund-only, exchange or reship request for an order's lines."""
    case = service.open_case(runtime.uow(), request=body.to_request(), actor=principal.actor("api"))
    return CaseRead.of(case)


@router.get("", response_model=CaseList)
def list_cases(
    runtime: RuntimeDep,
    _: Reader,
    status: CaseStatus | None = None,
    kind: CaseKind | None = None,
    order_no: str | None = Query(default=None, max_length=32),
    needs_interception: bool | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=200),
) -> CaseList:
    filters = CaseFilters(status=status, kind=kind, order_no=order_no, needs_interception=needs_interception,
                          created_from=aware_query_time("created_from", created_from),
                          created_to=aware_query_time("created_to", created_to))
    with runtime.reading() as session:
        page = service.list_cases(session, filters, limit=limit, cursor=cursor)
        return CaseList(items=[CaseRead.of(case) for case in page.items], next_cursor=page.next_cursor)


@router.get("/{case_no}", response_model=CaseRead)
def get_case(case_no: CaseNo, runtime: RuntimeDep, _: Reader) -> CaseRead:
    with runtime.reading() as session:
        return CaseRead.of(service.get_case(session, case_no))


@router.get("/{case_no}/timeline", response_model=CaseTimeline)
def case_timeline(case_no: CaseNo, runtime: RuntimeDep, _: Reader) -> CaseTimeline:
    with runtime.reading() as session:
        events = service.case_timeline(session, case_no)
    return CaseTimeline(case_no=case_no, events=[CaseEventOut.of(event) for event in events])


@router.post("/{case_no}/approve", response_model=CaseRead)
def approve_case(case_no: CaseNo, body: ReasonIn, runtime: RuntimeDep, principal: Handler) -> CaseRead:
    """Agree: refund-only waits for the refund, returns and exchanges for the goods; a reship is sent now."""
    case = service.approve_case(runtime.uow(), case_no=case_no, actor=principal.actor("api"), policy=runtime.policy,
                                reason=body.reason)
    return CaseRead.of(case)


@router.post("/{case_no}/reject", response_model=CaseRead)
def reject_case(case_no: CaseNo, body: ReasonIn, runtime: RuntimeDep, principal: Handler) -> CaseRead:
    """Refuse a request (reason required); an order held for it is released."""
    return CaseRead.of(service.reject_case(runtime.uow(), case_no=case_no, reason=body.reason,
                                           actor=principal.actor("api")))


@router.post("/{case_no}/receive", response_model=CaseRead)
def receive_return(case_no: CaseNo, body: ReceiveIn, runtime: RuntimeDep, principal: Handler) -> CaseRead:
    """The returned goods arrived at a warehouse: restocked once (a retry is safe); an exchange is sent."""
    return CaseRead.of(service.receive_return(runtime.uow(), case_no=case_no, warehouse=body.warehouse,
                                              actor=principal.actor("api"), policy=runtime.policy))


@router.post("/{case_no}/refund", response_model=CaseRead)
def refund_case(case_no: CaseNo, body: ReasonIn, runtime: RuntimeDep, principal: Handler) -> CaseRead:
    """The money went back: the order's refunded total grows, and a wholly refunded order becomes refunded."""
    return CaseRead.of(service.refund_case(runtime.uow(), case_no=case_no, actor=principal.actor("api"),
                                           reason=body.reason))


@router.post("/{case_no}/close", response_model=CaseRead)
def close_case(case_no: CaseNo, body: ReasonIn, runtime: RuntimeDep, principal: Handler) -> CaseRead:
    """Withdraw an open case (reason required); an order held for it is released."""
    return CaseRead.of(service.close_case(runtime.uow(), case_no=case_no, reason=body.reason,
                                          actor=principal.actor("api")))
