"""Logistics in the console: the tracking timeline on the order page (`logistics/_tracking.html`, included by
the order detail) and the anomaly board (exception tickets with their actions, the carrier scorecard)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from orderhub.auth.deps import RuntimeDep, require_console
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.core.i18n import humanise
from orderhub.core.pagination import decode_id_cursor
from orderhub.core.schemas import RowId
from orderhub.logistics import anomalies, service
from orderhub.logistics.anomaly_rules import KIND_LABELS_ZH, AnomalyKind
from orderhub.logistics.api import ticket_filters
from orderhub.logistics.carriers import carrier_table
from orderhub.logistics.model import TICKET_STATUS_LABELS_ZH, ExceptionTicket, TicketStatus
from orderhub.logistics.service import Parcel
from orderhub.web.htmx import is_htmx, language_of, render

router = APIRouter(prefix="/console/logistics", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_console(Permission.LOGISTICS_READ))]
Handler = Annotated[Principal, Depends(require_console(Permission.LOGISTICS_WRITE))]

BOARD = "/console/logistics/anomalies"
PAGE = 50


def tracking_panel(session: Session, *, order_id: int) -> list[Parcel]:
    """The order's parcels with their events, newest event first; empty when no waybill is bound."""
    return service.order_tracking(session, order_id=order_id)


async def _form_data(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form_data)]


def _labels(request: Request) -> dict[str, Any]:
    zh = language_of(request) == "zh-CN"
    return {
        "kind_labels": {kind.value: KIND_LABELS_ZH[kind] if zh else humanise(kind.value) for kind in AnomalyKind},
        "ticket_status_labels": {status.value: TICKET_STATUS_LABELS_ZH[status] if zh else humanise(status.value)
                                 for status in TicketStatus},
        "carriers": list(carrier_table().carriers),
    }


def _row_context(request: Request, ticket: ExceptionTicket, principal: Principal) -> dict[str, Any]:
    return {"ticket": ticket, "can_handle": Permission.LOGISTICS_WRITE in principal.permissions, **_labels(request)}


@router.get("/anomalies")
def anomaly_board(request: Request, runtime: RuntimeDep, principal: Reader, status: str = "", kind: str = "",
                  carrier: str = "", owner: str = "", month: str = "", cursor: str = "") -> HTMLResponse:
    filters = ticket_filters(status, kind, carrier, owner)
    month = month.strip() or runtime.clock.now().astimezone(runtime.settings.zone).strftime("%Y-%m")
    with runtime.reading() as session:
        page = anomalies.list_tickets(session, filters, limit=PAGE, before_id=decode_id_cursor(cursor[:20]))
        scores = anomalies.carrier_scorecard(session, month=month, zone=runtime.settings.zone, now=runtime.clock.now())
    query = {"status": status, "kind": kind, "carrier": carrier, "owner": owner, "month": month}
    kept = {key: value for key, value in query.items() if value}
    return render(request, "logistics/anomalies.html", {
        "nav": "logistics", "page": page, "query": query, "scores": scores, "month": month,
        "can_handle": Permission.LOGISTICS_WRITE in principal.permissions, **_labels(request),
        "next_url": f"{BOARD}?{urlencode(kept | {'cursor': page.next_cursor})}" if page.next_cursor else None,
    })


@router.post("/anomalies/{ticket_id}/acknowledge")
def acknowledge(ticket_id: RowId, request: Request, runtime: RuntimeDep, principal: Handler, form: Posted) -> Response:
    note = form.get("note")
    ticket = anomalies.acknowledge_ticket(runtime.uow(), ticket_id=ticket_id, actor=principal.actor("console"),
                                          note=note if isinstance(note, str) else "")
    return _answer(request, ticket, principal)


@router.post("/anomalies/{ticket_id}/resolve")
def resolve(ticket_id: RowId, request: Request, runtime: RuntimeDep, principal: Handler, form: Posted) -> Response:
    reason = form.get("reason")
    ticket = anomalies.resolve_ticket(runtime.uow(), ticket_id=ticket_id, actor=principal.actor("console"),
                                      reason=reason[:500] if isinstance(reason, str) else "")
    return _answer(request, ticket, principal)


def _answer(request: Request, ticket: ExceptionTicket, principal: Principal) -> Response:
    if not is_htmx(request):
        return RedirectResponse(BOARD, status_code=303)
    return render(request, "logistics/_ticket.html", _row_context(request, ticket, principal))
