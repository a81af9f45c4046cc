"""Request and response models of the finance API (money as two-place yuan strings at this edge)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orderhub.core.money import fen_to_yuan
from orderhub.finance.engine import RunReport
from orderhub.finance.explain import ZH, class_label, discrepancy_text, match_text, status_label
from orderhub.finance.imports import StatementReport
from orderhub.finance.model import (
    Discrepancy,
    DiscrepancyEvent,
    LineResult,
    Receivable,
    ReceivableAdjustment,
    StatementLine,
)
from orderhub.finance.repository import ReportRow
from orderhub.finance.service import Batch, BatchDetail, BatchOrder, BulkOutcome, DiscrepancyView

BusinessDay = date


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResolveIn(_In):
    ids: list[int] = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=500)  # blank: the service refuses it with its own code


class AssignIn(_In):
    ids: list[int] = Field(min_length=1, max_length=200)
    owner: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=500)


class ReconcileIn(_In):
    date: BusinessDay | None = None  # one business day; without it, the days the daily job covers


def _texts(make: Any) -> dict[str, str]:
    return {ZH: make(ZH), "en": make("en")}


class DiscrepancyRead(BaseModel):
    id: int
    subject: str
    recon_class: str
    class_label: dict[str, str]
    status: str
    status_label: dict[str, str]
    order_no: str
    reference: str
    channel: str
    province: str
    business_date: date
    expected: str
    actual: str
    difference: str
    explanation: dict[str, str]
    owner: str
    supervisor: str
    rule: str
    due_at: datetime
    escalated_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, item: Discrepancy) -> DiscrepancyRead:
        return cls(
            id=item.id, subject=item.subject, recon_class=item.recon_class,
            class_label=_texts(lambda lang: class_label(item.recon_class, lang)), status=item.status,
            status_label=_texts(lambda lang: status_label(item.status, lang)), order_no=item.order_no,
            reference=item.reference, channel=item.channel, province=item.province,
            business_date=item.business_date, expected=fen_to_yuan(item.expected_fen),
            actual=fen_to_yuan(item.actual_fen), difference=fen_to_yuan(item.difference_fen),
            explanation=_texts(lambda lang: discrepancy_text(item, lang)), owner=item.owner,
            supervisor=item.supervisor, rule=item.rule, due_at=item.due_at, escalated_at=item.escalated_at,
            resolved_at=item.resolved_at, resolved_by=item.resolved_by, resolution=item.resolution,
            created_at=item.created_at, updated_at=item.updated_at, version=item.version,
        )


class DiscrepancyList(BaseModel):
    items: list[DiscrepancyRead]
    next_cursor: str | None


class EventRead(BaseModel):
    at: datetime
    actor: str
    source: str
    action: str
    from_owner: str | None
    to_owner: str | None
    reason: str

    @classmethod
    def of(cls, event: DiscrepancyEvent) -> EventRead:
        return cls(at=event.at, actor=event.actor, source=event.source, action=event.action,
                   from_owner=event.from_owner, to_owner=event.to_owner, reason=event.reason)


class LineRead(BaseModel):
    id: int
    source: str
    kind: str
    txn_id: str
    reference: str
    channel: str
    batch_no: str
    occurred_at: datetime
    amount: str
    fee: str
    commission: str
    net: str
    recon_class: str | None
    method: str | None
    how: dict[str, str]

    @classmethod
    def of(cls, line: StatementLine, result: LineResult | None) -> LineRead:
        method = result.method if result else None
        detail = result.detail if result else None
        return cls(
            id=line.id, source=line.source, kind=line.kind, txn_id=line.txn_id, reference=line.reference,
            channel=line.channel, batch_no=line.batch_no, occurred_at=line.occurred_at,
            amount=fen_to_yuan(line.amount_fen), fee=fen_to_yuan(line.fee_fen),
            commission=fen_to_yuan(line.commission_fen), net=fen_to_yuan(line.net_fen),
            recon_class=result.recon_class if result else None, method=method,
            how=_texts(lambda lang: match_text(method or "none", detail, line.reference, lang)) if result else {},
        )


class ReceivableRead(BaseModel):
    order_no: str
    channel: str
    order_status: str
    paid: str
    refunded: str
    received: str
    statement_refund: str
    fee: str
    expected_fee: str
    cost: str
    cost_complete: bool
    margin: str
    recon_class: str
    recon_method: str
    paid_at: datetime

    @classmethod
    def of(cls, r: Receivable) -> ReceivableRead:
        return cls(
            order_no=r.order_no, channel=r.channel, order_status=r.order_status, paid=fen_to_yuan(r.paid_fen),
            refunded=fen_to_yuan(r.refunded_fen), received=fen_to_yuan(r.received_fen),
            statement_refund=fen_to_yuan(r.statement_refund_fen), fee=fen_to_yuan(r.fee_fen),
            expected_fee=fen_to_yuan(r.expected_fee_fen), cost=fen_to_yuan(r.cost_fen), cost_complete=r.cost_complete,
            margin=fen_to_yuan(r.margin_fen), recon_class=r.recon_class, recon_method=r.recon_method,
            paid_at=r.paid_at,
        )


class AdjustmentRead(BaseModel):
    at: datetime
    order_status: str
    reason: str
    refunded_delta: str
    margin_delta: str

    @classmethod
    def of(cls, adjustment: ReceivableAdjustment) -> AdjustmentRead:
        return cls(at=adjustment.at, order_status=adjustment.order_status, reason=adjustment.reason,
                   refunded_delta=fen_to_yuan(adjustment.refunded_delta_fen),
                   margin_delta=fen_to_yuan(adjustment.margin_delta_fen))


class DiscrepancyDetail(BaseModel):
    discrepancy: DiscrepancyRead
    events: list[EventRead]
    receivable: ReceivableRead | None
    lines: list[LineRead]
    adjustments: list[AdjustmentRead]

    @classmethod
    def of(cls, view: DiscrepancyView) -> DiscrepancyDetail:
        return cls(discrepancy=DiscrepancyRead.of(view.discrepancy), events=[EventRead.of(e) for e in view.events],
                   receivable=ReceivableRead.of(view.receivable) if view.receivable else None,
                   lines=[LineRead.of(line, result) for line, result in view.lines],
                   adjustments=[AdjustmentRead.of(a) for a in view.adjustments])


class BulkOut(BaseModel):
    changed: list[DiscrepancyRead]
    skipped: list[int]

    @classmethod
    def of(cls, outcome: BulkOutcome) -> BulkOut:
        return cls(changed=[DiscrepancyRead.of(d) for d in outcome.changed], skipped=outcome.skipped)


class BatchRead(BaseModel):
    channel: str
    batch_no: str
    settled_on: date
    orders: int
    lines: int
    gross: str
    deductions: str
    expected: str
    received: str
    difference: str
    deviation: str | None  # a share: "-0.0123" is 1.23 % short
    flagged: bool

    @classmethod
    def of(cls, batch: Batch) -> BatchRead:
        deviation = batch.deviation
        return cls(channel=batch.channel, batch_no=batch.batch_no, settled_on=batch.settled_on, orders=batch.orders,
                   lines=batch.lines, gross=fen_to_yuan(batch.gross_fen), deductions=fen_to_yuan(batch.deductions_fen),
                   expected=fen_to_yuan(batch.expected_fen), received=fen_to_yuan(batch.received_fen),
                   difference=fen_to_yuan(batch.difference_fen),
                   deviation=str(round(deviation, 4)) if deviation is not None else None, flagged=batch.flagged)


class BatchList(BaseModel):
    items: list[BatchRead]


class BatchOrderRead(BaseModel):
    order_no: str
    reference: str
    lines: int
    gross: str
    deductions: str
    expected: str
    received: str
    difference: str

    @classmethod
    def of(cls, member: BatchOrder) -> BatchOrderRead:
        return cls(order_no=member.order_no, reference=member.reference, lines=member.lines,
                   gross=fen_to_yuan(member.gross_fen), deductions=fen_to_yuan(member.deductions_fen),
                   expected=fen_to_yuan(member.expected_fen), received=fen_to_yuan(member.received_fen),
                   difference=fen_to_yuan(member.difference_fen))


class BatchDetailRead(BaseModel):
    batch: BatchRead
    orders: list[BatchOrderRead]

    @classmethod
    def of(cls, detail: BatchDetail) -> BatchDetailRead:
        return cls(batch=BatchRead.of(detail.batch), orders=[BatchOrderRead.of(m) for m in detail.orders])


class ReportRowRead(BaseModel):
    day: date
    channel: str
    orders: int
    paid: str
    refunded: str
    receivable: str
    received: str
    outstanding: str
    fees: str
    cost: str
    margin: str

    @classmethod
    def of(cls, row: ReportRow) -> ReportRowRead:
        return cls(day=row.day, channel=row.channel, orders=row.orders, paid=fen_to_yuan(row.paid_fen),
                   refunded=fen_to_yuan(row.refunded_fen), receivable=fen_to_yuan(row.receivable_fen),
                   received=fen_to_yuan(row.received_fen), outstanding=fen_to_yuan(row.outstanding_fen),
                   fees=fen_to_yuan(row.fee_fen), cost=fen_to_yuan(row.cost_fen), margin=fen_to_yuan(row.margin_fen))


class ReportRead(BaseModel):
    date_from: date
    date_to: date
    rows: list[ReportRowRead]
    totals: dict[str, Any]


class StatementImportOut(BaseModel):
    file_id: int | None
    source: str
    format: str
    read: int
    new: int
    already_imported: int
    refused: int
    skipped: int
    ignored_columns: list[str]
    imported_before: list[int]
    errors: list[dict[str, Any]]

    @classmethod
    def of(cls, report: StatementReport) -> StatementImportOut:
        return cls(file_id=report.file_id, source=report.source, format=report.format, read=report.read,
                   new=report.new, already_imported=report.duplicate, refused=report.refused, skipped=report.skipped,
                   ignored_columns=report.ignored_columns, imported_before=[i for i, _ in report.imported_before],
                   errors=[{"row": e.row, "txn_id": e.txn_id, "code": e.code, "message": e.message}
                           for e in report.samples])


class RunOut(BaseModel):
    run_id: int
    scope: str
    lines: int
    orders: int
    line_classes: dict[str, int]
    order_classes: dict[str, int]
    discrepancies_created: int
    discrepancies_cleared: int
    seconds: float

    @classmethod
    def of(cls, report: RunReport) -> RunOut:
        return cls(run_id=report.run_id, scope=report.scope, lines=report.lines, orders=report.orders,
                   line_classes=report.line_classes, order_classes=report.order_classes,
                   discrepancies_created=report.discrepancies_created,
                   discrepancies_cleared=report.discrepancies_cleared, seconds=round(report.seconds, 3))
