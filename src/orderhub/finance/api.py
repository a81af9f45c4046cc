"""The finance REST API: discrepancies, settlement batches, the receivables report, statement upload."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from orderhub.auth.deps import RuntimeDep, require
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.channels import service as channels
from orderhub.core.errors import InvalidInput
from orderhub.core.money import fen_to_yuan
from orderhub.core.schemas import RowId
from orderhub.finance import service
from orderhub.finance.engine import Scope
from orderhub.finance.imports import import_statement
from orderhub.finance.model import DiscrepancyStatus, ReconClass, Source
from orderhub.finance.repository import UNRESOLVED_FILTER, DiscrepancyFilters
from orderhub.finance.schemas import (
    AssignIn,
    BatchDetailRead,
    BatchList,
    BatchRead,
    BulkOut,
    DiscrepancyDetail,
    DiscrepancyList,
    DiscrepancyRead,
    ReconcileIn,
    ReportRead,
    ReportRowRead,
    ResolveIn,
    RunOut,
    StatementImportOut,
)

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])

Reader = Annotated[Principal, Depends(require(Permission.FINANCE_READ))]
Resolver = Annotated[Principal, Depends(require(Permission.FINANCE_RESOLVE))]
Importer = Annotated[Principal, Depends(require(Permission.FINANCE_IMPORT))]
STATUSES = (UNRESOLVED_FILTER, *[status.value for status in DiscrepancyStatus])
MAX_REPORT_DAYS = 366


def discrepancy_filters(status: str | None, recon_class: ReconClass | None, channel: str | None, owner: str | None,
                        date_from: date | None, date_to: date | None) -> DiscrepancyFilters:
    """The list's filters, checked (shared by the API and the console)."""
    if status and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r} (one of {', '.join(STATUSES)}) / 未知状态",
                           details=[{"field": "status", "rule": "enum", "message": "unknown status"}])
    return DiscrepancyFilters(status=status or None, recon_class=recon_class,
                              channel=channels.parse_channel(channel).value if channel else None,
                              owner=owner or None, date_from=date_from, date_to=date_to)


def report_range(date_from: date | None, date_to: date | None, today: date) -> tuple[date, date]:
    last = date_to or today
    first = date_from or last - timedelta(days=29)
    if first > last:
        raise InvalidInput("date_from is after date_to / 开始日期晚于结束日期",
                           details=[{"field": "date_from", "rule": "range", "message": "after date_to"}])
    if (last - first).days >= MAX_REPORT_DAYS:
        raise InvalidInput(f"at most {MAX_REPORT_DAYS} days at once / 一次最多 {MAX_REPORT_DAYS} 天",
                           details=[{"field": "date_from", "rule": "range", "message": "range too long"}])
    return first, last


@router.get("/discrepancies", response_model=DiscrepancyList)
def list_discrepancies(
    runtime: RuntimeDep,
    _: Reader,
    status: str | None = Query(default=None, max_length=16),
    recon_class: ReconClass | None = Query(default=None, alias="class"),
    channel: str | None = Query(default=None, max_length=16),
    owner: str | None = Query(default=None, max_length=64),
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=200),
) -> DiscrepancyList:
    filters = discrepancy_filters(status, recon_class, channel, owner, date_from, date_to)
    with runtime.reading() as session:
        page = service.list_discrepancies(session, filters, limit=limit, cursor=cursor)
        return DiscrepancyList(items=[DiscrepancyRead.of(d) for d in page.items], next_cursor=page.next_cursor)


@router.get("/discrepancies/{discrepancy_id}", response_model=DiscrepancyDetail)
def get_discrepancy(discrepancy_id: RowId, runtime: RuntimeDep, _: Reader) -> DiscrepancyDetail:
    with runtime.reading() as session:
        return DiscrepancyDetail.of(service.get_discrepancy(session, discrepancy_id))


@router.post("/discrepancies/resolve", response_model=BulkOut)
def resolve(body: ResolveIn, runtime: RuntimeDep, principal: Resolver) -> BulkOut:
    outcome = service.resolve_discrepancies(runtime.uow(), ids=body.ids, reason=body.reason,
                                            actor=principal.actor("api"))
    return BulkOut.of(outcome)


@router.post("/discrepancies/assign", response_model=BulkOut)
def assign(body: AssignIn, runtime: RuntimeDep, principal: Resolver) -> BulkOut:
    outcome = service.assign_discrepancies(runtime.uow(), ids=body.ids, owner=body.owner, reason=body.reason,
                                           actor=principal.actor("api"))
    return BulkOut.of(outcome)


@router.get("/settlements", response_model=BatchList)
def list_settlements(
    runtime: RuntimeDep,
    _: Reader,
    channel: str | None = Query(default=None, max_length=16),
    date_from: date | None = None,
    date_to: date | None = None,
    flagged: bool = False,
) -> BatchList:
    first, last = report_range(date_from, date_to, runtime.clock.now().astimezone(runtime.settings.zone).date())
    with runtime.reading() as session:
        batches = service.settlement_batches(
            session, rules=service.rules_of(runtime), tolerance=runtime.settings.settlement_tolerance,
            channel=channels.parse_channel(channel).value if channel else None, date_from=first, date_to=last,
            flagged_only=flagged)
    return BatchList(items=[BatchRead.of(batch) for batch in batches])


@router.get("/settlements/{channel}/{batch_no}", response_model=BatchDetailRead)
def get_settlement(channel: str, batch_no: str, runtime: RuntimeDep, _: Reader) -> BatchDetailRead:
    with runtime.reading() as session:
        detail = service.settlement_batch(session, channel=channels.parse_channel(channel).value, batch_no=batch_no,
                                          rules=service.rules_of(runtime),
                                          tolerance=runtime.settings.settlement_tolerance)
    return BatchDetailRead.of(detail)


@router.get("/reports/receivables", response_model=ReportRead)
def receivables_report(
    runtime: RuntimeDep,
    _: Reader,
    date_from: date | None = None,
    date_to: date | None = None,
    channel: str | None = Query(default=None, max_length=16),
) -> ReportRead:
    first, last = report_range(date_from, date_to, runtime.clock.now().astimezone(runtime.settings.zone).date())
    with runtime.reading() as session:
        rows = service.receivables_report(session, date_from=first, date_to=last,
                                          channel=channels.parse_channel(channel).value if channel else None)
    totals = {key.removesuffix("_fen"): value if key == "orders" else fen_to_yuan(value)
              for key, value in service.report_totals(rows).items()}
    return ReportRead(date_from=first, date_to=last, rows=[ReportRowRead.of(row) for row in rows], totals=totals)


def _upload_name(filename: str | None) -> str:
    """The uploaded file's own name, kept for the import record; a name no file can have becomes a plain one."""
    name = Path("".join(char for char in filename or "" if char.isprintable() and char not in "\\/")).name
    return name[-100:] if name.strip(". ") else "statement.csv"


@router.post("/statements", response_model=StatementImportOut, status_code=201)
def upload_statement(
    runtime: RuntimeDep,
    principal: Importer,
    file: Annotated[UploadFile, File(description="the statement: CSV or XLSX")],
    source: Annotated[Source, Form()],
    format_name: Annotated[str | None, Form(alias="format", max_length=32)] = None,
    account: Annotated[str, Form(max_length=64)] = "",
) -> StatementImportOut:
    """Import a statement file (bodies above the API's size limit: `orderhub statements import`)."""
    name = _upload_name(file.filename)
    with tempfile.TemporaryDirectory(prefix="orderhub-statement-") as folder:
        path = Path(folder) / name
        path.write_bytes(file.file.read())
        report = import_statement(runtime, path, source=source, format_name=format_name or None, account=account,
                                  actor=principal.actor("api"))
    return StatementImportOut.of(report)


@router.post("/reconcile", response_model=RunOut)
def run_reconcile(body: ReconcileIn, runtime: RuntimeDep, principal: Importer) -> RunOut:
    scope = Scope.days(body.date) if body.date else service.recent_days(runtime)
    return RunOut.of(service.reconcile(runtime, scope=scope, actor=principal.actor("api")))
