"""The orders console: list, detail with status moves, and the manual order form.

Thin like `api.py`: parse, authorise, call a service, render. The manual form is parsed into the
API's own `OrderCreate`, so both edges accept and refuse exactly the same orders.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from orderhub.auth.deps import RuntimeDep, require_console
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.errors import UnknownChannel
from orderhub.channels.model import Channel
from orderhub.core.clock import ensure_utc
from orderhub.core.errors import InvalidInput
from orderhub.fulfillment.pages import routing_panel
from orderhub.logistics.pages import tracking_panel
from orderhub.orders import service
from orderhub.orders.draft import OrderDraft
from orderhub.orders.errors import OrderValidationFailed
from orderhub.orders.repository import OrderFilters
from orderhub.orders.schemas import OrderCreate, OrderRead, TransitionIn
from orderhub.orders.status import OrderStatus
from orderhub.orders.validation import FieldError
from orderhub.runtime import Runtime
from orderhub.web.htmx import is_htmx, language_of, order_url, render

router = APIRouter(prefix="/console/orders", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_console(Permission.ORDERS_READ))]
Creator = Annotated[Principal, Depends(require_console(Permission.ORDERS_CREATE))]
Mover = Annotated[Principal, Depends(require_console(Permission.ORDERS_TRANSITION))]

PAGE_SIZE = 50
MAX_LINES = 200
MAX_QUERY_LENGTH = 100
# Channels staff take orders on by hand come first in the form's channel list.
MANUAL_CHANNELS = (Channel.PHONE, Channel.MANUAL, Channel.POS, Channel.MINIPROGRAM)
PAYMENT_METHODS = ("wechat", "alipay", "bank_transfer", "cash", "card", "cod")
INVOICE_TYPES = ("none", "personal", "company", "vat_special")
RECEIVER_FIELDS = ("name", "phone", "province", "city", "district", "address")
LINE_FIELDS = ("sku", "qty", "unit_price", "discount")
# Form fields that show their own errors; errors on any other path go to the summary above the buttons.
FORM_FIELDS = (
    "channel", "shop", "source_type", *(f"receiver.{name}" for name in RECEIVER_FIELDS), "id_card", "lines",
    "shipping_fee", "discount", "paid_amount", "payment.method", "payment.paid_at", "invoice.type",
    "invoice.title", "invoice.tax_id", "buyer_memo", "seller_memo",
)
SIDE_EXITS = frozenset({OrderStatus.ON_HOLD, OrderStatus.CANCELLED, OrderStatus.REFUNDING})
MONEY_KEYS = frozenset({"unit_price", "discount", "shipping_fee", "paid_amount"})
# Validation names some fields by their draft attribute; the form names them as the JSON input does.
DRAFT_TO_FORM = {
    "payment_method": "payment.method", "paid_at": "payment.paid_at", "invoice_type": "invoice.type",
    "invoice_title": "invoice.title", "invoice_tax_id": "invoice.tax_id",
}
_LINE_FIELD = re.compile(r"lines\[(\d{1,3})\]\.(\w+)")
_LINE_PATH = re.compile(r"lines\[(\d+)\]")
_WHOLE_NUMBER = re.compile(r"-?\d{1,9}")

_MONEY_MESSAGE = ("金额格式应为元，最多两位小数，例如 199.00", "enter yuan with at most two decimals, e.g. 199.00")
# Pydantic error types as people read them (zh, en).
_FORMAT_MESSAGES: dict[str, tuple[str, str]] = {
    "int_type": ("请输入整数", "enter a whole number"),
    "int_parsing": ("请输入整数", "enter a whole number"),
    "string_too_long": ("内容过长，最多 {max_length} 个字符", "too long: at most {max_length} characters"),
    "too_long": ("最多 {max_length} 项", "at most {max_length} entries"),
    "literal_error": ("请从列表中选择", "choose one of the listed values"),
    "datetime_parsing": ("时间格式错误", "not a valid date and time"),
    "datetime_from_date_parsing": ("时间格式错误", "not a valid date and time"),
    "datetime_type": ("时间格式错误", "not a valid date and time"),
    "missing": ("必填", "required"),
}


async def _form_data(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form_data)]


# ------------------------------------------------------------------------------------------------
# List
# ------------------------------------------------------------------------------------------------


def _parse_status(value: str) -> OrderStatus:
    try:
        return OrderStatus(value)
    except ValueError:
        raise InvalidInput(f"unknown status {value!r} / 未知的订单状态") from None


def _business_day(value: str, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    """The UTC start of a business day (`end`: of the day after, so the range includes the day)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
        return ensure_utc(datetime.combine(day + timedelta(days=1) if end else day, time.min, tzinfo=zone))
    except (ValueError, OverflowError):
        raise InvalidInput(f"{value!r} is not a date like 2026-11-20 / 日期格式应为 2026-11-20") from None


def _shop_filter(value: str) -> list[int] | None:
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"unknown shop {value!r} / 未知店铺")
    return [int(value)]


@router.get("")
def order_list(request: Request, runtime: RuntimeDep, _: Reader, status: str = "", channel: str = "",
               shop: str = "", created_from: str = "", created_to: str = "", q: str = "",
               cursor: str = "") -> HTMLResponse:
    if len(q) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"search text over {MAX_QUERY_LENGTH} characters / 搜索内容过长")
    zone = runtime.settings.zone
    filters = OrderFilters(
        status=_parse_status(status) if status else None,
        channel=channels.parse_channel(channel).value if channel else None,
        shop_ids=_shop_filter(shop),
        created_from=_business_day(created_from, zone), created_to=_business_day(created_to, zone, end=True),
        q=q.strip() or None,
    )
    chosen = {"status": status, "channel": channel, "shop": shop, "created_from": created_from,
              "created_to": created_to, "q": q.strip()}
    kept = {key: value for key, value in chosen.items() if value}
    with runtime.reading() as session:
        page = service.list_orders(session, filters, limit=PAGE_SIZE, cursor=cursor or None)
        counts = service.status_counts(session, filters)
        context = {
            "nav": "orders", "orders": page.items, "filters": chosen, "counts": counts,
            "total": sum(counts.values()), "statuses": list(OrderStatus), "channels": list(Channel),
            "shops": channels.list_shops(session), "paged": bool(cursor),
            "first_url": "/console/orders" + (f"?{urlencode(kept)}" if kept else ""),
            "next_url": f"/console/orders?{urlencode({**kept, 'cursor': page.next_cursor})}"
            if page.next_cursor else None,
        }
        if not is_htmx(request):
            return render(request, "orders/list.html", context)
        # The address bar shows the filters in force, not the form's empty fields.
        here = "/console/orders?" + urlencode({**kept, "cursor": cursor} if cursor else kept)
        return render(request, "orders/_results.html", context, headers={"HX-Push-Url": here.rstrip("?")})


# ------------------------------------------------------------------------------------------------
# Manual order form
# ------------------------------------------------------------------------------------------------


@dataclass
class _Submission:
    """A posted manual order form: what was typed, and every error found in it (under form field names)."""

    values: dict[str, str]
    line_indexes: list[int]
    # The rows that are order lines, in order: `lines[k]` of the order is form row `rows[k]`.
    rows: list[int] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    body: OrderCreate | None = None
    # Normalised by the checks (address names, phone kind, line titles); None when the form did not parse.
    draft: OrderDraft | None = None


def _form_values(form: FormData) -> dict[str, str]:
    return {key: value for key, value in form.items()
            if isinstance(value, str) and key not in ("csrf_token", "action", "touched")}


def _touched(path: str, touched: set[str]) -> bool:
    """Whether an error on `path` concerns a field the person has changed (or no single field at all)."""
    if path == "lines":
        return any(name.startswith("lines[") for name in touched)
    fillable = path in FORM_FIELDS or _LINE_FIELD.fullmatch(path) is not None
    return path in touched or not fillable


def _line_indexes(values: dict[str, str]) -> list[int]:
    return sorted({int(match[1]) for key in values if (match := _LINE_FIELD.fullmatch(key))})


def _whole_number(text: str) -> int | str:
    """Digits become an int; anything else stays text for `OrderCreate` to refuse with its field path."""
    return int(text) if _WHOLE_NUMBER.fullmatch(text) else text


def _local_time(text: str, zone: ZoneInfo) -> str | None:
    """A `datetime-local` value is a business-timezone wall time; the API takes ISO 8601 with offset."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).isoformat()


def _payload(values: dict[str, str], rows: list[int], zone: ZoneInfo) -> dict[str, Any]:
    """The form as the JSON body `POST /api/v1/orders` takes (blank optional amounts are zero)."""

    def text(name: str) -> str:
        return values.get(name, "").strip()

    return {
        "channel": text("channel"), "shop": text("shop"), "source_type": text("source_type"),
        "receiver": {name: text(f"receiver.{name}") for name in RECEIVER_FIELDS},
        "id_card": text("id_card") or None,
        "lines": [{"sku": text(f"lines[{i}].sku"), "qty": _whole_number(text(f"lines[{i}].qty")),
                   "unit_price": text(f"lines[{i}].unit_price"),
                   "discount": text(f"lines[{i}].discount") or "0.00"} for i in rows],
        "shipping_fee": text("shipping_fee") or "0.00", "discount": text("discount") or "0.00",
        "paid_amount": text("paid_amount") or "0.00",
        "payment": {"method": text("payment.method"), "paid_at": _local_time(text("payment.paid_at"), zone)},
        "invoice": {"type": text("invoice.type") or "none", "title": text("invoice.title"),
                    "tax_id": text("invoice.tax_id")},
        "buyer_memo": values.get("buyer_memo", ""), "seller_memo": values.get("seller_memo", ""),
    }


def _error_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + part
    return path


def _format_error(error: ErrorDetails) -> FieldError:
    path = _error_path(tuple(error["loc"]))
    reason = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "value_error" and error["loc"][-1] in MONEY_KEYS:
        zh, en = _MONEY_MESSAGE
    else:
        zh, en = _FORMAT_MESSAGES.get(error["type"], (f"输入无效：{reason}", reason))
    context = error.get("ctx", {})
    return FieldError(path, f"format.{error['type']}", zh.format_map(context), en.format_map(context), False)


def _detail(error: FieldError) -> dict[str, Any]:
    return {"field": error.field, "rule": error.rule, "message": error.message_zh,
            "messages": {"zh-CN": error.message_zh, "en": error.message_en}}


def _neutral(key: int | str) -> Any:
    if key == "qty":
        return 1
    if key == "paid_at":
        return None
    if key == "type":
        return "none"
    if key == "lines":
        return []
    return "0.00" if key in MONEY_KEYS else ""


def _without_bad_values(payload: dict[str, Any], errors: list[ErrorDetails]) -> OrderCreate | None:
    """The payload with each unparseable value neutralised, so the business checks can judge the rest."""
    patched = copy.deepcopy(payload)
    for error in errors:
        *parents, leaf = error["loc"]
        container: Any = patched
        for part in parents:
            container = container[part]
        container[leaf] = _neutral(leaf)
    try:
        return OrderCreate.model_validate(patched)
    except ValidationError:
        return None


def _on_form(error: FieldError, rows: list[int]) -> FieldError:
    """The same error, named as the form field that shows it (rows may have gaps after removals)."""
    path = DRAFT_TO_FORM.get(error.field, error.field)
    match = _LINE_PATH.match(path)
    if match and int(match[1]) < len(rows):
        path = f"lines[{rows[int(match[1])]}]{path[match.end():]}"
    return FieldError(path, error.rule, error.message_zh, error.message_en, error.fixable)


def _check(values: dict[str, str], runtime: Runtime) -> _Submission:
    indexes = _line_indexes(values)
    # A row with neither SKU nor price is the untouched blank row, not an order line.
    rows = [i for i in indexes if values.get(f"lines[{i}].sku", "").strip()
            or values.get(f"lines[{i}].unit_price", "").strip()]
    payload = _payload(values, rows, runtime.settings.zone)
    submission = _Submission(values=values, line_indexes=indexes, rows=rows)
    try:
        body: OrderCreate | None = OrderCreate.model_validate(payload)
        format_errors: list[FieldError] = []
    except ValidationError as exc:
        format_errors = [_format_error(error) for error in exc.errors()]
        body = _without_bad_values(payload, exc.errors())
    errors = list(format_errors)
    if body is not None:
        try:
            channels.parse_channel(body.channel)
        except UnknownChannel:
            errors.append(FieldError("channel", "channel.unknown", "请选择渠道", "choose a channel", False))
        draft = body.to_draft()
        with runtime.reading() as session:
            found = service.check_manual_draft(session, draft, runtime.policy)
        reported = {error.field for error in format_errors}
        # A total computed from a neutralised amount would only repeat the format error.
        amounts_unparsed = any(error.field.rsplit(".", 1)[-1] in MONEY_KEYS | {"qty"} for error in format_errors)
        errors += [error for error in found if error.field not in reported
                   and not (amounts_unparsed and error.rule == "amount.mismatch")]
        if not format_errors:
            submission.body, submission.draft = body, draft
    submission.errors = [_on_form(error, rows) for error in errors]
    return submission


def _shop_choices(session: Session) -> tuple[list[dict[str, str]], list[str]]:
    shops = [{"channel": shop.channel, "code": shop.code, "name": shop.name} for shop in channels.list_shops(session)]
    present = {shop["channel"] for shop in shops}
    ordered = [*MANUAL_CHANNELS, *(c for c in Channel if c not in MANUAL_CHANNELS)]
    return shops, [channel.value for channel in ordered if channel.value in present]


def _localised(errors: list[FieldError], language: str) -> tuple[dict[str, list[str]], list[str]]:
    """Errors per form field, and the ones no field on the form shows."""
    by_field: dict[str, list[str]] = {}
    elsewhere: list[str] = []
    for error in errors:
        message = error.message_zh if language == "zh-CN" else error.message_en
        line_field = _LINE_FIELD.fullmatch(error.field)
        if error.field in FORM_FIELDS or (line_field and line_field[2] in LINE_FIELDS):
            by_field.setdefault(error.field, []).append(message)
        else:
            elsewhere.append(message)
    return by_field, elsewhere


def _amounts(draft: OrderDraft | None) -> dict[str, int] | None:
    if draft is None:
        return None
    return {"goods": draft.goods_amount_fen, "shipping": draft.shipping_fee_fen, "discount": draft.discount_fen,
            "due": draft.goods_amount_fen + draft.shipping_fee_fen - draft.discount_fen,
            "paid": draft.paid_amount_fen}


def _form_page(request: Request, runtime: Runtime, submission: _Submission, *, status_code: int = 200,
               show_errors: bool = True) -> HTMLResponse:
    by_field, elsewhere = _localised(submission.errors if show_errors else [], language_of(request))
    with runtime.reading() as session:
        shops, channel_choices = _shop_choices(session)
        values = dict(submission.values)
        values.setdefault("channel", channel_choices[0] if channel_choices else "")
        values.setdefault("shop", next((s["code"] for s in shops if s["channel"] == values["channel"]), ""))
        context = {
            "nav": "new", "values": values, "line_indexes": submission.line_indexes or [0],
            "errors": by_field, "other_errors": elsewhere, "error_count": len(by_field) + len(elsewhere),
            "checked": show_errors and bool(submission.errors), "shops": shops, "channel_choices": channel_choices,
            "skus": catalog.list_skus(session), "source_types": runtime.policy.rules.manual.source_types,
            "payment_methods": PAYMENT_METHODS, "invoice_types": INVOICE_TYPES,
            "amounts": _amounts(submission.draft), "max_lines": MAX_LINES,
        }
        return render(request, "orders/new.html", context, status_code=status_code)


@router.get("/new")
def new_order_form(request: Request, runtime: RuntimeDep, _: Creator) -> HTMLResponse:
    return _form_page(request, runtime, _Submission(values={}, line_indexes=[0]))


@router.get("/new/line")
def new_order_line(request: Request, runtime: RuntimeDep, _: Creator, index: str = "1") -> HTMLResponse:
    """One more blank line row; the add button is swapped out of band to carry the next index."""
    if not index.isdigit() or int(index) >= MAX_LINES:
        raise InvalidInput(f"an order has at most {MAX_LINES} lines / 订单最多 {MAX_LINES} 行")
    with runtime.reading() as session:
        return render(request, "orders/_line_row.html",
                      {"index": int(index), "values": {}, "errors": {}, "skus": catalog.list_skus(session),
                       "add_button": True, "max_lines": MAX_LINES})


@router.post("/new/validate")
def validate_new_order(request: Request, runtime: RuntimeDep, _: Creator, form: Posted) -> HTMLResponse:
    submission = _check(_form_values(form), runtime)
    # While the form is being filled in, only the fields the person has already touched show errors;
    # the review step shows them all.
    touched = set(str(form.get("touched", "")).split(","))
    shown = [error for error in submission.errors if _touched(error.field, touched)]
    by_field, elsewhere = _localised(shown, language_of(request))
    slots = [*FORM_FIELDS, *(f"lines[{i}].{name}" for i in submission.line_indexes for name in LINE_FIELDS)]
    return render(request, "orders/_validation.html",
                  {"errors": by_field, "other_errors": elsewhere, "error_count": len(by_field) + len(elsewhere),
                   "checked": len(shown) == len(submission.errors), "slots": slots,
                   "amounts": _amounts(submission.draft)})


@router.post("/new")
def submit_new_order(request: Request, runtime: RuntimeDep, principal: Creator, form: Posted) -> Response:
    """Review first (the confirmation step), create on `action=confirm`, back to the form on `action=edit`."""
    action = form.get("action")
    submission = _check(_form_values(form), runtime)
    if action == "edit":
        return _form_page(request, runtime, submission, show_errors=False)
    if submission.body is None or submission.errors:
        return _form_page(request, runtime, submission, status_code=422)
    if action != "confirm":
        with runtime.reading() as session:
            shop = channels.get_shop(session, channel=submission.body.channel, code=submission.body.shop)
            return render(request, "orders/confirm.html",
                          {"nav": "new", "draft": submission.draft, "shop_name": shop.name,
                           "values": submission.values, "amounts": _amounts(submission.draft)})
    try:
        order = service.create_manual_order(runtime.uow(), draft=submission.body.to_draft(),
                                            actor=principal.actor("console"), policy=runtime.policy)
    except OrderValidationFailed as exc:
        submission.errors = [
            _on_form(FieldError(d["field"], d["rule"], d["messages"]["zh-CN"], d["messages"]["en"], d["fixable"]),
                     submission.rows)
            for d in exc.details
        ]
        return _form_page(request, runtime, submission, status_code=422)
    return RedirectResponse(f"{order_url(order.order_no)}?created=1", status_code=303)


# ------------------------------------------------------------------------------------------------
# Detail and transitions
# ------------------------------------------------------------------------------------------------


def _detail_context(session: Session, order_no: str, principal: Principal, *, notice: str = "") -> dict[str, Any]:
    order = service.get_order(session, order_no)
    rank = list(OrderStatus).index
    targets = (sorted(order.allowed_targets(), key=rank)
               if Permission.ORDERS_TRANSITION in principal.permissions else [])
    current = OrderStatus(order.status)
    # The way forward is the highlighted button, a way back (反审, release) is marked as one;
    # holds, cancels and refunds are side exits.
    along = [target for target in targets if target not in SIDE_EXITS]
    primary = {t for t in along if current is OrderStatus.ON_HOLD or rank(t) > rank(current)}
    back = {t for t in along if current is not OrderStatus.ON_HOLD and rank(t) < rank(current)}
    return {"nav": "orders", "order": order, "read": OrderRead.of(order, order.shop.code),
            "events": service.order_timeline(session, order_no), "targets": targets, "primary": primary,
            "back": back, "notice": notice, "routing": routing_panel(session, order_id=order.id),
            "tracking": tracking_panel(session, order_id=order.id)}


@router.get("/{order_no}")
def order_detail(order_no: str, request: Request, runtime: RuntimeDep, principal: Reader,
                 created: str = "") -> HTMLResponse:
    with runtime.reading() as session:
        return render(request, "orders/detail.html",
                      _detail_context(session, order_no, principal, notice="created" if created else ""))


@router.post("/{order_no}/transitions")
def transition_order(order_no: str, request: Request, runtime: RuntimeDep, principal: Mover,
                     form: Posted) -> Response:
    fields = {"to": form.get("to"), "reason": form.get("reason") or "", "version": form.get("version") or None}
    try:
        move = TransitionIn.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInput("the move cannot be read; reload the page / 无法识别的状态变更，请刷新页面",
                           details=[_detail(_format_error(error)) for error in exc.errors()]) from None
    result = service.transition_order(
        runtime.uow(), order_no=order_no, target=move.to, reason=move.reason, actor=principal.actor("console"),
        policy=runtime.policy, expected_version=move.version,
    )
    if not is_htmx(request):
        return RedirectResponse(order_url(order_no), status_code=303)
    with runtime.reading() as session:
        notice = "approval_pending" if result.approval_pending else "moved"
        return render(request, "orders/_detail.html", _detail_context(session, order_no, principal, notice=notice))
