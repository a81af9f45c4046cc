"""Finance use cases: reconcile, the discrepancy pool (assign, resolve, escalate), reversals, settlements, reports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from orderhub.aftersales import service as aftersales
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork
from orderhub.core.errors import StaleVersion
from orderhub.core.money import fen_to_yuan
from orderhub.core.outbox import add_event
from orderhub.core.pagination import Page
from orderhub.finance import engine, repository
from orderhub.finance.engine import Progress, RunReport, Scope
from orderhub.finance.errors import (
    DiscrepancyClosed,
    InvalidSelection,
    ResolutionReasonRequired,
    SettlementBatchNotFound,
    UnknownOwner,
)
from orderhub.finance.model import (
    UNRESOLVED,
    Discrepancy,
    DiscrepancyEvent,
    DiscrepancyStatus,
    LineResult,
    Receivable,
    ReceivableAdjustment,
    StatementLine,
)
from orderhub.finance.repository import BatchOrderRow, DiscrepancyFilters, ReportRow
from orderhub.finance.rules import FinanceRules, apply_rate, load_rules, ppm
from orderhub.orders import service as orders
from orderhub.orders.model import Order
from orderhub.runtime import Runtime

SYSTEM_ACTOR = Actor("reconciliation", "worker")
ESCALATED_TOPIC = "finance.discrepancy_escalated"
MAX_BULK = 200
_USERNAME = re.compile(r"^[\w.@-]{1,64}$")
_REFUND_STATUSES = ("refunding", "refunded", "cancelled")


def rules_of(runtime: Runtime) -> FinanceRules:
    return load_rules(runtime.settings.finance_rules_file)


# ------------------------------------------------------------------------------------------------
# Reconciliation
# ------------------------------------------------------------------------------------------------


def reconcile(runtime: Runtime, *, scope: Scope, actor: Actor, progress: Progress | None = None) -> RunReport:
    """One reconciliation of `scope` in one transaction; a rerun replaces the results of the same lines and orders."""
    with runtime.uow() as uow:
        report = engine.reconcile_in(uow.session, scope=scope, rules=rules_of(runtime), zone=runtime.settings.zone,
                                     now=uow.now(), actor=actor.name, progress=progress)
        uow.commit()
    return report


def recent_days(runtime: Runtime) -> Scope:
    """The daily job's scope: the last `lookback_days` business days before today."""
    today = runtime.clock.now().astimezone(runtime.settings.zone).date()
    days = rules_of(runtime).lookback_days
    return Scope.days(today - timedelta(days=days), today - timedelta(days=1))


# ------------------------------------------------------------------------------------------------
# Reversals: refunds after the sale
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reversal:
    order_no: str
    refunded_delta_fen: int
    margin_delta_fen: int


def apply_refunds(runtime: Runtime, *, actor: Actor = SYSTEM_ACTOR, limit: int = 500) -> list[Reversal]:
    """Orders whose refund state changed since finance last saw them: receivable and margin recomputed,
    each change kept as an adjustment dated by the order's timeline, and the order reconciled again."""
    with runtime.reading() as session:
        order_ids = _refund_changes(session, limit)
    if not order_ids:
        return []
    zone = runtime.settings.zone
    with runtime.uow() as uow:
        session = uow.session
        before = {r.order_id: (r.refunded_fen, r.margin_fen) for r in
                  session.scalars(select(Receivable).where(Receivable.order_id.in_(order_ids)))}
        engine.reconcile_in(session, scope=Scope.orders(order_ids), rules=rules_of(runtime), zone=zone,
                            now=uow.now(), actor=actor.name)
        session.expire_all()
        reversals = []
        for receivable in session.scalars(select(Receivable).where(Receivable.order_id.in_(order_ids))):
            refunded, margin = before.get(receivable.order_id, (0, receivable.margin_fen))
            if receivable.refunded_fen == refunded and receivable.margin_fen == margin:
                continue
            if receivable.order_status in _REFUND_STATUSES:
                at, reason = _refund_moment(session, receivable.order_no, receivable.order_status, uow.now())
            else:
                at, reason = uow.now(), "售后退款（订单未整单退款）"
            key = f"{receivable.order_status}:{receivable.refunded_fen}"
            exists = session.scalar(select(ReceivableAdjustment.id).where(
                ReceivableAdjustment.order_id == receivable.order_id, ReceivableAdjustment.source_key == key))
            if exists is not None:
                continue
            session.add(ReceivableAdjustment(
                order_id=receivable.order_id, order_no=receivable.order_no, channel=receivable.channel,
                source_key=key, at=at, business_date=at.astimezone(zone).date(),
                order_status=receivable.order_status, reason=reason[:500],
                refunded_delta_fen=receivable.refunded_fen - refunded, margin_delta_fen=receivable.margin_fen - margin,
                refunded_after_fen=receivable.refunded_fen, margin_after_fen=receivable.margin_fen,
            ))
            reversals.append(Reversal(receivable.order_no, receivable.refunded_fen - refunded,
                                      receivable.margin_fen - margin))
        uow.commit()
    return reversals


def _refund_changes(session: Session, limit: int) -> list[int]:
    """Orders now in a refund state finance has not seen, or finance saw in one they have left, or whose
    money given back through after-sales is not what finance counted.

    Each half starts from the few orders or receivables in a refund state (the status index), not
    from a join of every order with every receivable.
    """
    entered = (select(Receivable.order_id).join(Order, Order.id == Receivable.order_id)
               .where(Order.status.in_(_REFUND_STATUSES), Order.status != Receivable.order_status))
    left = (select(Receivable.order_id).join(Order, Order.id == Receivable.order_id)
            .where(Receivable.order_status.in_(_REFUND_STATUSES), Order.status != Receivable.order_status))
    found = entered.union(left).subquery()
    changed = set(session.scalars(select(found.c.order_id).order_by(found.c.order_id).limit(limit)))
    # Refunds given through after-sales, which leave a shipped order shipped: their amount is the change.
    given = aftersales.refunded_fen(session)
    if given:
        seen = dict(session.execute(select(Receivable.order_id, Receivable.refunded_fen)
                                    .where(Receivable.order_id.in_(list(given)))).all())
        changed |= {order_id for order_id, fen in given.items() if order_id in seen and seen[order_id] != fen}
    return sorted(changed)[:limit]


def _refund_moment(session: Session, order_no: str, status: str, now: datetime) -> tuple[datetime, str]:
    """When and why the order entered its current status, from its timeline."""
    for event in reversed(orders.order_timeline(session, order_no)):
        if event.to_status == status:
            return event.at, event.reason
    return now, ""


# ------------------------------------------------------------------------------------------------
# The discrepancy pool
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscrepancyView:
    discrepancy: Discrepancy
    events: list[DiscrepancyEvent]
    receivable: Receivable | None
    lines: list[tuple[StatementLine, LineResult | None]]
    adjustments: list[ReceivableAdjustment]


@dataclass(frozen=True)
class BulkOutcome:
    changed: list[Discrepancy]
    skipped: list[int]  # already resolved or cleared


def list_discrepancies(session: Session, filters: DiscrepancyFilters, *, limit: int = 50, cursor: str | None = None
                       ) -> Page[Discrepancy]:
    return repository.list_page(session, filters, limit=limit, cursor=cursor)


def discrepancy_counts(session: Session, filters: DiscrepancyFilters) -> dict[str, int]:
    return repository.status_counts(session, filters)


def get_discrepancy(session: Session, discrepancy_id: int) -> DiscrepancyView:
    found = repository.get(session, discrepancy_id)
    lines: list[tuple[StatementLine, LineResult | None]] = []
    receivable = None
    adjustments: list[ReceivableAdjustment] = []
    if found.order_id is not None:
        receivable = repository.receivable(session, found.order_id)
        lines = list(repository.order_lines(session, found.order_id))
        adjustments = repository.adjustments(session, found.order_id)
    elif found.line_id is not None:
        line = repository.line_with_result(session, found.line_id)
        lines = [line] if line else []
    return DiscrepancyView(found, repository.events(session, discrepancy_id), receivable, lines, adjustments)


def _checked_ids(ids: list[int]) -> list[int]:
    unique = sorted(set(ids))
    if not unique:
        raise InvalidSelection("select at least one discrepancy / 请先选择差异")
    if len(unique) > MAX_BULK:
        raise InvalidSelection(f"at most {MAX_BULK} discrepancies at once / 一次最多 {MAX_BULK} 条")
    return unique


def _commit(uow: UnitOfWork) -> None:
    try:
        uow.commit()
    except StaleDataError:
        raise StaleVersion("someone changed these discrepancies at the same time; reload / 差异已被他人修改，请刷新"
                           ) from None


def assign_discrepancies(uow: UnitOfWork, *, ids: list[int], owner: str, actor: Actor, reason: str = ""
                         ) -> BulkOutcome:
    """Give unresolved discrepancies to `owner` (a username); resolved and cleared ones are skipped."""
    owner = owner.strip()
    if not _USERNAME.match(owner):
        raise UnknownOwner(f"{owner!r} is not a username / 负责人应为用户名",
                           details=[{"field": "owner", "rule": "username", "message": "a username"}])
    with uow:
        changed, skipped = [], []
        at = uow.now()
        for found in repository.lock_many(uow.session, _checked_ids(ids)):
            if found.status not in UNRESOLVED:
                skipped.append(found.id)
                continue
            if found.owner == owner:
                continue
            uow.session.add(DiscrepancyEvent(discrepancy_id=found.id, at=at, actor=actor.name, source=actor.source,
                                             action="assigned", from_owner=found.owner, to_owner=owner,
                                             reason=reason.strip()[:500]))
            found.owner = owner
            found.updated_at = at
            changed.append(found)
        _commit(uow)
        return BulkOutcome(changed, skipped)


def resolve_discrepancies(uow: UnitOfWork, *, ids: list[int], reason: str, actor: Actor) -> BulkOutcome:
    """Close unresolved discrepancies with the reason a person gives; the audit trail keeps who and when."""
    reason = reason.strip()
    if not reason:
        raise ResolutionReasonRequired(
            "resolving needs a reason / 处理差异必须填写原因",
            details=[{"field": "reason", "rule": "required", "message": "a reason is required"}])
    with uow:
        changed, skipped = [], []
        at = uow.now()
        for found in repository.lock_many(uow.session, _checked_ids(ids)):
            if found.status not in UNRESOLVED:
                skipped.append(found.id)
                continue
            found.status = DiscrepancyStatus.RESOLVED.value
            found.resolved_at, found.resolved_by, found.resolution = at, actor.name, reason[:500]
            found.updated_at = at
            uow.session.add(DiscrepancyEvent(discrepancy_id=found.id, at=at, actor=actor.name, source=actor.source,
                                             action="resolved", from_owner=found.owner, reason=reason[:500]))
            changed.append(found)
        _commit(uow)
        return BulkOutcome(changed, skipped)


def resolve_one(uow: UnitOfWork, *, discrepancy_id: int, reason: str, actor: Actor) -> Discrepancy:
    outcome = resolve_discrepancies(uow, ids=[discrepancy_id], reason=reason, actor=actor)
    if outcome.skipped:
        raise DiscrepancyClosed(f"discrepancy {discrepancy_id} is already closed / 差异 {discrepancy_id} 已关闭")
    return outcome.changed[0]


def escalate_overdue(uow: UnitOfWork, *, actor: Actor = SYSTEM_ACTOR, limit: int = 1000) -> int:
    """Open discrepancies past their due time go to their supervisor, with an outbox event each."""
    with uow:
        at = uow.now()
        due = list(uow.session.scalars(
            select(Discrepancy).where(Discrepancy.status == DiscrepancyStatus.OPEN.value, Discrepancy.due_at <= at)
            .order_by(Discrepancy.id).limit(limit).with_for_update(skip_locked=True)))
        for found in due:
            uow.session.add(DiscrepancyEvent(
                discrepancy_id=found.id, at=at, actor=actor.name, source=actor.source, action="escalated",
                from_owner=found.owner, to_owner=found.supervisor,
                reason=f"overdue since {found.due_at.isoformat()} / 已超时"))
            add_event(uow.session, topic=ESCALATED_TOPIC, key=str(found.id), at=at, payload={
                "id": found.id, "class": found.recon_class, "order_no": found.order_no, "reference": found.reference,
                "channel": found.channel, "owner": found.owner, "supervisor": found.supervisor,
                "due_at": found.due_at.isoformat(), "expected": fen_to_yuan(found.expected_fen),
                "actual": fen_to_yuan(found.actual_fen),
            })
            found.status = DiscrepancyStatus.ESCALATED.value
            found.escalated_at = at
            found.owner = found.supervisor
            found.updated_at = at
        _commit(uow)
        return len(due)


def raise_overdue_orders(runtime: Runtime, *, actor: Actor = SYSTEM_ACTOR) -> int:
    """Orders still unpaid after their channel's settlement window become discrepancies."""
    with runtime.uow() as uow:
        created = engine.raise_overdue(uow.session, rules_of(runtime), uow.now(), actor.name)
        uow.commit()
    return created


# ------------------------------------------------------------------------------------------------
# Settlements: expected vs received per platform batch
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOrder:
    order_id: int | None
    order_no: str
    reference: str
    lines: int
    gross_fen: int
    deductions_fen: int
    received_fen: int
    expected_fen: int

    @property
    def difference_fen(self) -> int:
        return self.received_fen - self.expected_fen


@dataclass(frozen=True)
class Batch:
    channel: str
    batch_no: str
    settled_on: date
    orders: int
    lines: int
    gross_fen: int
    deductions_fen: int
    received_fen: int
    expected_fen: int
    flagged: bool

    @property
    def difference_fen(self) -> int:
        return self.received_fen - self.expected_fen

    @property
    def deviation(self) -> Decimal | None:
        """(received − expected) / expected; None when nothing is expected."""
        if self.expected_fen == 0:
            return None
        return Decimal(self.difference_fen) / Decimal(abs(self.expected_fen))


@dataclass(frozen=True)
class BatchDetail:
    batch: Batch
    orders: list[BatchOrder]


def _expected(row: BatchOrderRow, receivable: Receivable | None, rules: FinanceRules) -> int:
    """What OrderHub says this order should bring in this batch, after the platform's agreed deductions."""
    if receivable is None:
        return 0
    gross = (receivable.paid_fen if row.has_payment else 0) - (receivable.refunded_fen if row.has_refund else 0)
    rates = next((r for channel, r in rules.platform_rates.items() if channel.value == row.channel), None)
    deductions = apply_rate(gross, ppm(rates.commission) + ppm(rates.fee)) if rates else row.deductions_fen
    return gross - deductions


def _batches(rows: list[BatchOrderRow], receivables: dict[int, Receivable], rules: FinanceRules,
             tolerance: Decimal) -> dict[tuple[str, str], tuple[Batch, list[BatchOrder]]]:
    grouped: dict[tuple[str, str], list[BatchOrder]] = {}
    settled: dict[tuple[str, str], date] = {}
    for row in rows:
        receivable = receivables.get(row.order_id) if row.order_id is not None else None
        key = (row.channel, row.batch_no)
        grouped.setdefault(key, []).append(BatchOrder(
            row.order_id, receivable.order_no if receivable else "", row.reference, row.lines, row.gross_fen,
            row.deductions_fen, row.received_fen, _expected(row, receivable, rules)))
        settled[key] = max(settled.get(key, row.settled_on), row.settled_on)
    out = {}
    for key, members in grouped.items():
        expected = sum(member.expected_fen for member in members)
        received = sum(member.received_fen for member in members)
        limit = abs(Decimal(expected)) * tolerance
        flagged = abs(received - expected) > limit if expected else received != 0
        members.sort(key=lambda member: (-abs(member.difference_fen), member.reference))
        out[key] = (Batch(key[0], key[1], settled[key], sum(1 for m in members if m.order_id is not None),
                          sum(m.lines for m in members), sum(m.gross_fen for m in members),
                          sum(m.deductions_fen for m in members), received, expected, flagged), members)
    return out


def settlement_batches(session: Session, *, rules: FinanceRules, tolerance: Decimal, channel: str | None = None,
                       date_from: date | None = None, date_to: date | None = None, flagged_only: bool = False
                       ) -> list[Batch]:
    rows = repository.batch_rows(session, channel=channel, date_from=date_from, date_to=date_to)
    receivables = repository.receivables_by_id(session, sorted({r.order_id for r in rows if r.order_id is not None}))
    batches = [batch for batch, _ in _batches(rows, receivables, rules, tolerance).values()]
    if flagged_only:
        batches = [batch for batch in batches if batch.flagged]
    return sorted(batches, key=lambda batch: (batch.settled_on, batch.channel, batch.batch_no), reverse=True)


def settlement_batch(session: Session, *, channel: str, batch_no: str, rules: FinanceRules, tolerance: Decimal
                     ) -> BatchDetail:
    rows = repository.batch_rows(session, channel=channel, batch_no=batch_no)
    if not rows:
        raise SettlementBatchNotFound(f"no settlement batch {batch_no} of {channel} / 没有结算批次 {batch_no}")
    receivables = repository.receivables_by_id(session, sorted({r.order_id for r in rows if r.order_id is not None}))
    batch, members = _batches(rows, receivables, rules, tolerance)[(channel, batch_no)]
    return BatchDetail(batch, members)


# ------------------------------------------------------------------------------------------------
# Reports
# ------------------------------------------------------------------------------------------------


def receivables_report(session: Session, *, date_from: date, date_to: date, channel: str | None = None
                       ) -> list[ReportRow]:
    return repository.report_rows(session, date_from=date_from, date_to=date_to, channel=channel)


def report_totals(rows: list[ReportRow]) -> dict[str, Any]:
    keys = ("orders", "paid_fen", "refunded_fen", "received_fen", "fee_fen", "cost_fen", "margin_fen")
    totals: dict[str, Any] = {key: sum(getattr(row, key) for row in rows) for key in keys}
    totals["receivable_fen"] = totals["paid_fen"] - totals["refunded_fen"]
    totals["outstanding_fen"] = totals["receivable_fen"] - totals["received_fen"]
    return totals


def export_discrepancies(session: Session, filters: DiscrepancyFilters, *, limit: int = 50_000) -> list[Discrepancy]:
    return repository.all_matching(session, filters, limit=limit)


def owners(session: Session) -> list[str]:
    return repository.owners(session)

