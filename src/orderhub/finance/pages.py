"""The finance console: the discrepancy pool (filters, bulk assign and resolve), settlements, reports, downloads.

Thin like the other consoles: parse, authorise, call a service, render. Labels and explanations
come from `explain.py`, the same text the API returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from orderhub.auth.deps import RuntimeDep, require_console
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.channels.model import Channel
from orderhub.core.errors import InvalidInput
from orderhub.finance import exports, service
from orderhub.finance.api import discrepancy_filters, report_range
from orderhub.finance.errors import DiscrepancyNotFound
from orderhub.finance.explain import class_label, discrepancy_text, match_text, method_label, source_label, status_label
from orderhub.finance.model import DiscrepancyStatus, ReconClass
from orderhub.finance.repository import UNRESOLVED_FILTER, DiscrepancyFilters
from orderhub.runtime import Runtime
from orderhub.web.htmx import is_htmx, language_of, render

router = APIRouter(prefix="/console/finance", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_console(Permission.FINANCE_READ))]
Resolver = Annotated[Principal, Depends(require_console(Permission.FINANCE_RESOLVE))]

PAGE_SIZE = 50
EXPORT_LIMIT = 50_000
_ID = re.compile(r"[0-9]{1,18}")
_TABS = (UNRESOLVED_FILTER, DiscrepancyStatus.ESCALATED.value, DiscrepancyStatus.RESOLVED.value,
         DiscrepancyStatus.CLEARED.value)


async def _form_data(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form_data)]


@dataclass(frozen=True)
class Labels:
    """Finance words in the reader's language, for the templates."""

    language: str

    def klass(self, value: str) -> str:
        return class_label(value, self.language)

    def status(self, value: str) -> str:
        if value == UNRESOLVED_FILTER:
            return "未解决" if self.language == "zh-CN" else "Unresolved"
        return status_label(value, self.language)

    def source(self, value: str) -> str:
        return source_label(value, self.language)

    def method(self, value: str) -> str:
        return method_label(value, self.language)

    def explain(self, item: Any) -> str:
        return discrepancy_text(item, self.language)

    def how(self, line: Any, result: Any) -> str:
        if result is None:
            return ""
        return match_text(result.method, result.detail, line.reference, self.language)


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} is YYYY-MM-DD / 日期格式应为 YYYY-MM-DD") from None


# ------------------------------------------------------------------------------------------------
# The discrepancy list
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Listing:
    status: str = UNRESOLVED_FILTER
    recon_class: str = ""
    channel: str = ""
    owner: str = ""
    date_from: str = ""
    date_to: str = ""
    cursor: str = ""

    @property
    def filters(self) -> DiscrepancyFilters:
        return discrepancy_filters(self.status, ReconClass(self.recon_class) if self.recon_class else None,
                                   self.channel or None, self.owner or None, _date(self.date_from, "date_from"),
                                   _date(self.date_to, "date_to"))

    def query(self, **changes: str) -> str:
        kept = replace(self, **changes)
        values = {"status": "" if kept.status == UNRESOLVED_FILTER else kept.status, "class": kept.recon_class,
                  "channel": kept.channel, "owner": kept.owner, "date_from": kept.date_from,
                  "date_to": kept.date_to, "cursor": kept.cursor}
        return urlencode({key: value for key, value in values.items() if value})

    def url(self, path: str = "/console/finance/discrepancies", **changes: str) -> str:
        query = self.query(**changes)
        return path + (f"?{query}" if query else "")


def _listing(request: Request, status: str = UNRESOLVED_FILTER, channel: str = "", owner: str = "",
             date_from: str = "", date_to: str = "", cursor: str = "") -> _Listing:
    recon_class = request.query_params.get("class", "")
    if recon_class and recon_class not in {klass.value for klass in ReconClass}:
        raise InvalidInput(f"unknown class {recon_class!r} / 未知差异类别")
    listing = _Listing(status or UNRESOLVED_FILTER, recon_class, channel, owner[:64], date_from, date_to,
                       cursor[:200])
    _ = listing.filters  # every filter is checked before anything is read
    return listing


Listing = Annotated[_Listing, Depends(_listing)]


def _list_context(request: Request, session: Session, listing: _Listing, principal: Principal) -> dict[str, Any]:
    page = service.list_discrepancies(session, listing.filters, limit=PAGE_SIZE, cursor=listing.cursor or None)
    return {
        "nav": "finance", "section": "discrepancies", "items": page.items, "listing": listing, "tabs": _TABS,
        "counts": _tab_counts(service.discrepancy_counts(session, listing.filters)), "classes": list(ReconClass),
        "channels": list(Channel), "owners": service.owners(session), "fin": Labels(language_of(request)),
        "can_resolve": Permission.FINANCE_RESOLVE in principal.permissions,
        "next_url": listing.url(cursor=page.next_cursor) if page.next_cursor else None,
        "first_url": listing.url(cursor="") if listing.cursor else None, "query": listing.query(cursor=""),
        "oob": False, "outcome": None,
    }


def _tab_counts(counts: dict[str, int]) -> dict[str, int]:
    return {UNRESOLVED_FILTER: counts.get("open", 0) + counts.get("escalated", 0), **counts}


@router.get("/discrepancies")
def discrepancy_list(request: Request, runtime: RuntimeDep, principal: Reader, listing: Listing) -> HTMLResponse:
    with runtime.reading() as session:
        context = _list_context(request, session, listing, principal)
    if is_htmx(request):
        return render(request, "finance/_discrepancies.html", {**context, "oob": True},
                      headers={"HX-Push-Url": listing.url()})
    return render(request, "finance/discrepancies.html", context)


def _download(data: bytes, media_type: str, name: str) -> Response:
    return Response(data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/discrepancies.xlsx")
def discrepancies_xlsx(request: Request, runtime: RuntimeDep, _: Reader, listing: Listing) -> Response:
    with runtime.reading() as session:
        items = service.export_discrepancies(session, listing.filters, limit=EXPORT_LIMIT)
        data = exports.discrepancies_workbook(items, zone=runtime.settings.zone, language=language_of(request))
    return _download(data, exports.XLSX_TYPE, "discrepancies.xlsx")


@router.get("/discrepancies.pdf")
def discrepancies_pdf(request: Request, runtime: RuntimeDep, _: Reader, listing: Listing) -> Response:
    zone = runtime.settings.zone
    with runtime.reading() as session:
        items = service.export_discrepancies(session, listing.filters, limit=EXPORT_LIMIT)
        data = exports.discrepancies_pdf(items, zone=zone, language=language_of(request),
                                         generated=f"{runtime.clock.now().astimezone(zone):%Y-%m-%d %H:%M}")
    return _download(data, exports.PDF_TYPE, "discrepancies.pdf")


def _selected(form: FormData) -> list[int]:
    values = form.getlist("ids")
    if not values:
        raise InvalidInput("select at least one discrepancy / 请先勾选差异")
    if len(values) > service.MAX_BULK or not all(isinstance(v, str) and _ID.fullmatch(v) for v in values):
        raise InvalidInput(f"select at most {service.MAX_BULK} discrepancies / 最多勾选 {service.MAX_BULK} 条")
    return sorted({int(str(value)) for value in values})


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _list_after(request: Request, runtime: Runtime, principal: Principal, listing: _Listing,
                outcome: dict[str, Any]) -> Response:
    if not is_htmx(request):
        return RedirectResponse(listing.url(), status_code=303)
    with runtime.reading() as session:
        context = _list_context(request, session, listing, principal)
    return render(request, "finance/_discrepancies.html", {**context, "oob": True, "outcome": outcome})


@router.post("/discrepancies/resolve")
def resolve_selected(request: Request, runtime: RuntimeDep, principal: Resolver, listing: Listing,
                     form: Posted) -> Response:
    outcome = service.resolve_discrepancies(runtime.uow(), ids=_selected(form), reason=_text(form, "reason"),
                                            actor=principal.actor("console"))
    return _list_after(request, runtime, principal, listing,
                       {"action": "resolved", "changed": len(outcome.changed), "skipped": len(outcome.skipped)})


@router.post("/discrepancies/assign")
def assign_selected(request: Request, runtime: RuntimeDep, principal: Resolver, listing: Listing,
                    form: Posted) -> Response:
    outcome = service.assign_discrepancies(runtime.uow(), ids=_selected(form), owner=_text(form, "owner"),
                                           reason=_text(form, "reason"), actor=principal.actor("console"))
    return _list_after(request, runtime, principal, listing,
                       {"action": "assigned", "changed": len(outcome.changed), "skipped": len(outcome.skipped),
                        "owner": _text(form, "owner").strip()})


# ------------------------------------------------------------------------------------------------
# One discrepancy
# ------------------------------------------------------------------------------------------------


def _discrepancy_id(value: str) -> int:
    if not _ID.fullmatch(value):
        raise DiscrepancyNotFound(f"no discrepancy {value!r} / 差异 {value} 不存在")
    return int(value)


def _detail_context(request: Request, session: Session, discrepancy_id: int, principal: Principal
                    ) -> dict[str, Any]:
    view = service.get_discrepancy(session, discrepancy_id)
    return {"nav": "finance", "section": "discrepancies", "view": view, "item": view.discrepancy,
            "fin": Labels(language_of(request)), "outcome": None,
            "can_resolve": Permission.FINANCE_RESOLVE in principal.permissions
            and view.discrepancy.status in (DiscrepancyStatus.OPEN, DiscrepancyStatus.ESCALATED)}


@router.get("/discrepancies/{discrepancy_id}")
def discrepancy_detail(discrepancy_id: str, request: Request, runtime: RuntimeDep, principal: Reader
                       ) -> HTMLResponse:
    with runtime.reading() as session:
        context = _detail_context(request, session, _discrepancy_id(discrepancy_id), principal)
    return render(request, "finance/discrepancy.html", context)


def _detail_after(request: Request, runtime: Runtime, principal: Principal, discrepancy_id: int,
                  outcome: dict[str, Any]) -> Response:
    if not is_htmx(request):
        return RedirectResponse(f"/console/finance/discrepancies/{discrepancy_id}", status_code=303)
    with runtime.reading() as session:
        context = _detail_context(request, session, discrepancy_id, principal)
    return render(request, "finance/_discrepancy.html", {**context, "outcome": outcome})


@router.post("/discrepancies/{discrepancy_id}/resolve")
def resolve_one(discrepancy_id: str, request: Request, runtime: RuntimeDep, principal: Resolver,
                form: Posted) -> Response:
    number = _discrepancy_id(discrepancy_id)
    service.resolve_one(runtime.uow(), discrepancy_id=number, reason=_text(form, "reason"),
                        actor=principal.actor("console"))
    return _detail_after(request, runtime, principal, number, {"action": "resolved", "changed": 1, "skipped": 0})


@router.post("/discrepancies/{discrepancy_id}/assign")
def assign_one(discrepancy_id: str, request: Request, runtime: RuntimeDep, principal: Resolver,
               form: Posted) -> Response:
    number = _discrepancy_id(discrepancy_id)
    outcome = service.assign_discrepancies(runtime.uow(), ids=[number], owner=_text(form, "owner"),
                                           reason=_text(form, "reason"), actor=principal.actor("console"))
    return _detail_after(request, runtime, principal, number,
                         {"action": "assigned", "changed": len(outcome.changed), "skipped": len(outcome.skipped),
                          "owner": _text(form, "owner").strip()})


# ------------------------------------------------------------------------------------------------
# Settlements
# ------------------------------------------------------------------------------------------------


def _today(runtime: Runtime) -> date:
    return runtime.clock.now().astimezone(runtime.settings.zone).date()


@router.get("/settlements")
def settlement_list(request: Request, runtime: RuntimeDep, _: Reader, channel: str = "", date_from: str = "",
                    date_to: str = "", flagged: str = "") -> HTMLResponse:
    first, last = report_range(_date(date_from, "date_from"), _date(date_to, "date_to"), _today(runtime))
    filters = discrepancy_filters(None, None, channel or None, None, first, last)
    with runtime.reading() as session:
        batches = service.settlement_batches(session, rules=service.rules_of(runtime),
                                             tolerance=runtime.settings.settlement_tolerance,
                                             channel=filters.channel, date_from=first, date_to=last,
                                             flagged_only=bool(flagged))
    return render(request, "finance/settlements.html", {
        "nav": "finance", "section": "settlements", "batches": batches, "channels": list(Channel),
        "filters": {"channel": channel, "date_from": first.isoformat(), "date_to": last.isoformat(),
                    "flagged": bool(flagged)},
        "tolerance": runtime.settings.settlement_tolerance, "fin": Labels(language_of(request)),
    })


@router.get("/settlements/{channel}/{batch_no}")
def settlement_detail(channel: str, batch_no: str, request: Request, runtime: RuntimeDep, _: Reader
                      ) -> HTMLResponse:
    filters = discrepancy_filters(None, None, channel, None, None, None)
    assert filters.channel is not None
    with runtime.reading() as session:
        detail = service.settlement_batch(session, channel=filters.channel, batch_no=batch_no,
                                          rules=service.rules_of(runtime),
                                          tolerance=runtime.settings.settlement_tolerance)
    return render(request, "finance/settlement.html", {
        "nav": "finance", "section": "settlements", "detail": detail, "batch": detail.batch,
        "tolerance": runtime.settings.settlement_tolerance, "fin": Labels(language_of(request)),
    })


# ------------------------------------------------------------------------------------------------
# The receivables report
# ------------------------------------------------------------------------------------------------


def _report(request: Request, runtime: Runtime, date_from: str, date_to: str, channel: str) -> dict[str, Any]:
    first, last = report_range(_date(date_from, "date_from"), _date(date_to, "date_to"), _today(runtime))
    filters = discrepancy_filters(None, None, channel or None, None, first, last)
    with runtime.reading() as session:
        rows = service.receivables_report(session, date_from=first, date_to=last, channel=filters.channel)
    query = urlencode({key: value for key, value in
                       {"date_from": first.isoformat(), "date_to": last.isoformat(), "channel": channel}.items()
                       if value})
    return {"nav": "finance", "section": "reports", "rows": rows, "totals": service.report_totals(rows),
            "first": first, "last": last, "channel": channel, "channels": list(Channel), "query": query,
            "fin": Labels(language_of(request))}


@router.get("/reports")
def report_page(request: Request, runtime: RuntimeDep, _: Reader, date_from: str = "", date_to: str = "",
                channel: str = "") -> HTMLResponse:
    return render(request, "finance/reports.html", _report(request, runtime, date_from, date_to, channel))


@router.get("/reports/receivables.xlsx")
def report_xlsx(request: Request, runtime: RuntimeDep, _: Reader, date_from: str = "", date_to: str = "",
                channel: str = "") -> Response:
    context = _report(request, runtime, date_from, date_to, channel)
    data = exports.report_workbook(context["rows"], context["totals"], language=language_of(request))
    return _download(data, exports.XLSX_TYPE, f"receivables-{context['first']}-{context['last']}.xlsx")


@router.get("/reports/receivables.pdf")
def report_pdf(request: Request, runtime: RuntimeDep, _: Reader, date_from: str = "", date_to: str = "",
               channel: str = "") -> Response:
    context = _report(request, runtime, date_from, date_to, channel)
    zone = runtime.settings.zone
    data = exports.report_pdf(context["rows"], context["totals"], date_from=context["first"],
                              date_to=context["last"], language=language_of(request),
                              generated=f"{runtime.clock.now().astimezone(zone):%Y-%m-%d %H:%M}")
    return _download(data, exports.PDF_TYPE, f"receivables-{context['first']}-{context['last']}.pdf")

