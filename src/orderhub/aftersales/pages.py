"""The after-sales console: the case list, opening a case from an order's lines, a case with its actions.

Thin like `orders/pages.py`: parse, authorise, call a service, render. A refused request comes back inside
its form with what was typed and every problem listed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from orderhub.aftersales import service
from orderhub.aftersales.errors import CaseInvalid
from orderhub.aftersales.model import APPROVED_AS, KIND_LABELS_ZH, STATUS_LABELS_ZH, CaseKind, CaseStatus
from orderhub.aftersales.service import RECEIVER_FIELDS, REPLACEMENT_SOURCE, CaseFilters, CaseRequest, LineRequest
from orderhub.auth.deps import RuntimeDep, require_console
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.core.errors import InvalidInput, OrderHubError
from orderhub.core.i18n import humanise
from orderhub.core.money import MoneyFormatError, yuan_to_fen
from orderhub.inventory import service as inventory
from orderhub.orders import service as orders
from orderhub.web.htmx import is_htmx, language_of, render

router = APIRouter(prefix="/console/aftersales", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_console(Permission.AFTERSALES_READ))]
Handler = Annotated[Principal, Depends(require_console(Permission.AFTERSALES_HANDLE))]

PAGE = 50
_WHOLE = re.compile(r"-?\d{1,6}")
ACTIONS = ("approve", "reject", "receive", "refund", "close")


async def _form_data(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form_data)]


def case_url(case_no: str) -> str:
    return f"/console/aftersales/{quote(case_no, safe='')}"


def _labels(request: Request) -> dict[str, Any]:
    """Kind and status names in the reader's language."""
    zh = language_of(request) == "zh-CN"
    return {
        "kind_labels": {kind.value: KIND_LABELS_ZH[kind] if zh else humanise(kind.value) for kind in CaseKind},
        "case_status_labels": {status.value: STATUS_LABELS_ZH[status] if zh else humanise(status.value)
                               for status in CaseStatus},
    }


_Choice = TypeVar("_Choice", CaseKind, CaseStatus)


def _choice(kind: type[_Choice], value: str, name: str) -> _Choice | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(f"unknown {name} {value!r} / 未知的{name}") from None


# ------------------------------------------------------------------------------------------------
# List
# ------------------------------------------------------------------------------------------------


@router.get("")
def case_list(request: Request, runtime: RuntimeDep, principal: Reader, status: str = "", kind: str = "",
              order_no: str = "", interception: str = "", cursor: str = "") -> HTMLResponse:
    filters = CaseFilters(status=_choice(CaseStatus, status, "status"), kind=_choice(CaseKind, kind, "kind"),
                          order_no=order_no.strip()[:32] or None, needs_interception=True if interception else None)
    with runtime.reading() as session:
        page = service.list_cases(session, filters, limit=PAGE, cursor=cursor[:200] or None)
    query = {"status": status, "kind": kind, "order_no": order_no, "interception": interception}
    return render(request, "aftersales/list.html", {
        "nav": "aftersales", "page": page, "query": query, **_labels(request),
        "can_handle": Permission.AFTERSALES_HANDLE in principal.permissions,
        "next_url": ("/console/aftersales?" + "&".join(f"{k}={quote(v)}" for k, v in query.items() if v)
                     + f"&cursor={page.next_cursor}") if page.next_cursor else None,
    })


# ------------------------------------------------------------------------------------------------
# Opening a case
# ------------------------------------------------------------------------------------------------


def _new_context(request: Request, session: Session, order_no: str, *, values: dict[str, str] | None = None,
                 error: OrderHubError | None = None) -> dict[str, Any]:
    order = orders.get_order(session, order_no) if order_no else None
    return {"nav": "aftersales", "order": order, "order_no": order_no, "values": values or {}, "error": error,
            "paid": service.line_paid_fen(order) if order else {}, "receiver_fields": RECEIVER_FIELDS,
            **_labels(request)}


@router.get("/new")
def new_case_form(request: Request, runtime: RuntimeDep, _: Handler, order_no: str = "") -> HTMLResponse:
    with runtime.reading() as session:
        return render(request, "aftersales/new.html", _new_context(request, session, order_no.strip()[:32]))


def _problem(path: str, rule: str, zh: str, en: str) -> dict[str, Any]:
    return {"field": path, "rule": rule, "message": zh, "messages": {"zh-CN": zh, "en": en}}


def _request_of(form: FormData) -> CaseRequest:
    """The form as a service request; unreadable numbers are refused together, like the service's checks."""
    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    problems: list[dict[str, Any]] = []
    kind = _choice(CaseKind, text("kind"), "kind") or CaseKind.RETURN
    lines: list[LineRequest] = []
    numbers = sorted({int(key[4:]) for key in form if re.fullmatch(r"qty_\d{1,4}", key)})
    for number in numbers:
        qty_text = text(f"qty_{number}")
        if not qty_text or qty_text == "0":
            continue
        if not _WHOLE.fullmatch(qty_text):
            problems.append(_problem(f"qty_{number}", "qty.not_positive", f"第 {number} 行数量须为正整数",
                                     f"line {number}: quantity must be a positive whole number"))
            continue
        refund_text = text(f"refund_{number}")
        refund: int | None = None
        if refund_text:
            try:
                refund = yuan_to_fen(refund_text)
            except MoneyFormatError:
                problems.append(_problem(f"refund_{number}", "refund.not_money", f"第 {number} 行退款金额无效",
                                         f"line {number}: the refund is not an amount"))
        lines.append(LineRequest(line_no=number, qty=int(qty_text), refund_fen=refund,
                                 exchange_sku=text(f"exchange_{number}")[:64]))
    try:
        shipping = yuan_to_fen(text("shipping_refund") or "0")
    except MoneyFormatError:
        problems.append(_problem("shipping_refund", "refund.not_money", "运费退款金额无效",
                                 "the shipping refund is not an amount"))
        shipping = 0
    if problems:
        raise CaseInvalid(problems)
    receiver = {name: text(f"receiver_{name}")[:200] for name in RECEIVER_FIELDS if text(f"receiver_{name}")}
    return CaseRequest(order_no=text("order_no")[:32], kind=kind, lines=lines, reason=text("reason")[:500],
                       shipping_refund_fen=shipping,
                       replacement_receiver=receiver if receiver and kind in REPLACEMENT_SOURCE else None)


@router.post("/new")
def submit_new_case(request: Request, runtime: RuntimeDep, principal: Handler, form: Posted) -> Response:
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        case = service.open_case(runtime.uow(), request=_request_of(form), actor=principal.actor("console"))
    except (CaseInvalid, InvalidInput) as error:
        with runtime.reading() as session:
            context = _new_context(request, session, values.get("order_no", "").strip()[:32], values=values,
                                   error=error)
        return render(request, "aftersales/new.html", context, status_code=error.status)
    return RedirectResponse(case_url(case.case_no), status_code=303)


# ------------------------------------------------------------------------------------------------
# One case and its actions
# ------------------------------------------------------------------------------------------------


def _detail_context(request: Request, session: Session, case_no: str, principal: Principal, *,
                    notice: str = "") -> dict[str, Any]:
    case = service.get_case(session, case_no)
    allowed = case.allowed_targets()
    return {
        "nav": "aftersales", "case": case, "events": service.case_timeline(session, case_no), "notice": notice,
        "order": orders.get_order(session, case.order_no),
        "can_handle": Permission.AFTERSALES_HANDLE in principal.permissions,
        "can_approve": APPROVED_AS[CaseKind(case.kind)] in allowed,
        "can_reject": CaseStatus.REJECTED in allowed, "can_close": CaseStatus.CLOSED in allowed,
        "can_receive": CaseStatus.RECEIVED in allowed or case.restock == "pending",
        "can_refund": CaseStatus.REFUNDED in allowed,
        "warehouses": inventory.list_warehouses(session), **_labels(request),
    }


@router.get("/{case_no}")
def case_detail(case_no: str, request: Request, runtime: RuntimeDep, principal: Reader) -> HTMLResponse:
    with runtime.reading() as session:
        return render(request, "aftersales/detail.html", _detail_context(request, session, case_no, principal))


@router.post("/{case_no}/{action}")
def case_action(case_no: str, action: str, request: Request, runtime: RuntimeDep, principal: Handler,
                form: Posted) -> Response:
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r} / 未知操作")
    reason = form.get("reason")
    reason = reason.strip()[:500] if isinstance(reason, str) else ""
    warehouse = form.get("warehouse")
    actor, uow = principal.actor("console"), runtime.uow()
    if action == "approve":
        service.approve_case(uow, case_no=case_no, actor=actor, policy=runtime.policy, reason=reason)
    elif action == "reject":
        service.reject_case(uow, case_no=case_no, reason=reason, actor=actor)
    elif action == "receive":
        service.receive_return(uow, case_no=case_no, warehouse=warehouse if isinstance(warehouse, str) else "",
                               actor=actor, policy=runtime.policy)
    elif action == "refund":
        service.refund_case(uow, case_no=case_no, actor=actor, reason=reason)
    else:
        service.close_case(uow, case_no=case_no, reason=reason, actor=actor)
    if not is_htmx(request):
        return RedirectResponse(case_url(case_no), status_code=303)
    with runtime.reading() as session:
        return render(request, "aftersales/_detail.html",
                      _detail_context(request, session, case_no, principal, notice=action))
