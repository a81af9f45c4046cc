"""`orderhub bench reconcile`: a million orders against a million statement lines on PostgreSQL.

Orders, their lines and the statement lines are bulk-loaded with COPY (untimed) in a realistic
mix; then one `reconcile --all` is timed. The mix, per order: most are paid once through WeChat Pay
(the reference is the order number, or for mini-program orders the WeChat transaction id the
payload keeps) or settled by Tmall or Douyin (the reference is the platform order id, with
commission and fee); some are paid a different amount, paid twice, refunded in part, charged a
wrong fee, paid without any reference (found by amount and time), or never paid; and some payments
belong to no order at all.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Table, func, select, text
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from orderhub.benchmarks.orders import BenchmarkRefused
from orderhub.benchmarks.report import append_section
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.model import Channel, Shop
from orderhub.core.db import add_rows
from orderhub.core.ids import CHANNEL_PREFIX
from orderhub.core.migrate import upgrade
from orderhub.core.settings import Settings
from orderhub.finance import service as finance
from orderhub.finance.engine import STAGES, RunReport, Scope
from orderhub.finance.model import LineKind, ReconClass, Source, StatementFile, StatementLine
from orderhub.orders.model import Order, OrderLine
from orderhub.runtime import Runtime, build_runtime

BATCH = 50_000
DAYS = 30
SKUS = [f"R-{index:03d}" for index in range(100)]
SHOPS = {Channel.MINIPROGRAM: "bench-mp", Channel.PHONE: "bench-phone", Channel.TMALL: "bench-tmall",
         Channel.DOUYIN: "bench-douyin"}
PROVINCES = ["浙江省", "广东省", "北京市", "四川省", "江苏省", "上海市"]
# What becomes of an order, with its share of the orders.
OUTCOMES = [
    ("exact", 0.925),
    ("amount_mismatch", 0.015),
    ("order_without_payment", 0.015),
    ("duplicate", 0.005),
    ("partial_refund", 0.01),
    ("fee_mismatch", 0.01),
    ("no_reference", 0.005),
    ("refunded", 0.015),
]
# Payments that belong to no order, as a share of the orders.
STRAY_PAYMENTS = 0.015


@dataclass
class Loaded:
    orders: int = 0
    lines: int = 0
    outcomes: Counter[str] | None = None


def _defaults(table: Table) -> dict[str, Any]:
    """Every column's Python-side default: COPY does not apply them."""
    return {column.name: column.default.arg for column in table.columns
            if isinstance(column.default, ScalarElementColumnDefault)}


def _setup(runtime: Runtime) -> dict[Channel, Shop]:
    if runtime.engine.dialect.name != "postgresql":
        raise BenchmarkRefused("the reconcile benchmark measures PostgreSQL: set ORDERHUB_DATABASE_URL to an empty one")
    upgrade(runtime.engine)
    with runtime.reading() as session:
        if session.scalar(select(func.count()).select_from(Order)):
            raise BenchmarkRefused("the benchmark needs an empty database (point ORDERHUB_DATABASE_URL at a new one)")
    for channel, code in SHOPS.items():
        channels.create_shop(runtime.uow(), channel=channel, code=code, name=f"bench {channel.value}")
    for index, code in enumerate(SKUS):
        catalog.create_sku(runtime.uow(), code=code, title=f"商品 {code}", list_price_fen=5000 + index * 100,
                           cost_price_fen=2500 + index * 40)
    with runtime.reading() as session:
        return {Channel(shop.channel): shop for shop in channels.list_shops(session)}


def _pick(rng: random.Random) -> str:
    roll = rng.random()
    for name, share in OUTCOMES:
        if roll < share:
            return name
        roll -= share
    return "exact"


Row = dict[str, Any]


class _Generator:
    """Orders, order lines and statement lines, a batch at a time, with ids assigned here."""

    def __init__(self, shops: dict[Channel, Shop], start: datetime, file_id: int) -> None:
        self.rng = random.Random(7)
        self.shops = shops
        self.start = start
        self.file_id = file_id
        self.order_defaults = _defaults(Order.__table__)
        self.line_defaults = _defaults(StatementLine.__table__)
        self.txn = 0
        self.outcomes: Counter[str] = Counter()

    def _txn(self) -> str:
        self.txn += 1
        return f"4200{self.txn:016d}"

    def _statement(self, *, source: Source, kind: LineKind, reference: str, at: datetime, amount: int, fee: int = 0,
                   commission: int = 0, channel: str = "", rate: int | None = None) -> dict[str, Any]:
        signed = amount if kind is LineKind.PAYMENT else -amount
        return {**self.line_defaults, "source": source.value, "kind": kind.value, "txn_id": self._txn(),
                "file_id": self.file_id, "row_no": self.txn, "channel": channel, "reference": reference,
                "occurred_at": at, "business_date": (at + timedelta(hours=8)).date(), "amount_fen": signed,
                "fee_fen": fee, "fee_rate_ppm": rate, "commission_fen": commission,
                "net_fen": signed - fee - commission, "imported_at": self.start}

    def batch(self, first_id: int, count: int) -> tuple[list[Row], list[Row], list[Row]]:
        rng = self.rng
        orders, order_lines, statement = [], [], []
        channel_list = list(self.shops)
        for order_id in range(first_id, first_id + count):
            channel = channel_list[order_id % len(channel_list)]
            shop = self.shops[channel]
            paid_at = self.start + timedelta(seconds=rng.randrange(DAYS * 86400))
            qty = rng.randint(1, 3)
            sku_index = rng.randrange(len(SKUS))
            price = 5000 + sku_index * 100
            paid = qty * price
            order_no = f"{CHANNEL_PREFIX[channel.value]}_{paid_at:%Y%m%d}_{order_id:06x}"[:32]
            channel_order_id = str(10**17 + order_id)
            payment_ref = f"4200{order_id:018d}" if channel is Channel.MINIPROGRAM else ""
            outcome = _pick(rng)
            self.outcomes[outcome] += 1
            status = "refunded" if outcome == "refunded" else rng.choice(["paid", "approved", "shipped", "completed"])
            payload = ({"order_id": channel_order_id, "payment": {"method": "wechat", "transaction_id": payment_ref}}
                       if payment_ref else {"tid": channel_order_id})
            orders.append({**self.order_defaults, "id": order_id, "order_no": order_no, "channel": channel.value,
                           "shop_id": shop.id, "channel_order_id": channel_order_id, "status": status,
                           "receiver_name": "王先生", "customer_name": "王先生",
                           "receiver_province": rng.choice(PROVINCES), "goods_amount_fen": paid,
                           "paid_amount_fen": paid, "paid_at": paid_at, "raw_payload": payload,
                           "created_at": paid_at - timedelta(minutes=2), "updated_at": paid_at, "version": 1})
            order_lines.append({"order_id": order_id, "line_no": 1, "sku": SKUS[sku_index], "platform_sku": "",
                                "title": "", "spec": "", "qty": qty, "unit_price_fen": price, "discount_fen": 0})
            if outcome == "order_without_payment":
                continue
            settled = channel in (Channel.TMALL, Channel.DOUYIN)
            at = paid_at + timedelta(seconds=rng.randint(1, 90))
            if settled:
                source, reference, rate = Source.SETTLEMENT, channel_order_id, None
                at = paid_at + timedelta(days=rng.randint(1, 7))
                commission_rate, fee_rate = (50_000, 6_000) if channel is Channel.TMALL else (0, 50_000)
            else:
                source, rate = Source.WECHATPAY, 6_000
                reference = payment_ref or order_no
                commission_rate, fee_rate = 0, 6_000
            amount = paid + (rng.choice([-1, 1]) * rng.randint(1, 500) if outcome == "amount_mismatch" else 0)
            fee = (amount * fee_rate + 500_000) // 1_000_000 + (7 if outcome == "fee_mismatch" else 0)
            commission = (amount * commission_rate + 500_000) // 1_000_000
            if outcome == "no_reference" and not settled:  # settlement files always name the order
                reference = ""
            statement.append(self._statement(source=source, kind=LineKind.PAYMENT, reference=reference, at=at,
                                             amount=amount, fee=fee, commission=commission,
                                             channel=channel.value if settled else "", rate=rate))
            if outcome == "duplicate":
                statement.append(self._statement(source=source, kind=LineKind.PAYMENT, reference=reference,
                                                 at=at + timedelta(minutes=1), amount=amount, fee=fee,
                                                 commission=commission, channel=channel.value if settled else "",
                                                 rate=rate))
            if outcome in ("partial_refund", "refunded"):
                back = amount // 3 if outcome == "partial_refund" else amount
                statement.append(self._statement(source=source, kind=LineKind.REFUND, reference=reference,
                                                 at=at + timedelta(hours=rng.randint(1, 48)), amount=back,
                                                 channel=channel.value if settled else ""))
            if rng.random() < STRAY_PAYMENTS:
                statement.append(self._statement(source=Source.WECHATPAY, kind=LineKind.PAYMENT, at=at,
                                                 reference=f"GONE_{order_id:010d}", amount=rng.randint(100, 90_000)))
        return orders, order_lines, statement


def load(runtime: Runtime, shops: dict[Channel, Shop], count: int, console: Console) -> Loaded:
    """`count` orders with their lines and statement lines, by COPY, in batches (untimed)."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with runtime.uow() as uow:
        record = StatementFile(source="bench", format="bench", file_name="generated", sha256="-",
                               imported_at=start, imported_by="bench")
        uow.session.add(record)
        uow.commit()
        file_id = record.id
    generator = _Generator(shops, start, file_id)
    loaded = Loaded()
    with _bar(console) as bar:
        task = bar.add_task("COPY orders and statement lines", total=count)
        for first in range(1, count + 1, BATCH):
            size = min(BATCH, count - first + 1)
            orders, order_lines, statement = generator.batch(first, size)
            with runtime.session_factory() as session:
                add_rows(session, Order.__table__, orders)
                add_rows(session, OrderLine.__table__, order_lines)
                add_rows(session, StatementLine.__table__, statement)
                session.commit()
            loaded.orders += size
            loaded.lines += len(statement)
            bar.update(task, completed=loaded.orders)
    with runtime.engine.begin() as connection:
        connection.execute(text("SELECT setval(pg_get_serial_sequence('sales_order', 'id'), max(id)) FROM sales_order"))
        connection.execute(text("SELECT setval(pg_get_serial_sequence('order_line', 'id'), max(id)) FROM order_line"))
        connection.execute(
            text("SELECT setval(pg_get_serial_sequence('statement_line', 'id'), max(id)) FROM statement_line"))
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE sales_order, order_line, statement_line"))
    loaded.outcomes = generator.outcomes
    return loaded


def _bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def timed_reconcile(runtime: Runtime, scope: Scope, console: Console) -> RunReport:
    with _bar(console) as bar:
        task = bar.add_task("reconcile", total=STAGES)
        return finance.reconcile(runtime, scope=scope, actor=finance.SYSTEM_ACTOR,
                                 progress=lambda stage, done: bar.update(task, completed=done,
                                                                         description=f"reconcile: {stage}"))


def run_reconcile_benchmark(settings: Settings, *, orders: int, output: str, console: Console) -> None:
    runtime = build_runtime(settings)
    shops = _setup(runtime)
    with runtime.engine.connect() as connection:
        version = str(connection.execute(text("SELECT version()")).scalar_one()).split(",")[0]
    loaded = load(runtime, shops, orders, console)
    console.print(f"loaded {loaded.orders:,} orders and {loaded.lines:,} statement lines (COPY, untimed)")
    first = timed_reconcile(runtime, Scope.everything(), console)
    _show(console, "first run", first)
    again = timed_reconcile(runtime, Scope.everything(), console)
    _show(console, "rerun (replaces the results)", again)
    day = date(2026, 10, 15)
    daily = timed_reconcile(runtime, Scope.days(day), console)
    _show(console, f"one day ({day})", daily)
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in first.stage_seconds.items() if name != "done")
    lines = [
        f"Database: {version}\n",
        f"- data: {loaded.orders:,} paid orders (WeChat Pay, mini-program with the transaction id in the payload, "
        f"Tmall and Douyin settlements) and {loaded.lines:,} statement lines, bulk-loaded with COPY (untimed)",
        f"- `orderhub reconcile --all`: **{first.seconds:,.1f} s** (target < 60 s) — {stages}; "
        f"{first.leftover_lines:,} lines and {first.leftover_orders:,} orders left to the Python passes, "
        f"{first.python_matches:,} matched there",
        f"- order classes: {_counts(first.order_classes)}",
        f"- line classes: {_counts(first.line_classes)}",
        f"- discrepancies created: {first.discrepancies_created:,}",
        f"- rerun of the same scope (results replaced, nothing added): {again.seconds:,.1f} s; "
        f"one business day ({daily.orders:,} orders, {daily.lines:,} lines with their counterparts): "
        f"{daily.seconds:,.1f} s",
    ]
    append_section(output, "finance: reconcile 1M orders × 1M statement lines", "postgresql", lines)
    console.print(f"results appended to {output}")


def _counts(counts: dict[str, int]) -> str:
    order = [klass.value for klass in ReconClass]
    return ", ".join(f"{name} {counts[name]:,}" for name in order if counts.get(name))


def _show(console: Console, label: str, report: RunReport) -> None:
    console.print(f"{label}: [bold]{report.seconds:,.1f} s[/bold] — {report.orders:,} orders, {report.lines:,} lines; "
                  f"orders: {_counts(report.order_classes)}")

