"""Parcel anomalies: the scan that opens and clears exception tickets, staff acting on them, the carrier scorecard.

The rules are data (anomalies.yaml, read by `anomaly_rules`); this module gathers each parcel's facts
(its waybill and events here, its order's ship time and receiver through the orders service) and
keeps the tickets in step with what the rules find. A ticket is unique per waybill and kind while
unresolved (a partial unique index), so scans racing on several workers open it once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, insert_ignoring_conflicts, one_of
from orderhub.core.outbox import OutboxEvent
from orderhub.core.pagination import Page
from orderhub.logistics.anomaly_rules import AnomalyKind, AnomalyRules, Finding, ParcelFacts, ScanFact, anomaly_rules
from orderhub.logistics.errors import BadMonth, ResolutionReasonRequired, TicketClosed, TicketNotFound
from orderhub.logistics.model import ExceptionTicket, ExceptionTicketEvent, TicketStatus, TrackingEvent, Waybill
from orderhub.logistics.service import deliver_order, linked_orders
from orderhub.logistics.states import FINAL, TrackingState
from orderhub.orders import service as orders
from orderhub.orders.status import TERMINAL, OrderStatus

SCAN_ACTOR = Actor("anomaly-scan", "worker")
SCAN_BATCH = 200
# Delivered and returned parcels are looked at this long after their last scan (a late
# out-for-delivery scan can still clear a suspicious sign-off); after that only if a ticket is open.
SETTLED_LOOKBACK = timedelta(days=14)
# A parcel's waybill is bound around its ship time; the scorecard looks this far around the month.
BINDING_SLACK = timedelta(days=31)


# ---------------------------------------------------------------------------------------------
# Gathering a parcel's facts
# ---------------------------------------------------------------------------------------------


def _parcel_facts(session: Session, waybills: Sequence[Waybill], *, live_only: bool) -> dict[int, ParcelFacts]:
    """Facts of each waybill whose order has shipped (and, `live_only`, is not cancelled or refunded)."""
    order_ids = {waybill.order_id for waybill in waybills}
    facts = orders.shipping_facts(session, order_ids)
    events: dict[int, list[ScanFact]] = defaultdict(list)
    query = (select(TrackingEvent).where(one_of(session, TrackingEvent.waybill_id, [w.id for w in waybills]))
             .order_by(TrackingEvent.occurred_at, TrackingEvent.id))
    for event in session.scalars(query):
        events[event.waybill_id].append(ScanFact(event.occurred_at, TrackingState(event.state), event.text,
                                                 event.location, event.raw_status))
    newest_of_order = dict(session.execute(
        select(Waybill.order_id, func.max(Waybill.id)).where(one_of(session, Waybill.order_id, list(order_ids)))
        .group_by(Waybill.order_id)).all())
    parcels: dict[int, ParcelFacts] = {}
    for waybill in waybills:
        order = facts.get(waybill.order_id)
        if order is None or order.shipped_at is None or (live_only and order.status in TERMINAL):
            continue
        parcels[waybill.id] = ParcelFacts(
            carrier=waybill.carrier_code, state=TrackingState(waybill.state), last_scan_at=waybill.state_at,
            shipped_at=order.shipped_at, receiver_province=order.receiver_province, cross_border=order.cross_border,
            has_later_waybill=newest_of_order.get(waybill.order_id, waybill.id) > waybill.id,
            events=events[waybill.id])
    return parcels


# ---------------------------------------------------------------------------------------------
# The scan
# ---------------------------------------------------------------------------------------------


@dataclass
class ScanReport:
    scanned: int = 0
    opened: int = 0
    resolved: int = 0
    delivered_orders: int = 0


def scan_batch(uow: UnitOfWork, *, after_id: int = 0, limit: int = SCAN_BATCH,
               rules: AnomalyRules | None = None) -> tuple[ScanReport, int | None]:
    """Scan the next `limit` waybills after `after_id`: open tickets for new findings, resolve cleared ones.

    Returns the report and the last waybill id scanned (None when nothing was left). Idempotent: a
    rerun opens nothing new. A ticket resolved by hand stays resolved while its condition lasts; the
    same condition beginning again later opens a new one.
    """
    rules = rules or anomaly_rules()
    with uow:
        session = uow.session
        now = uow.now()
        ticketed = select(ExceptionTicket.waybill_id).where(ExceptionTicket.status != TicketStatus.RESOLVED.value)
        waybills = session.scalars(
            select(Waybill).where(Waybill.id > after_id, or_(
                Waybill.state.not_in([state.value for state in FINAL]), Waybill.state_at >= now - SETTLED_LOOKBACK,
                Waybill.id.in_(ticketed))).order_by(Waybill.id).limit(limit)).all()
        if not waybills:
            return ScanReport(), None
        report = ScanReport(scanned=len(waybills))
        parcels = _parcel_facts(session, waybills, live_only=True)
        ids = [waybill.id for waybill in waybills]
        open_tickets: dict[tuple[int, str], ExceptionTicket] = {
            (t.waybill_id, t.kind): t for t in session.scalars(
                select(ExceptionTicket).where(one_of(session, ExceptionTicket.waybill_id, ids),
                                              ExceptionTicket.status != TicketStatus.RESOLVED.value)
                .order_by(ExceptionTicket.id).with_for_update())}
        last_resolved = {(waybill_id, kind): at for waybill_id, kind, at in session.execute(
            select(ExceptionTicket.waybill_id, ExceptionTicket.kind, func.max(ExceptionTicket.resolved_at))
            .where(one_of(session, ExceptionTicket.waybill_id, ids), ExceptionTicket.resolved_at.is_not(None))
            .group_by(ExceptionTicket.waybill_id, ExceptionTicket.kind))}
        findings: dict[int, set[str]] = {}
        for waybill in waybills:
            parcel = parcels.get(waybill.id)
            findings[waybill.id] = set()
            if parcel is None:  # its order not shipped yet, or cancelled or refunded: nothing to act on
                continue
            for finding in rules.findings(parcel, now):
                key = (waybill.id, finding.kind.value)
                findings[waybill.id].add(key[1])
                resolved_at = last_resolved.get(key)
                if key in open_tickets or (resolved_at is not None and resolved_at >= finding.since):
                    continue
                owner = rules.owner_of(finding.kind, carrier=waybill.carrier_code, province=parcel.receiver_province)
                report.opened += _open_ticket(session, waybill, finding, owner, now)
        for (waybill_id, kind), ticket in open_tickets.items():
            if kind not in findings[waybill_id]:
                _resolve(session, ticket, reason="条件已消除 / the condition cleared", actor=SCAN_ACTOR, now=now)
                report.resolved += 1
        # Orders whose last parcels were signed for in concurrent transactions: each saw the other undelivered.
        delivered = [w for w in waybills if w.state == TrackingState.DELIVERED.value]
        signed = {w.order_id: w.order_no for w in delivered} | linked_orders(session, [w.id for w in delivered])
        for order_id, status in orders.order_statuses(session, signed).items():
            if status is OrderStatus.SHIPPED and deliver_order(session, order_id=order_id, order_no=signed[order_id],
                                                               now=now):
                report.delivered_orders += 1
        uow.commit()
        return report, waybills[-1].id


def _open_ticket(session: Session, waybill: Waybill, finding: Finding, owner: str, now: datetime) -> bool:
    row = {"waybill_id": waybill.id, "order_id": waybill.order_id, "order_no": waybill.order_no,
           "carrier_code": waybill.carrier_code, "waybill_no": waybill.number, "kind": finding.kind.value,
           "status": TicketStatus.OPEN.value, "owner": owner, "detail": finding.detail[:500],
           "condition_since": finding.since, "opened_at": now, "acknowledged_by": None, "acknowledged_at": None,
           "resolved_by": None, "resolved_at": None, "resolution": ""}
    # A scan on another worker may have opened it a moment ago: the partial unique index keeps one.
    ticket_id = session.scalar(insert_ignoring_conflicts(session, ExceptionTicket.__table__)
                               .returning(ExceptionTicket.__table__.c.id), row)
    if ticket_id is None:
        return False
    session.add(ExceptionTicketEvent(ticket_id=ticket_id, at=now, actor=SCAN_ACTOR.name, source=SCAN_ACTOR.source,
                                     from_status=None, to_status=TicketStatus.OPEN.value, reason=finding.detail[:500]))
    session.add(_event("logistics.anomaly_opened", row | {"id": ticket_id}, now))
    return True


def _resolve(session: Session, ticket: ExceptionTicket, *, reason: str, actor: Actor, now: datetime) -> None:
    previous = ticket.status
    ticket.status, ticket.resolved_by, ticket.resolved_at, ticket.resolution = (
        TicketStatus.RESOLVED.value, actor.name, now, reason)
    session.add(ExceptionTicketEvent(ticket_id=ticket.id, at=now, actor=actor.name, source=actor.source,
                                     from_status=previous, to_status=ticket.status, reason=reason))
    session.add(_event("logistics.anomaly_resolved", _row(ticket), now))


def _row(ticket: ExceptionTicket) -> dict[str, Any]:
    return {"id": ticket.id, "order_no": ticket.order_no, "carrier_code": ticket.carrier_code,
            "waybill_no": ticket.waybill_no, "kind": ticket.kind, "status": ticket.status, "owner": ticket.owner,
            "resolved_by": ticket.resolved_by, "resolution": ticket.resolution}


def _event(topic: str, row: dict[str, Any], now: datetime) -> OutboxEvent:
    payload = {"ticket_id": row["id"], "order_no": row["order_no"], "carrier": row["carrier_code"],
               "waybill_no": row["waybill_no"], "kind": row["kind"], "status": row["status"], "owner": row["owner"]}
    if topic == "logistics.anomaly_resolved":
        payload |= {"resolved_by": row["resolved_by"], "resolution": row["resolution"]}
    return OutboxEvent(topic=topic, key=row["order_no"], created_at=now, payload=payload)


# ---------------------------------------------------------------------------------------------
# Staff acting on tickets
# ---------------------------------------------------------------------------------------------


def _locked(session: Session, ticket_id: int) -> ExceptionTicket:
    ticket = session.get(ExceptionTicket, ticket_id, with_for_update=True)
    if ticket is None:
        raise TicketNotFound(f"no exception ticket #{ticket_id} / 未找到异常工单 #{ticket_id}",
                             details=[{"ticket_id": ticket_id}])
    return ticket


def acknowledge_ticket(uow: UnitOfWork, *, ticket_id: int, actor: Actor, note: str = "") -> ExceptionTicket:
    """Someone takes the follow-up; the ticket stays unresolved until the condition clears or they resolve it."""
    with uow:
        session, now = uow.session, uow.now()
        ticket = _locked(session, ticket_id)
        if ticket.status != TicketStatus.OPEN.value:
            raise TicketClosed(f"ticket #{ticket_id} is {ticket.status}, not open / 工单不是待处理状态",
                               details=[{"ticket_id": ticket_id, "status": ticket.status}])
        ticket.status, ticket.acknowledged_by, ticket.acknowledged_at = TicketStatus.ACKNOWLEDGED.value, actor.name, now
        session.add(ExceptionTicketEvent(ticket_id=ticket.id, at=now, actor=actor.name, source=actor.source,
                                         from_status=TicketStatus.OPEN.value, to_status=ticket.status,
                                         reason=note.strip()[:500]))
        uow.commit()
        return ticket


def resolve_ticket(uow: UnitOfWork, *, ticket_id: int, reason: str, actor: Actor) -> ExceptionTicket:
    """Close a ticket by hand, saying why; it is not reopened while the same condition lasts."""
    reason = reason.strip()
    if not reason:
        raise ResolutionReasonRequired("say why the ticket is resolved / 请填写解决原因",
                                       details=[{"field": "reason", "rule": "reason.required",
                                                 "message": "required / 必填"}])
    with uow:
        session, now = uow.session, uow.now()
        ticket = _locked(session, ticket_id)
        if not ticket.open:
            raise TicketClosed(f"ticket #{ticket_id} is already resolved / 工单已解决",
                               details=[{"ticket_id": ticket_id, "status": ticket.status}])
        _resolve(session, ticket, reason=reason[:500], actor=actor, now=now)
        uow.commit()
        return ticket


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

# The board's default: everything not yet resolved.
UNRESOLVED = "unresolved"


@dataclass(frozen=True)
class TicketFilters:
    status: str = UNRESOLVED  # unresolved, or a TicketStatus value
    kind: AnomalyKind | None = None
    carrier: str | None = None
    owner: str | None = None


def list_tickets(session: Session, filters: TicketFilters, *, limit: int = 50,
                 before_id: int | None = None) -> Page[ExceptionTicket]:
    """Tickets newest first; `next_cursor` is the id to pass as `before_id` for the next page."""
    query = select(ExceptionTicket)
    if filters.status == UNRESOLVED:
        query = query.where(ExceptionTicket.status != TicketStatus.RESOLVED.value)
    else:
        query = query.where(ExceptionTicket.status == TicketStatus(filters.status).value)
    if filters.kind is not None:
        query = query.where(ExceptionTicket.kind == filters.kind.value)
    if filters.carrier:
        query = query.where(ExceptionTicket.carrier_code == filters.carrier)
    if filters.owner:
        query = query.where(ExceptionTicket.owner == filters.owner)
    if before_id is not None:
        query = query.where(ExceptionTicket.id < before_id)
    rows = list(session.scalars(query.order_by(ExceptionTicket.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    return Page(rows[:limit], str(rows[limit - 1].id) if more else None)


def get_ticket(session: Session, ticket_id: int) -> ExceptionTicket:
    ticket = session.get(ExceptionTicket, ticket_id)
    if ticket is None:
        raise TicketNotFound(f"no exception ticket #{ticket_id} / 未找到异常工单 #{ticket_id}",
                             details=[{"ticket_id": ticket_id}])
    return ticket


def ticket_trail(session: Session, ticket_id: int) -> list[ExceptionTicketEvent]:
    return list(session.scalars(select(ExceptionTicketEvent).where(ExceptionTicketEvent.ticket_id == ticket_id)
                                .order_by(ExceptionTicketEvent.id)))


# ---------------------------------------------------------------------------------------------
# Carrier scorecard
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarrierScore:
    carrier: str
    shipped: int
    delivered: int
    # Parcels whose delivery limit has passed or that were delivered: the delay rate's base.
    due: int
    delayed: int
    suspicious_signoffs: int

    @property
    def delay_rate(self) -> float | None:
        return self.delayed / self.due if self.due else None

    @property
    def signoff_trust(self) -> float | None:
        """Share of deliveries signed for without a suspicious sign-off."""
        return (self.delivered - self.suspicious_signoffs) / self.delivered if self.delivered else None


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """`YYYY-MM` as the UTC instants its first and the next month's first midnight fall on in `zone`."""
    try:
        if len(month) != 7 or month[4] != "-":
            raise ValueError
        first = date(int(month[:4]), int(month[5:]), 1)
    except ValueError:
        raise BadMonth(f"month must be YYYY-MM, not {month!r} / 月份格式应为 YYYY-MM",
                       details=[{"field": "month", "rule": "month.format", "message": month}]) from None
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (datetime.combine(first, time(), zone).astimezone(ZoneInfo("UTC")),
            datetime.combine(following, time(), zone).astimezone(ZoneInfo("UTC")))


def carrier_scorecard(session: Session, *, month: str, zone: ZoneInfo, now: datetime,
                      rules: AnomalyRules | None = None) -> list[CarrierScore]:
    """Per carrier, the parcels whose order shipped in `month` (business timezone): how many were
    delivered, how many missed the delivery limit of the receiver's region, how many sign-offs were
    suspicious. Judged by the same rules as the anomaly scan, from the tracking facts (not the tickets,
    which staff may resolve)."""
    rules = rules or anomaly_rules()
    start, end = month_bounds(month, zone)
    waybills = session.scalars(select(Waybill).where(
        Waybill.created_at >= start - BINDING_SLACK, Waybill.created_at < end + BINDING_SLACK,
        Waybill.carrier_code != "").order_by(Waybill.id)).all()
    parcels = _parcel_facts(session, waybills, live_only=False) if waybills else {}
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for waybill in waybills:
        parcel = parcels.get(waybill.id)
        if parcel is None or not start <= parcel.shipped_at < end:
            continue
        counts = tally[waybill.carrier_code]
        counts[0] += 1
        delivered = parcel.state is TrackingState.DELIVERED
        deadline = parcel.shipped_at + rules.limit("not_delivered", parcel.receiver_province)
        counts[1] += delivered
        counts[2] += delivered or now > deadline
        counts[3] += rules.late(parcel, now)
        counts[4] += delivered and rules.suspicious_signoff(parcel) is not None
    return [CarrierScore(carrier, *counts) for carrier, counts in sorted(tally.items())]
