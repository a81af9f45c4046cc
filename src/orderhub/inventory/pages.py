"""The inventory console: the board, a SKU's stock and ledger with adjustment and transfer forms,
and stock counts through Excel.

Thin like `orders/pages.py`: parse, authorise, call a service, render. A refused adjustment or
transfer comes back inside its form, with what was typed, and the balances shown are the stored ones.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from orderhub.auth.deps import RuntimeDep, require_console
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.core.errors import InvalidInput, OrderHubError
from orderhub.inventory import board as boards
from orderhub.inventory import counts
from orderhub.inventory import service as inventory
from orderhub.inventory.errors import InvalidQuantity
from orderhub.runtime import Runtime
from orderhub.web.htmx import is_htmx, language_of, render

router = APIRouter(prefix="/console/inventory", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_console(Permission.INVENTORY_READ))]
Mover = Annotated[Principal, Depends(require_console(Permission.INVENTORY_ADJUST))]

LEDGER_PAGE = 50
_WHOLE_NUMBER = re.compile(r"[+-]?\d{1,9}")
_ID = re.compile(r"[0-9]{1,18}")


async def _form_data(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form_data)]


def sku_url(sku: str) -> str:
    return f"/console/inventory/skus/{quote(sku, safe='')}"


# ------------------------------------------------------------------------------------------------
# Board
# ------------------------------------------------------------------------------------------------


@router.get("")
def inventory_board(request: Request, runtime: RuntimeDep, principal: Reader) -> HTMLResponse:
    with runtime.reading() as session:
        shown = boards.board(session, now=runtime.clock.now())
    chart = {"skus": [seller.sku for seller in reversed(shown.sellers)],
             "titles": [seller.title for seller in reversed(shown.sellers)],
             "sold": [seller.sold for seller in reversed(shown.sellers)],
             "available": [seller.available for seller in reversed(shown.sellers)]}
    return render(request, "inventory/board.html",
                  {"nav": "inventory", "board": shown, "chart": chart,
                   "can_adjust": Permission.INVENTORY_ADJUST in principal.permissions})


@router.get("/find")
def find_sku(runtime: RuntimeDep, _: Reader, sku: str = "") -> RedirectResponse:
    """The board's search box: straight to the SKU's page (an unknown code gets the page's 404)."""
    code = sku.strip()
    if not code or len(code) > 64:
        raise InvalidInput("enter a SKU code / 请输入商品编码")
    return RedirectResponse(sku_url(code), status_code=303)


# ------------------------------------------------------------------------------------------------
# One SKU: balances, ledger, adjustment and transfer
# ------------------------------------------------------------------------------------------------


def _before_id(value: str) -> int | None:
    if not value:
        return None
    if not _ID.fullmatch(value):
        raise InvalidInput(f"{value!r} is not a ledger row id / 流水编号应为数字")
    return int(value)


def _ledger_context(session: Session, sku: str, before_id: int | None) -> dict[str, Any]:
    rows = inventory.ledger(session, sku, limit=LEDGER_PAGE + 1, before_id=before_id)
    page = rows[:LEDGER_PAGE]
    return {"sku_code": sku, "ledger": page, "paged": before_id is not None,
            "older_url": f"{sku_url(sku)}/ledger?before_id={page[-1].id}" if len(rows) > LEDGER_PAGE else None,
            "newest_url": f"{sku_url(sku)}/ledger"}


def _fresh_key() -> str:
    """A new idempotency key for each form shown: a double submit of one form moves stock once."""
    return f"console-{uuid.uuid4().hex}"


def _sku_context(session: Session, sku: str, principal: Principal, *, forms: dict[str, dict[str, Any]] | None = None,
                 notice: str = "", replayed: bool = False, before_id: int | None = None) -> dict[str, Any]:
    stock = inventory.availability(session, sku)
    shown = forms or {}
    return {
        "nav": "inventory", "stock": stock, "warehouses": inventory.list_warehouses(session),
        "can_adjust": Permission.INVENTORY_ADJUST in principal.permissions and not stock.bundle,
        "adjust": shown.get("adjust") or _blank_form(), "transfer": shown.get("transfer") or _blank_form(),
        "notice": notice, "replayed": replayed, "sku_url": sku_url(sku),
        **_ledger_context(session, sku, before_id),
    }


def _blank_form() -> dict[str, Any]:
    return {"values": {"idempotency_key": _fresh_key()}, "error": None, "fields": set()}


@router.get("/skus/{sku}")
def sku_page(sku: str, request: Request, runtime: RuntimeDep, principal: Reader) -> HTMLResponse:
    with runtime.reading() as session:
        return render(request, "inventory/sku.html", _sku_context(session, sku, principal))


@router.get("/skus/{sku}/ledger")
def sku_ledger(sku: str, request: Request, runtime: RuntimeDep, principal: Reader,
               before_id: str = "") -> HTMLResponse:
    """A page of the ledger: the fragment the SKU page swaps in, or the SKU page showing that page."""
    with runtime.reading() as session:
        if not is_htmx(request):
            return render(request, "inventory/sku.html",
                          _sku_context(session, sku, principal, before_id=_before_id(before_id)))
        inventory.availability(session, sku)
        return render(request, "inventory/_ledger.html", _ledger_context(session, sku, _before_id(before_id)))


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _quantity(name: str, text: str, *, allow_negative: bool) -> int:
    """A typed quantity: whole numbers only (the service then refuses zero, or a negative where it must)."""
    if not _WHOLE_NUMBER.fullmatch(text):
        raise InvalidQuantity(name, text, allow_negative=allow_negative)
    return int(text)


def _refused(exc: OrderHubError, values: dict[str, str]) -> dict[str, Any]:
    return {"values": values, "error": exc, "fields": {str(d["field"]) for d in exc.details if "field" in d}}


def _after_move(request: Request, runtime: Runtime, principal: Principal, sku: str, *, form: str,
                values: dict[str, str], refused: OrderHubError | None, replayed: bool = False) -> Response:
    """The SKU panel again: on success with fresh forms and a notice, on refusal with the form as typed.

    An unknown SKU has no panel: reading it raises the not-found page instead."""
    if refused is None and not is_htmx(request):
        return RedirectResponse(sku_url(sku), status_code=303)
    with runtime.reading() as session:
        if refused is None:
            context = _sku_context(session, sku, principal, notice=form, replayed=replayed)
        else:
            context = _sku_context(session, sku, principal, forms={form: _refused(refused, values)})
    if not is_htmx(request):
        return render(request, "inventory/sku.html", context, status_code=refused.status if refused else 200)
    if refused is None:
        return render(request, "inventory/_sku.html", context)
    # HTMX leaves error statuses unswapped unless retargeted; the panel itself is the target.
    return render(request, "inventory/_sku.html", context, status_code=refused.status,
                  headers={"HX-Retarget": "#sku-panel", "HX-Reswap": "outerHTML"})


@router.post("/skus/{sku}/adjust")
def adjust_stock(sku: str, request: Request, runtime: RuntimeDep, principal: Mover, form: Posted) -> Response:
    values = {name: _text(form, name) for name in ("warehouse", "delta", "reason", "idempotency_key")}
    try:
        change = inventory.adjust(runtime.uow(), sku=sku, warehouse=values["warehouse"],
                                  delta=_quantity("delta", values["delta"], allow_negative=True),
                                  reason=values["reason"], idempotency_key=values["idempotency_key"],
                                  actor=principal.actor("console"))
    except OrderHubError as exc:
        return _after_move(request, runtime, principal, sku, form="adjust", values=values, refused=exc)
    return _after_move(request, runtime, principal, sku, form="adjust", values=values, refused=None,
                       replayed=change.replayed)


@router.post("/skus/{sku}/transfer")
def transfer_stock(sku: str, request: Request, runtime: RuntimeDep, principal: Mover, form: Posted) -> Response:
    values = {name: _text(form, name)
              for name in ("from_warehouse", "to_warehouse", "qty", "reason", "idempotency_key")}
    try:
        change = inventory.transfer(runtime.uow(), sku=sku, from_warehouse=values["from_warehouse"],
                                    to_warehouse=values["to_warehouse"],
                                    qty=_quantity("qty", values["qty"], allow_negative=False),
                                    reason=values["reason"], idempotency_key=values["idempotency_key"],
                                    actor=principal.actor("console"))
    except OrderHubError as exc:
        return _after_move(request, runtime, principal, sku, form="transfer", values=values, refused=exc)
    return _after_move(request, runtime, principal, sku, form="transfer", values=values, refused=None,
                       replayed=change.replayed)


# ------------------------------------------------------------------------------------------------
# Stock counts through Excel
# ------------------------------------------------------------------------------------------------


@router.get("/counts")
def count_page(request: Request, runtime: RuntimeDep, principal: Reader) -> HTMLResponse:
    with runtime.reading() as session:
        warehouses = inventory.list_warehouses(session)
    return render(request, "inventory/counts.html",
                  {"nav": "inventory", "warehouses": warehouses, "report": None, "error": None,
                   "reason": "", "can_adjust": Permission.INVENTORY_ADJUST in principal.permissions})


@router.get("/counts.xlsx")
def count_export(request: Request, runtime: RuntimeDep, _: Reader, warehouse: str = "") -> Response:
    with runtime.reading() as session:
        lines = counts.count_sheet(session, warehouse=warehouse or None)
    day = runtime.clock.now().astimezone(runtime.settings.zone).strftime("%Y%m%d")
    name = f"stock-count-{warehouse + '-' if warehouse else ''}{day}.xlsx"
    return Response(counts.export_counts(lines, language=language_of(request)), media_type=counts.XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.post("/counts/import")
def count_import(request: Request, runtime: RuntimeDep, principal: Mover, form: Posted) -> HTMLResponse:
    upload, reason = form.get("file"), _text(form, "reason")
    report, error = None, None
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("choose the filled-in count sheet / 请选择填好的盘点表")
        if not reason:
            raise InvalidInput("a stock count needs a reason / 盘点必须填写原因")
        content = upload.file.read(counts.MAX_FILE_BYTES + 1)
        report = counts.import_counts(runtime, content=content, filename=upload.filename, reason=reason,
                                      actor=principal.actor("console"))
    except OrderHubError as exc:
        error = exc
    with runtime.reading() as session:
        warehouses = inventory.list_warehouses(session)
    return render(request, "inventory/counts.html",
                  {"nav": "inventory", "warehouses": warehouses, "report": report, "error": error,
                   "reason": reason, "can_adjust": True}, status_code=error.status if error else 200)
