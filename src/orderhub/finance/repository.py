"""Named queries of the finance domain: the discrepancy list, settlement batches, the receivables report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from orderhub.core.pagination import Page, decode_cursor, encode_cursor
from orderhub.finance.errors import DiscrepancyNotFound
from orderhub.finance.model import (
    UNRESOLVED,
    Discrepancy,
    DiscrepancyEvent,
    LineKind,
    LineResult,
    Receivable,
    ReceivableAdjustment,
    ReconClass,
    Source,
    StatementLine,
)

UNRESOLVED_FILTER = "unresolved"


@dataclass(frozen=True)
class DiscrepancyFilters:
    status: str | None = None  # a DiscrepancyStatus value, or "unresolved" (open or escalated)
    recon_class: ReconClass | None = None
    channel: str | None = None
    owner: str | None = None
    date_from: date | None = None  # business day of the payment or order, inclusive
    date_to: date | None = None


def _conditions(filters: DiscrepancyFilters, *, with_status: bool = True) -> list[ColumnElement[bool]]:
    d = Discrepancy
    conditions: list[ColumnElement[bool]] = []
    if with_status and filters.status == UNRESOLVED_FILTER:
        conditions.append(d.status.in_(UNRESOLVED))
    elif with_status and filters.status:
        conditions.append(d.status == filters.status)
    if filters.recon_class is not None:
        conditions.append(d.recon_class == filters.recon_class.value)
    if filters.channel:
        conditions.append(d.channel == filters.channel)
    if filters.owner:
        conditions.append(d.owner == filters.owner)
    if filters.date_from is not None:
        conditions.append(d.business_date >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(d.business_date <= filters.date_to)
    return conditions


def list_page(session: Session, filters: DiscrepancyFilters, *, limit: int, cursor: str | None
              ) -> Page[Discrepancy]:
    """Newest first; the cursor carries (created_at, id) of the last row returned."""
    d = Discrepancy
    conditions = _conditions(filters)
    if cursor:
        at, row_id = decode_cursor(cursor)
        conditions.append(or_(d.created_at < at, and_(d.created_at == at, d.id < row_id)))
    rows = list(session.scalars(select(d).where(*conditions).order_by(d.created_at.desc(), d.id.desc())
                                .limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)


def all_matching(session: Session, filters: DiscrepancyFilters, *, limit: int) -> list[Discrepancy]:
    """The list as exported: newest first, at most `limit` rows."""
    d = Discrepancy
    return list(session.scalars(select(d).where(*_conditions(filters)).order_by(d.created_at.desc(), d.id.desc())
                                .limit(limit)))


def status_counts(session: Session, filters: DiscrepancyFilters) -> dict[str, int]:
    rows = session.execute(select(Discrepancy.status, func.count()).where(*_conditions(filters, with_status=False))
                           .group_by(Discrepancy.status))
    return {status: count for status, count in rows}


def owners(session: Session) -> list[str]:
    return list(session.scalars(select(Discrepancy.owner).distinct().order_by(Discrepancy.owner)))


def get(session: Session, discrepancy_id: int, *, lock: bool = False) -> Discrepancy:
    query = select(Discrepancy).where(Discrepancy.id == discrepancy_id)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise DiscrepancyNotFound(f"discrepancy {discrepancy_id} not found / 差异 {discrepancy_id} 不存在")
    return found


def lock_many(session: Session, ids: Sequence[int]) -> list[Discrepancy]:
    """The discrepancies by id, locked in id order (deadlock-safe); `DiscrepancyNotFound` names any missing."""
    found = list(session.scalars(select(Discrepancy).where(Discrepancy.id.in_(ids)).order_by(Discrepancy.id)
                                 .with_for_update()))
    missing = sorted(set(ids) - {d.id for d in found})
    if missing:
        listed = ", ".join(map(str, missing))
        raise DiscrepancyNotFound(f"discrepancies not found: {listed} / 差异不存在：{listed}")
    return found


def events(session: Session, discrepancy_id: int) -> list[DiscrepancyEvent]:
    return list(session.scalars(select(DiscrepancyEvent).where(DiscrepancyEvent.discrepancy_id == discrepancy_id)
                                .order_by(DiscrepancyEvent.id)))


def order_lines(session: Session, order_id: int) -> list[tuple[StatementLine, LineResult]]:
    """The statement lines reconciliation tied to an order, oldest first."""
    rows = session.execute(select(StatementLine, LineResult).join(LineResult, LineResult.line_id == StatementLine.id)
                           .where(LineResult.order_id == order_id)
                           .order_by(StatementLine.occurred_at, StatementLine.id))
    return [(line, result) for line, result in rows]


def line_with_result(session: Session, line_id: int) -> tuple[StatementLine, LineResult | None] | None:
    row = session.execute(select(StatementLine, LineResult)
                          .outerjoin(LineResult, LineResult.line_id == StatementLine.id)
                          .where(StatementLine.id == line_id)).first()
    return (row[0], row[1]) if row else None


def adjustments(session: Session, order_id: int) -> list[ReceivableAdjustment]:
    return list(session.scalars(select(ReceivableAdjustment).where(ReceivableAdjustment.order_id == order_id)
                                .order_by(ReceivableAdjustment.id)))


# ------------------------------------------------------------------------------------------------
# Settlement batches
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOrderRow:
    """One order (or unmatched line group, order_id None) of one settlement batch, as the file states it."""

    channel: str
    batch_no: str
    order_id: int | None
    reference: str
    settled_on: date
    lines: int
    gross_fen: int
    deductions_fen: int
    received_fen: int
    has_payment: bool
    has_refund: bool


def batch_rows(session: Session, *, channel: str | None = None, batch_no: str | None = None,
               date_from: date | None = None, date_to: date | None = None) -> list[BatchOrderRow]:
    line = StatementLine
    conditions = [line.source == Source.SETTLEMENT.value]
    if channel:
        conditions.append(line.channel == channel)
    if batch_no is not None:
        conditions.append(line.batch_no == batch_no)
    if date_from is not None:
        conditions.append(line.business_date >= date_from)
    if date_to is not None:
        conditions.append(line.business_date <= date_to)
    payment = line.kind == LineKind.PAYMENT.value
    rows = session.execute(
        select(line.channel, line.batch_no, LineResult.order_id, func.min(line.reference), func.max(line.business_date),
               func.count(), func.sum(line.amount_fen), func.sum(line.fee_fen + line.commission_fen),
               func.sum(line.net_fen), func.max(case((payment, 1), else_=0)), func.max(case((payment, 0), else_=1)))
        .outerjoin(LineResult, LineResult.line_id == line.id)
        .where(*conditions)
        .group_by(line.channel, line.batch_no, LineResult.order_id)
    )
    return [BatchOrderRow(row[0], row[1], row[2], row[3], row[4], row[5], int(row[6]), int(row[7]), int(row[8]),
                          bool(row[9]), bool(row[10])) for row in rows]


def receivables_by_id(session: Session, order_ids: Sequence[int]) -> dict[int, Receivable]:
    if not order_ids:
        return {}
    found = session.scalars(select(Receivable).where(Receivable.order_id.in_(order_ids)))
    return {receivable.order_id: receivable for receivable in found}


# ------------------------------------------------------------------------------------------------
# The receivables report
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRow:
    day: date
    channel: str  # "" for payments that belong to no order
    orders: int
    paid_fen: int
    refunded_fen: int
    received_fen: int
    fee_fen: int
    cost_fen: int
    margin_fen: int

    @property
    def receivable_fen(self) -> int:
        return self.paid_fen - self.refunded_fen

    @property
    def outstanding_fen(self) -> int:
        return self.receivable_fen - self.received_fen


def report_rows(session: Session, *, date_from: date, date_to: date, channel: str | None = None) -> list[ReportRow]:
    """Per sales day and channel: what the orders owe (after refunds) against what statements show received."""
    r = Receivable
    conditions = [r.business_date >= date_from, r.business_date <= date_to]
    if channel:
        conditions.append(r.channel == channel)
    rows = [
        ReportRow(row[0], row[1], row[2], int(row[3]), int(row[4]), int(row[5]), int(row[6]), int(row[7]), int(row[8]))
        for row in session.execute(
            select(r.business_date, r.channel, func.count(), func.sum(r.paid_fen), func.sum(r.refunded_fen),
                   func.sum(r.received_fen - r.statement_refund_fen), func.sum(r.fee_fen), func.sum(r.cost_fen),
                   func.sum(r.margin_fen))
            .where(*conditions).group_by(r.business_date, r.channel)
        )
    ]
    if not channel:
        line = StatementLine
        unmatched = session.execute(
            select(line.business_date, func.sum(line.amount_fen), func.sum(line.fee_fen + line.commission_fen))
            .join(LineResult, LineResult.line_id == line.id)
            .where(LineResult.recon_class == ReconClass.PAYMENT_WITHOUT_ORDER.value,
                   line.business_date >= date_from, line.business_date <= date_to)
            .group_by(line.business_date)
        )
        rows += [ReportRow(day, "", 0, 0, 0, int(amount), int(fee), 0, 0) for day, amount, fee in unmatched]
    return sorted(rows, key=lambda row: (row.day, row.channel == "", row.channel))


def last_reconciled(session: Session) -> datetime | None:
    return session.scalar(select(func.max(Receivable.refreshed_at)))


def receivable(session: Session, order_id: int) -> Receivable | None:
    return session.get(Receivable, order_id)

