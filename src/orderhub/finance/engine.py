"""Reconciliation as set-based SQL: scope, exact matches, classes, results and the discrepancy pool.

One run takes a scope (business days, everything, or a set of orders) and, in one transaction:

1. gathers the paid orders and statement lines of the scope into temporary tables, and closes the
   set over references and earlier matches (a line of today for an order of yesterday pulls that
   order in, and with it its other lines), so every line and order touched ends in one class;
2. matches exactly in SQL: a line's reference equal to an order number, the payment number the
   channel's payload keeps, or the platform order id (in that order of preference; a reference
   that fits two orders is left to the next passes, which say so);
3. hands what is left — a few per cent — to the Python passes in `matching.py`;
4. classifies every order and line in SQL and writes the results (`receivable`, `recon_line`):
   a rerun replaces the previous results of the same lines and orders, never adds to them, and
   rewrites only the rows whose result changed;
5. brings the discrepancy pool in line: new problems are created and assigned by rule, problems
   that went away are cleared, resolved ones stay resolved.

Refunds, until after-sales requests exist: OrderHub's own refunded amount of an order is what its
channel's payload states (`refund_amounts` in the rules, e.g. a mini-program's `refund.amount`),
else the whole paid amount once the order is `refunded` or `cancelled` after payment, else
nothing (a `refunding` order has not given money back yet). The margin keeps the goods' cost on a
partial refund (money back, goods kept) and drops it on a full one (goods back or never sent).

The orders domain offers no set-based read of paid orders, so this module is the one place finance
reads `sales_order` and `order_line` directly — read-only, never written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Date,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from orderhub.aftersales import service as aftersales
from orderhub.catalog import service as catalog
from orderhub.channels.mapping import dig
from orderhub.core.db import JsonDoc, UTCDateTime, add_rows, insert_new_rows
from orderhub.finance.matching import Match, OpenLine, OpenOrder, match_leftovers
from orderhub.finance.model import (
    UNRESOLVED,
    Discrepancy,
    DiscrepancyEvent,
    DiscrepancyStatus,
    LineKind,
    LineResult,
    Method,
    Receivable,
    ReconClass,
    ReconRun,
    Source,
    StatementLine,
)
from orderhub.finance.rules import FinanceRules, ppm
from orderhub.orders.model import Order, OrderLine

C = ReconClass
Query = Select[*tuple[Any, ...]]
_LOCK_KEY = 0x0F1A_4CE0  # pg_advisory_xact_lock: one reconciliation at a time
_UNPAID = "pending_payment"
# Statuses in which OrderHub itself holds the money as given back in full (without channel refund data).
_REFUNDED_IN_FULL = ("refunded", "cancelled")
_REFUND_STATUSES = ("refunding", "refunded", "cancelled")

# Results of more rows than this are followed by fresh planner statistics (PostgreSQL).
_ANALYSE_AFTER = 20_000
Progress = Callable[[str, int], None]  # (stage description, stage number)
STAGES = 6


@dataclass(frozen=True)
class Scope:
    """What a run covers: business days (inclusive), everything, or given orders (refunds)."""

    label: str
    date_from: date | None = None
    date_to: date | None = None
    order_ids: frozenset[int] | None = None

    @classmethod
    def days(cls, first: date, last: date | None = None) -> Scope:
        last = last or first
        label = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
        return cls(label, first, last)

    @classmethod
    def everything(cls) -> Scope:
        return cls("all")

    @classmethod
    def orders(cls, order_ids: Iterable[int]) -> Scope:
        ids = frozenset(order_ids)
        return cls(f"orders:{len(ids)}", order_ids=ids)


@dataclass
class RunReport:
    run_id: int
    scope: str
    lines: int = 0
    orders: int = 0
    line_classes: dict[str, int] = field(default_factory=dict)
    order_classes: dict[str, int] = field(default_factory=dict)
    leftover_lines: int = 0
    leftover_orders: int = 0
    python_matches: int = 0
    discrepancies_created: int = 0
    discrepancies_cleared: int = 0
    discrepancies_reopened: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# Temporary tables (dropped at the end of the run; on PostgreSQL they never touch the WAL)
# ------------------------------------------------------------------------------------------------

_TMP = MetaData()
t_order = Table(
    "finance_tmp_order", _TMP,
    Column("order_id", BigInteger),
    Column("order_no", String(32)), Column("channel", String(16)), Column("shop_id", BigInteger),
    Column("channel_order_id", String(64)), Column("payment_ref", String(64)), Column("province", String(32)),
    Column("customer_name", String(100)), Column("status", String(20)), Column("paid_fen", BigInteger),
    Column("paid_at", UTCDateTime()), Column("business_date", Date), Column("refunded_fen", BigInteger),
    # The payload may state a refund (read in Python afterwards, for these orders only).
    Column("refund_hint", Integer),
    prefixes=["TEMPORARY"],
)
t_refund = Table("finance_tmp_refund", _TMP, Column("order_id", BigInteger), Column("refunded_fen", BigInteger),
                 prefixes=["TEMPORARY"])
t_line = Table(
    "finance_tmp_line", _TMP,
    Column("line_id", BigInteger),
    Column("kind", String(8)), Column("reference", String(64)), Column("channel", String(16)),
    Column("amount_fen", BigInteger), Column("fee_fen", BigInteger), Column("occurred_at", UTCDateTime()),
    # Fee plus commission the agreed rates give for this line; NULL where no rate is known.
    Column("fee_expected", BigInteger),
    prefixes=["TEMPORARY"],
)
t_match = Table(
    "finance_tmp_match", _TMP,
    Column("line_id", BigInteger),
    Column("order_id", BigInteger), Column("method", String(24)), Column("candidates", Integer),
    Column("detail", JsonDoc),
    prefixes=["TEMPORARY"],
)
t_agg = Table(
    "finance_tmp_agg", _TMP,
    Column("order_id", BigInteger),
    Column("received", BigInteger), Column("refunded", BigInteger), Column("fee", BigInteger),
    Column("fee_expected", BigInteger), Column("payments", Integer), Column("fee_off", Integer),
    Column("method", String(24)), Column("klass", String(24)),
    prefixes=["TEMPORARY"],
)
t_cost = Table(
    "finance_tmp_cost", _TMP,
    Column("order_id", BigInteger),
    Column("cost_fen", BigInteger), Column("complete", Integer),
    prefixes=["TEMPORARY"],
)
t_sku = Table(
    "finance_tmp_sku", _TMP,
    Column("sku", String(64)), Column("cost_fen", BigInteger),
    prefixes=["TEMPORARY"],
)
t_disc = Table(
    "finance_tmp_disc", _TMP,
    Column("subject", String(40)), Column("recon_class", String(24)),
    Column("order_id", BigInteger), Column("line_id", BigInteger), Column("order_no", String(32)),
    Column("reference", String(64)), Column("channel", String(16)), Column("province", String(32)),
    Column("business_date", Date), Column("expected_fen", BigInteger), Column("actual_fen", BigInteger),
    prefixes=["TEMPORARY"],
)
# Payment lines that repeat an earlier payment of the same order (rare: ranked apart, not over every line).
t_dup = Table("finance_tmp_dup", _TMP, Column("line_id", BigInteger), prefixes=["TEMPORARY"])
_TEMP_TABLES = (t_order, t_line, t_match, t_agg, t_cost, t_sku, t_disc, t_dup, t_refund)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _create_temp_tables(session: Session) -> None:
    """Without keys or indexes: every join of a run is a hash join over whole tables."""
    connection = session.connection()
    for table in _TEMP_TABLES:
        connection.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
        table.create(connection)


def _drop_temp_tables(session: Session) -> None:
    for table in reversed(_TEMP_TABLES):
        session.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


def _analyse(session: Session, *tables: Table) -> None:
    """Temporary tables get no autovacuum statistics: without them PostgreSQL plans joins blind."""
    for table in tables:
        session.execute(text(f"ANALYZE {table.name}"))


# ------------------------------------------------------------------------------------------------
# Business days in SQL
# ------------------------------------------------------------------------------------------------


def _register_local_date(session: Session, zone: ZoneInfo) -> None:
    """SQLite has no time zones: the business day of a stored UTC time comes from Python's zoneinfo."""
    def local_date(value: str | None) -> str | None:
        if value is None:
            return None
        return datetime.fromisoformat(value).replace(tzinfo=UTC).astimezone(zone).date().isoformat()

    raw = session.connection().connection.driver_connection
    assert raw is not None
    raw.create_function("finance_local_date", 1, local_date, deterministic=True)


def _local_date(session: Session, column: Any, zone: ZoneInfo) -> ColumnElement[Any]:
    if _is_pg(session):
        return cast(func.timezone(zone.key, column), Date)
    return func.finance_local_date(column)


def day_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants of the start of `first` and the end of `last` in the business timezone."""
    start = datetime.combine(first, clock_time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), clock_time(), zone).astimezone(UTC)
    return start, end


# ------------------------------------------------------------------------------------------------
# 1. Scope and closure
# ------------------------------------------------------------------------------------------------


def _payment_ref(rules: FinanceRules) -> ColumnElement[Any]:
    """The payment number each channel's payload keeps (first non-empty of its paths), else ''."""
    whens = []
    for channel, paths in rules.payment_refs.items():
        extracted = [Order.raw_payload[tuple(path.split("."))].as_string() for path in paths]
        whens.append((Order.channel == channel.value, func.substr(func.coalesce(*extracted, ""), 1, 64)))
    return case(*whens, else_="") if whens else literal("")


def _refund_hint(rules: FinanceRules) -> ColumnElement[Any]:
    """1 where the channel keeps refund data and the order is in a refund state or its payload has some."""
    whens = []
    for channel, spec in rules.refund_amounts.items():
        stated = Order.raw_payload[(spec.path.split(".")[0],)].as_string().is_not(None)
        whens.append((and_(Order.channel == channel.value, or_(Order.status.in_(_REFUND_STATUSES), stated)), 1))
    return case(*whens, else_=0) if whens else literal(0)


def _order_rows(session: Session, rules: FinanceRules, zone: ZoneInfo) -> Query:
    return select(
        Order.id, Order.order_no, Order.channel, Order.shop_id, Order.channel_order_id, _payment_ref(rules),
        Order.receiver_province, Order.customer_name, Order.status, Order.paid_amount_fen, Order.paid_at,
        _local_date(session, Order.paid_at, zone),
        case((Order.status.in_(_REFUNDED_IN_FULL), Order.paid_amount_fen), else_=0), _refund_hint(rules),
    ).where(Order.paid_at.is_not(None), Order.status != _UNPAID)


def _add_orders(session: Session, query: Query) -> None:
    columns = [column.name for column in t_order.columns]
    session.execute(insert(t_order).from_select(columns, query))


def _line_rows(rules: FinanceRules) -> Query:
    line = StatementLine
    agreed = [(line.source == source.value, literal(ppm(rate))) for source, rate in rules.fee_rates.items()]
    agreed += [(and_(line.source == Source.SETTLEMENT.value, line.channel == channel.value),
                literal(ppm(rates.commission) + ppm(rates.fee))) for channel, rates in rules.platform_rates.items()]
    # A settlement line states commission and fee apart; the file's own rate (WeChat's 费率) wins.
    rate = case((line.fee_rate_ppm.is_not(None), line.fee_rate_ppm), *agreed, else_=null())
    expected = case(
        (and_(line.kind == LineKind.PAYMENT.value, rate.is_not(None)), (func.abs(line.amount_fen) * rate + 500_000)
         // 1_000_000),
        else_=null(),
    )
    return select(line.id, line.kind, line.reference, line.channel, line.amount_fen,
                  line.fee_fen + line.commission_fen, line.occurred_at, expected)


def _add_lines(session: Session, query: Query) -> None:
    columns = [column.name for column in t_line.columns]
    session.execute(insert(t_line).from_select(columns, query))


def _gather(session: Session, scope: Scope, rules: FinanceRules, zone: ZoneInfo) -> None:
    orders = _order_rows(session, rules, zone)
    lines = _line_rows(rules)
    if scope.order_ids is not None:
        _add_orders(session, orders.where(Order.id.in_(scope.order_ids)))
    elif scope.date_from is not None and scope.date_to is not None:
        start, end = day_bounds(scope.date_from, scope.date_to, zone)
        _add_orders(session, orders.where(Order.paid_at >= start, Order.paid_at < end))
        _add_lines(session, lines.where(StatementLine.business_date.between(scope.date_from, scope.date_to)))
    else:
        _add_orders(session, orders)
        _add_lines(session, lines)
        return
    _close_over_references(session, orders, lines)


def _close_over_references(session: Session, orders: Query, lines: Query) -> None:
    """Pull in the orders the scope's lines refer to (or were matched to), then every line of those orders.

    One statement per way in, so each can use its own index (an OR of them scans whole tables).
    """
    references = select(t_line.c.reference).where(t_line.c.reference != "")
    for found in (
        Order.order_no.in_(references),
        Order.channel_order_id.in_(references),
        Order.id.in_(select(Receivable.order_id).where(Receivable.payment_ref.in_(references))),
        Order.id.in_(select(LineResult.order_id).where(LineResult.line_id.in_(select(t_line.c.line_id)))),
    ):
        _add_orders(session, orders.where(found, Order.id.not_in(select(t_order.c.order_id))))
    payment_refs = select(t_order.c.payment_ref).where(t_order.c.payment_ref != "")
    refs = select(t_order.c.order_no).union(select(t_order.c.channel_order_id), payment_refs)
    for found in (
        StatementLine.reference.in_(refs),
        StatementLine.id.in_(select(LineResult.line_id).where(LineResult.order_id.in_(select(t_order.c.order_id)))),
    ):
        _add_lines(session, lines.where(found, StatementLine.id.not_in(select(t_line.c.line_id))))


# ------------------------------------------------------------------------------------------------
# 2. The exact pass
# ------------------------------------------------------------------------------------------------


def _exact(session: Session) -> None:
    """One join per kind of reference, in order of preference, each over the lines still unmatched."""
    line, order = t_line, t_order
    ways = (
        (Method.ORDER_NO, order.c.order_no == line.c.reference),
        (Method.PAYMENT_REF, and_(order.c.payment_ref == line.c.reference, order.c.payment_ref != "")),
        (Method.CHANNEL_ORDER_ID, and_(order.c.channel_order_id == line.c.reference,
                                       or_(line.c.channel == "", line.c.channel == order.c.channel))),
    )
    for method, joined in ways:
        first, last = func.min(order.c.order_id), func.max(order.c.order_id)
        chosen = (
            # candidates 2: the reference fits several orders (a count of distinct orders would sort)
            select(line.c.line_id, first, literal(method.value), case((first == last, 1), else_=2), null())
            .join(order, joined)
            .where(line.c.reference != "", ~exists().where(t_match.c.line_id == line.c.line_id))
            .group_by(line.c.line_id)
        )
        session.execute(insert(t_match).from_select(["line_id", "order_id", "method", "candidates", "detail"],
                                                    chosen))
        if _is_pg(session):
            _analyse(session, t_match)
    # A reference that fits several orders is not an exact match: the line goes on to the next passes.
    session.execute(update(t_match).where(t_match.c.candidates > 1).values(order_id=None, method=Method.NONE.value))


# ------------------------------------------------------------------------------------------------
# 3. The Python passes over what is left
# ------------------------------------------------------------------------------------------------


def _leftovers(session: Session, rules: FinanceRules) -> tuple[int, int, int]:
    """Amount-and-time and fuzzy matches among unmatched lines and orders; (lines, orders, matched)."""
    line = StatementLine
    rows = session.execute(
        select(t_line.c.line_id, t_line.c.kind, t_line.c.amount_fen, t_line.c.occurred_at, t_line.c.reference,
               t_line.c.channel, line.counterparty, line.memo, t_match.c.candidates)
        .join(line, line.id == t_line.c.line_id)
        .outerjoin(t_match, t_match.c.line_id == t_line.c.line_id)
        .where(or_(t_match.c.line_id.is_(None), t_match.c.order_id.is_(None)))
    ).all()
    open_lines = [OpenLine(row.line_id, LineKind(row.kind), row.amount_fen, row.occurred_at, row.reference,
                           row.channel, row.counterparty, row.memo) for row in rows]
    ambiguous = {row.line_id for row in rows if row.candidates}
    matched_orders = select(t_match.c.order_id).where(t_match.c.order_id.is_not(None))
    open_orders = [
        OpenOrder(row.order_id, row.order_no, row.channel, row.channel_order_id, row.paid_fen, row.paid_at,
                  row.payment_ref, row.customer_name)
        for row in session.execute(select(t_order).where(t_order.c.order_id.not_in(matched_orders)))
    ]
    matches = match_leftovers(open_lines, open_orders, rules.matching) if open_lines and open_orders else []
    _record_matches(session, matches, ambiguous)
    return len(open_lines), len(open_orders), len(matches)


def _record_matches(session: Session, matches: list[Match], ambiguous: set[int]) -> None:
    by_line = {match.line_id: match for match in matches}
    session.execute(delete(t_match).where(t_match.c.order_id.is_(None)))
    rows: list[dict[str, Any]] = [
        {"line_id": m.line_id, "order_id": m.order_id, "method": m.method.value, "candidates": 1,
         "detail": m.explanation} for m in matches]
    rows += [{"line_id": line_id, "order_id": None, "method": Method.NONE.value, "candidates": 2,
              "detail": {"code": "ambiguous"}} for line_id in sorted(ambiguous - by_line.keys())]
    if rows:
        session.execute(insert(t_match), rows)


# ------------------------------------------------------------------------------------------------
# 4. Classes and results
# ------------------------------------------------------------------------------------------------


def _fee_off(fee: ColumnElement[Any], expected: ColumnElement[Any], tolerance: int) -> ColumnElement[bool]:
    return and_(expected.is_not(None), func.abs(fee - expected) > literal(tolerance))


def _aggregate(session: Session, tolerance: int) -> None:
    """Per matched order: money in and back, fees, and its class (decided here, once per order)."""
    line, match = t_line, t_match
    payment = line.c.kind == LineKind.PAYMENT.value
    fee_off = and_(payment, _fee_off(line.c.fee_fen, line.c.fee_expected, tolerance))
    sums = (
        select(
            match.c.order_id,
            func.sum(case((payment, line.c.amount_fen), else_=0)).label("received"),
            func.sum(case((payment, 0), else_=-line.c.amount_fen)).label("refunded"),
            func.sum(case((payment, line.c.fee_fen), else_=0)).label("fee"),
            func.sum(case((payment, func.coalesce(line.c.fee_expected, line.c.fee_fen)), else_=0)).label(
                "fee_expected"),
            func.sum(case((payment, 1), else_=0)).label("payments"),
            func.max(case((fee_off, 1), else_=0)).label("fee_off"),
            func.min(match.c.method).label("method"),
        )
        .join(line, line.c.line_id == match.c.line_id)
        .where(match.c.order_id.is_not(None))
        .group_by(match.c.order_id)
        .subquery("sums")
    )
    query = select(*sums.c, order_class(t_order, sums)).join(t_order, t_order.c.order_id == sums.c.order_id)
    columns = ["order_id", "received", "refunded", "fee", "fee_expected", "payments", "fee_off", "method", "klass"]
    session.execute(insert(t_agg).from_select(columns, query))
    # The later payments of an order paid more than once: ranked among those orders' lines only.
    duplicated = select(t_agg.c.order_id).where(t_agg.c.klass == C.DUPLICATE_PAYMENT.value)
    ranked = (
        select(line.c.line_id, func.row_number().over(partition_by=match.c.order_id,
                                                      order_by=(line.c.occurred_at, line.c.line_id)).label("rank"))
        .join(match, match.c.line_id == line.c.line_id)
        .where(match.c.order_id.in_(duplicated), payment)
        .subquery("ranked")
    )
    session.execute(insert(t_dup).from_select(["line_id"], select(ranked.c.line_id).where(ranked.c.rank > 1)))


def order_class(o: Any, a: Any) -> ColumnElement[str]:
    """An order's class from its figures and its matched lines' sums (the one place it is decided)."""
    return case(
        (and_(a.c.payments > 1, a.c.received > o.c.paid_fen), C.DUPLICATE_PAYMENT.value),
        (a.c.received != o.c.paid_fen, C.AMOUNT_MISMATCH.value),
        (and_(a.c.refunded > 0, a.c.refunded < a.c.received), C.PARTIAL_REFUND.value),
        (a.c.refunded != o.c.refunded_fen, C.AMOUNT_MISMATCH.value),
        (a.c.fee_off > 0, C.FEE_MISMATCH.value),
        else_=C.MATCHED.value,
    )


# Above this many orders a run reads the whole catalog's costs rather than those of its SKUs.
_WHOLE_CATALOG = 20_000


def _costs(session: Session, orders: int) -> None:
    """Cost of goods per order from the catalog's cost prices (through its service), summed in SQL."""
    if orders > _WHOLE_CATALOG:
        known = {sku.code: sku for sku in catalog.list_skus(session)}
    else:
        codes = session.scalars(
            select(OrderLine.sku).distinct().where(OrderLine.order_id.in_(select(t_order.c.order_id)))
        ).all()
        known = catalog.skus_by_code(session, codes)
    if known:
        session.execute(insert(t_sku), [{"sku": code, "cost_fen": sku.cost_price_fen} for code, sku in known.items()])
        if _is_pg(session):
            _analyse(session, t_sku)
    query = (
        select(OrderLine.order_id, func.sum(OrderLine.qty * func.coalesce(t_sku.c.cost_fen, 0)),
               func.min(case((t_sku.c.sku.is_(None), 0), else_=1)))
        .join(t_order, t_order.c.order_id == OrderLine.order_id)
        .outerjoin(t_sku, t_sku.c.sku == OrderLine.sku)
        .group_by(OrderLine.order_id)
    )
    session.execute(insert(t_cost).from_select(["order_id", "cost_fen", "complete"], query))


def _write(session: Session, table: Table, key: str, results: Any, unchanged_by: tuple[str, ...]) -> None:
    """Rewrite the rows whose result differs, then add the new ones: a rerun over settled days writes
    next to nothing, and a first run is plain INSERTs (no per-row conflict handling)."""
    columns = [column.name for column in results.columns]
    compared = [name for name in columns if name not in (key, *unchanged_by)]
    session.execute(
        update(table)
        .where(table.c[key] == results.c[key],
               tuple_(*[table.c[name] for name in compared]).is_distinct_from(
                   tuple_(*[results.c[name] for name in compared])))
        .values({name: results.c[name] for name in columns if name != key})
    )
    fresh = select(results).where(~exists().where(table.c[key] == results.c[key]))
    session.execute(insert(table).from_select(columns, fresh))


def _write_receivables(session: Session, run_id: int, now: datetime) -> None:
    o, a, cost = t_order, t_agg, t_cost
    refunded = o.c.refunded_fen
    cost_kept = case((refunded >= o.c.paid_fen, 0), else_=func.coalesce(cost.c.cost_fen, 0))
    results = (
        select(
            o.c.order_id, o.c.order_no, o.c.channel, o.c.shop_id, o.c.channel_order_id, o.c.payment_ref,
            o.c.province, func.substr(o.c.customer_name, 1, 100).label("customer_name"),
            o.c.status.label("order_status"), o.c.paid_fen, o.c.paid_at, o.c.business_date, refunded,
            func.coalesce(cost.c.cost_fen, 0).label("cost_fen"),
            (func.coalesce(cost.c.complete, 1) == 1).label("cost_complete"),
            (o.c.paid_fen - refunded - cost_kept).label("margin_fen"),
            literal(now, UTCDateTime()).label("refreshed_at"),
            func.coalesce(a.c.klass, C.ORDER_WITHOUT_PAYMENT.value).label("recon_class"),
            func.coalesce(a.c.method, Method.NONE.value).label("recon_method"),
            func.coalesce(a.c.received, 0).label("received_fen"),
            func.coalesce(a.c.refunded, 0).label("statement_refund_fen"),
            func.coalesce(a.c.fee, 0).label("fee_fen"),
            func.coalesce(a.c.fee_expected, 0).label("expected_fee_fen"),
            func.coalesce(a.c.payments, 0).label("payment_lines"),
            literal(run_id).label("recon_run_id"),
        )
        .select_from(o)
        .outerjoin(a, a.c.order_id == o.c.order_id)
        .outerjoin(cost, cost.c.order_id == o.c.order_id)
        .subquery("results")
    )
    _write(session, Receivable.__table__, "order_id", results, ("refreshed_at", "recon_run_id"))


def _write_line_results(session: Session, run_id: int, tolerance: int) -> None:
    line, match, o, a = t_line, t_match, t_order, t_agg
    payment = line.c.kind == LineKind.PAYMENT.value
    klass = case(
        (match.c.order_id.is_(None), C.PAYMENT_WITHOUT_ORDER.value),
        (and_(payment, line.c.line_id.in_(select(t_dup.c.line_id))), C.DUPLICATE_PAYMENT.value),
        (and_(payment, a.c.klass != C.DUPLICATE_PAYMENT.value, a.c.received != o.c.paid_fen),
         C.AMOUNT_MISMATCH.value),
        (and_(payment, _fee_off(line.c.fee_fen, line.c.fee_expected, tolerance)), C.FEE_MISMATCH.value),
        (payment, C.MATCHED.value),
        (and_(a.c.refunded > 0, a.c.refunded < a.c.received), C.PARTIAL_REFUND.value),
        (a.c.refunded != o.c.refunded_fen, C.AMOUNT_MISMATCH.value),
        else_=C.MATCHED.value,
    )
    results = (
        select(line.c.line_id, klass.label("recon_class"), match.c.order_id,
               func.coalesce(match.c.method, Method.NONE.value).label("method"), match.c.detail,
               literal(run_id).label("run_id"))
        .select_from(line)
        .outerjoin(match, match.c.line_id == line.c.line_id)
        .outerjoin(o, o.c.order_id == match.c.order_id)
        .outerjoin(a, a.c.order_id == match.c.order_id)
        .subquery("results")
    )
    _write(session, LineResult.__table__, "line_id", results, ("run_id",))


# ------------------------------------------------------------------------------------------------
# 5. The discrepancy pool
# ------------------------------------------------------------------------------------------------


def _overdue_cutoff(rules: FinanceRules, now: datetime) -> ColumnElement[Any]:
    """The latest payment time at which an unpaid order of each channel is overdue now."""
    days = sorted({rules.settle_days(channel.value) for channel in rules.settles_within_days})
    whens = [(Receivable.channel.in_([c.value for c, d in rules.settles_within_days.items() if d == day]),
              literal(now - timedelta(days=day), UTCDateTime())) for day in days]
    default = literal(now - timedelta(days=rules.default_settles_within_days), UTCDateTime())
    return case(*whens, else_=default) if whens else default


def _problem_orders(rules: FinanceRules, now: datetime) -> Query:
    """Receivables that are a problem for a person, as discrepancy rows (subject, class, figures)."""
    r = Receivable
    refund_side = and_(r.received_fen == r.paid_fen, r.statement_refund_fen != r.refunded_fen)
    expected = case(
        (r.recon_class == C.FEE_MISMATCH.value, r.expected_fee_fen),
        (or_(r.recon_class == C.PARTIAL_REFUND.value, and_(r.recon_class == C.AMOUNT_MISMATCH.value, refund_side)),
         r.refunded_fen),
        else_=r.paid_fen,
    )
    actual = case(
        (r.recon_class == C.FEE_MISMATCH.value, r.fee_fen),
        (or_(r.recon_class == C.PARTIAL_REFUND.value, and_(r.recon_class == C.AMOUNT_MISMATCH.value, refund_side)),
         r.statement_refund_fen),
        else_=r.received_fen,
    )
    wanted = or_(
        r.recon_class.in_([C.AMOUNT_MISMATCH.value, C.DUPLICATE_PAYMENT.value, C.FEE_MISMATCH.value]),
        and_(r.recon_class == C.PARTIAL_REFUND.value, r.statement_refund_fen != r.refunded_fen),
        and_(r.recon_class == C.ORDER_WITHOUT_PAYMENT.value, r.paid_at < _overdue_cutoff(rules, now)),
    )
    subject = literal("order:") + cast(r.order_id, String)
    return select(subject, r.recon_class, r.order_id, null(), r.order_no, r.payment_ref, r.channel, r.province,
                  r.business_date, expected, actual).where(wanted)


def _problem_lines() -> Query:
    line, result = StatementLine, LineResult
    subject = literal("line:") + cast(line.id, String)
    return (
        select(subject, result.recon_class, null(), line.id, literal(""), line.reference, line.channel, literal(""),
               line.business_date, literal(0), line.amount_fen)
        .join(result, result.line_id == line.id)
        .where(result.recon_class == C.PAYMENT_WITHOUT_ORDER.value)
    )


_DISC_COLUMNS = ["subject", "recon_class", "order_id", "line_id", "order_no", "reference", "channel", "province",
                 "business_date", "expected_fen", "actual_fen"]


@dataclass(frozen=True)
class PoolChange:
    created: int = 0
    cleared: int = 0
    reopened: int = 0


def _sync_pool(session: Session, rules: FinanceRules, now: datetime, actor: str, run_id: int) -> PoolChange:
    problems = _problem_orders(rules, now).where(Receivable.order_id.in_(select(t_order.c.order_id)))
    session.execute(insert(t_disc).from_select(_DISC_COLUMNS, problems))
    lines = _problem_lines().where(StatementLine.id.in_(select(t_line.c.line_id)))
    session.execute(insert(t_disc).from_select(_DISC_COLUMNS, lines))
    if _is_pg(session):
        _analyse(session, t_disc)
    d = Discrepancy
    wanted = exists().where(t_disc.c.subject == d.subject, t_disc.c.recon_class == d.recon_class)
    in_closure = or_(
        and_(d.line_id.is_(None), d.order_id.in_(select(t_order.c.order_id))),
        and_(d.order_id.is_(None), d.line_id.in_(select(t_line.c.line_id))),
    )
    cleared = session.scalars(
        update(d).where(d.status.in_(UNRESOLVED), in_closure, not_(wanted))
        .values(status=DiscrepancyStatus.CLEARED.value, updated_at=now, version=d.version + 1)
        .returning(d.id).execution_options(synchronize_session=False)
    ).all()
    due = now + timedelta(hours=rules.discrepancies.due_hours)
    reopened = session.scalars(
        update(d).where(d.status == DiscrepancyStatus.CLEARED.value, wanted)
        .values(status=DiscrepancyStatus.OPEN.value, due_at=due, escalated_at=None, updated_at=now,
                version=d.version + 1)
        .returning(d.id).execution_options(synchronize_session=False)
    ).all()
    # The figures of problems still open follow the statements (a second partial payment, a new refund).
    session.execute(
        update(d).where(d.subject == t_disc.c.subject, d.recon_class == t_disc.c.recon_class,
                        d.status.in_(UNRESOLVED),
                        or_(d.expected_fen != t_disc.c.expected_fen, d.actual_fen != t_disc.c.actual_fen))
        .values(expected_fen=t_disc.c.expected_fen, actual_fen=t_disc.c.actual_fen, updated_at=now,
                version=d.version + 1)
        .execution_options(synchronize_session=False)
    )
    fresh = session.execute(select(t_disc).where(~exists().where(
        d.subject == t_disc.c.subject, d.recon_class == t_disc.c.recon_class))).mappings().all()
    created = create_discrepancies(session, fresh, rules, now, actor)
    events = [_event(id_, now, actor, "cleared", f"run #{run_id}: no longer found") for id_ in cleared]
    events += [_event(id_, now, actor, "reopened", f"run #{run_id}: found again") for id_ in reopened]
    add_rows(session, DiscrepancyEvent.__table__, events)
    return PoolChange(created=created, cleared=len(cleared), reopened=len(reopened))


def _event(discrepancy_id: int, at: datetime, actor: str, action: str, reason: str, *, source: str = "worker",
           from_owner: str | None = None, to_owner: str | None = None) -> dict[str, Any]:
    return {"discrepancy_id": discrepancy_id, "at": at, "actor": actor, "source": source, "action": action,
            "from_owner": from_owner, "to_owner": to_owner, "reason": reason}


def create_discrepancies(session: Session, problems: Iterable[Any], rules: FinanceRules, now: datetime,
                         actor: str) -> int:
    """New discrepancies, each assigned by the owner rules and due after `due_hours`, with their audit rows."""
    due = now + timedelta(hours=rules.discrepancies.due_hours)
    rows = []
    for problem in problems:
        amount = problem["actual_fen"] if problem["order_id"] is None else problem["expected_fen"]
        owner, supervisor, rule = rules.assignee(channel=problem["channel"], province=problem["province"],
                                                 amount_fen=amount)
        rows.append({**{name: problem[name] for name in _DISC_COLUMNS},
                     "status": DiscrepancyStatus.OPEN.value, "owner": owner, "supervisor": supervisor,
                     "rule": rule[:100], "due_at": due, "created_at": now, "updated_at": now, "version": 1})
    if not rows:
        return 0
    ids = insert_new_rows(session, Discrepancy.__table__, rows, key="subject")
    add_rows(session, DiscrepancyEvent.__table__, [
        _event(ids[row["subject"]], now, actor, "created", f"{row['recon_class']} → {row['owner']} ({row['rule']})",
               to_owner=row["owner"])
        for row in rows if row["subject"] in ids
    ])
    return len(ids)


def raise_overdue(session: Session, rules: FinanceRules, now: datetime, actor: str) -> int:
    """Orders still unpaid once their channel's settlement window has passed become discrepancies."""
    d = Discrepancy
    problems = _problem_orders(rules, now).where(
        Receivable.recon_class == C.ORDER_WITHOUT_PAYMENT.value,
        ~exists().where(d.order_id == Receivable.order_id, d.line_id.is_(None),
                        d.recon_class == C.ORDER_WITHOUT_PAYMENT.value),
    )
    found = [dict(zip(_DISC_COLUMNS, row, strict=True)) for row in session.execute(problems)]
    return create_discrepancies(session, found, rules, now, actor)


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


def _refunds_from_payloads(session: Session, rules: FinanceRules) -> None:
    """Refunds the channel's payload states (e.g. part of a mini-program order given back)."""
    rows = session.execute(
        select(Order.id, Order.channel, Order.paid_amount_fen, Order.raw_payload)
        .join(t_order, t_order.c.order_id == Order.id)
        .where(t_order.c.refund_hint == 1)
    ).all()
    found = []
    for row in rows:
        spec = rules.refund_amounts[row.channel]
        stated = refund_in_payload(row.raw_payload, spec.path, spec.unit)
        if stated is not None:
            found.append({"order_id": row.id, "refunded_fen": min(stated, row.paid_amount_fen)})
    if not found:
        return
    session.execute(insert(t_refund), found)
    session.execute(update(t_order).where(t_order.c.order_id == t_refund.c.order_id)
                    .values(refunded_fen=t_refund.c.refunded_fen))


def _refunds_from_aftersales(session: Session) -> None:
    """Money given back through after-sales wins over the status and the payload: a partial refund of a
    shipped order leaves the order shipped, yet its receivable shrinks."""
    given = aftersales.refunded_fen(session)
    if not given:
        return
    session.execute(delete(t_refund))
    session.execute(insert(t_refund), [{"order_id": order_id, "refunded_fen": fen} for order_id, fen in given.items()])
    session.execute(update(t_order).where(t_order.c.order_id == t_refund.c.order_id)
                    .values(refunded_fen=t_refund.c.refunded_fen))


def refund_in_payload(payload: Any, path: str, unit: str) -> int | None:
    """Money a payload says was refunded: the values at `path` (`*` over a list) summed; None when absent."""
    values = _collect(payload, path.split("."))
    if not values:
        return None
    total = 0
    for value in values:
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            continue
        if not amount.is_finite():
            continue
        total += int(amount) if unit == "fen" else int((amount * 100).to_integral_value())
    return total


def _collect(value: Any, parts: list[str]) -> list[Any]:
    if not parts:
        return [] if value is None or value == "" else [value]
    head, rest = parts[0], parts[1:]
    if head == "*":
        return [found for item in value for found in _collect(item, rest)] if isinstance(value, list) else []
    return _collect(dig(value, head), rest)


def reconcile_in(session: Session, *, scope: Scope, rules: FinanceRules, zone: ZoneInfo, now: datetime,
                 actor: str, progress: Progress | None = None) -> RunReport:
    """Run one reconciliation inside the caller's transaction (see the module docstring)."""
    started = time.perf_counter()
    if _is_pg(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        # A run is a few big joins: JIT compilation costs more than it saves on them, and sorts and
        # hashes of a million rows want more memory than the default 4 MB (both for this transaction only).
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '256MB'"))
    else:
        _register_local_date(session, zone)
    run = ReconRun(scope=scope.label, date_from=scope.date_from, date_to=scope.date_to, actor=actor, started_at=now,
                   counts={})
    session.add(run)
    session.flush()
    report = RunReport(run_id=run.id, scope=scope.label)
    stage_started = time.perf_counter()

    def stage(name: str, number: int) -> None:
        nonlocal stage_started
        report.stage_seconds[name] = time.perf_counter() - stage_started
        stage_started = time.perf_counter()
        if progress:
            progress(name, number)

    _create_temp_tables(session)
    try:
        _gather(session, scope, rules, zone)
        orders = session.scalar(select(func.count()).select_from(t_order)) or 0
        _refunds_from_payloads(session, rules)
        _refunds_from_aftersales(session)
        if _is_pg(session):
            _analyse(session, t_order, t_line)
        stage("scope", 1)
        _exact(session)
        stage("exact", 2)
        report.leftover_lines, report.leftover_orders, report.python_matches = _leftovers(session, rules)
        if _is_pg(session):
            _analyse(session, t_match)
        stage("leftovers", 3)
        tolerance = rules.matching.fee_tolerance_fen
        _aggregate(session, tolerance)
        _costs(session, orders)
        if _is_pg(session):
            _analyse(session, t_agg, t_cost, t_dup)
        _write_receivables(session, run.id, now)
        _write_line_results(session, run.id, tolerance)
        stage("classify", 4)
        change = _sync_pool(session, rules, now, actor, run.id)
        report.discrepancies_created, report.discrepancies_cleared = change.created, change.cleared
        report.discrepancies_reopened = change.reopened
        stage("discrepancies", 5)
        report.order_classes = dict(session.execute(
            select(Receivable.recon_class, func.count()).where(Receivable.order_id.in_(select(t_order.c.order_id)))
            .group_by(Receivable.recon_class)).all())
        report.line_classes = dict(session.execute(
            select(LineResult.recon_class, func.count()).where(LineResult.line_id.in_(select(t_line.c.line_id)))
            .group_by(LineResult.recon_class)).all())
        report.orders = sum(report.order_classes.values())
        report.lines = sum(report.line_classes.values())
        if _is_pg(session) and report.orders + report.lines > _ANALYSE_AFTER:
            # A big run fills the result tables faster than autovacuum notices: without fresh
            # statistics the next run's plans take them for empty (nested loops over 100k rows).
            session.execute(text("ANALYZE receivable, recon_line, discrepancy, discrepancy_event"))
    finally:
        _drop_temp_tables(session)
    report.seconds = time.perf_counter() - started
    run.lines, run.orders = report.lines, report.orders
    run.finished_at = now
    run.counts = {"lines": report.line_classes, "orders": report.order_classes,
                  "discrepancies": {"created": change.created, "cleared": change.cleared,
                                    "reopened": change.reopened},
                  "python_matches": report.python_matches, "seconds": round(report.seconds, 2)}
    stage("done", 6)
    return report
