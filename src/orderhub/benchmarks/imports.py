"""`orderhub bench import`: a platform's order export imported from a file, beside raw batched INSERTs.

Both figures come from the same PostgreSQL database in the same run. The raw baseline inserts the
very rows an import writes (an order, with the file's own JSON text as its payload, and its lines,
mapped from the same file beforehand, untimed) as batched INSERTs (`insert_new_rows`, one
executemany for the lines), and nothing else: no parsing, mapping, validation, duplicate checks,
timeline, outbox or stock. The import itself writes by COPY where it can. The ratio is what the
import's real work costs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import simplejson
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import MetaData, Table, func, insert, select, text

from orderhub.benchmarks.orders import BenchmarkRefused
from orderhub.benchmarks.report import append_section
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.importer import BATCH_SIZE, import_file
from orderhub.channels.ingest import shop_ref
from orderhub.channels.mapping import load_json, load_mapping
from orderhub.channels.model import Channel
from orderhub.core.actor import Actor
from orderhub.core.db import insert_new_rows
from orderhub.core.migrate import upgrade
from orderhub.core.settings import Settings
from orderhub.inventory import service as inventory
from orderhub.inventory.model import WarehouseKind
from orderhub.orders.intake import Intake, order_row
from orderhub.orders.model import Order, OrderLine
from orderhub.runtime import Runtime, build_runtime
from orderhub.simulators.platforms.generator import generate_order
from orderhub.simulators.platforms.state import PLATFORMS, SimulatorState

SHOP = "bench-import"
SKU_CODES = [f"B-{index:03d}" for index in range(50)]
RAW_TABLES = ("bench_raw_order", "bench_raw_order_line")


def write_export(path: Path, *, channel: str, count: int, console: Console) -> None:
    """`count` orders of one simulated shop as the platform's API returns them, one JSON object a line."""
    shop = SimulatorState(SKU_CODES).add_shop(channel, SHOP)
    render = PLATFORMS[channel].render
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as handle, _bar(console) as bar:
        task = bar.add_task(f"write {channel} export", total=count)
        for number in range(count):
            created = start + timedelta(seconds=number)
            order = generate_order(shop, SKU_CODES, created, created + timedelta(days=3))
            # simplejson: PDD's amounts are JSON numbers (Decimal), written exactly as the platform does.
            handle.write(simplejson.dumps(render(shop, order), ensure_ascii=False, use_decimal=True) + "\n")
            if number % 1000 == 0:
                bar.update(task, completed=number)


def _bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)


def _setup(runtime: Runtime, channel: Channel) -> None:
    if runtime.engine.dialect.name != "postgresql":
        raise BenchmarkRefused("the import benchmark measures PostgreSQL: set ORDERHUB_DATABASE_URL to an empty one")
    upgrade(runtime.engine)
    with runtime.reading() as session:
        if session.scalar(select(func.count()).select_from(Order)):
            raise BenchmarkRefused("the benchmark needs an empty database (point ORDERHUB_DATABASE_URL at a new one)")
    channels.create_shop(runtime.uow(), channel=channel, code=SHOP, name="bench import")
    # Stock for every open order: the import reserves it as a live merchant's would.
    inventory.create_warehouse(runtime.uow(), code="BENCH", name="bench", kind=WarehouseKind.OWN, province="浙江省",
                               city="杭州市")
    for code in SKU_CODES:
        catalog.create_sku(runtime.uow(), code=code, title=f"商品 {code}", list_price_fen=9900)
        inventory.receive(runtime.uow(), sku=code, warehouse="BENCH", qty=10_000_000, idempotency_key=f"bench-{code}",
                          actor=Actor("bench", "cli"))


def _raw_batches(runtime: Runtime, path: Path, channel: str, count: int) -> Iterator[list[tuple[dict, list[dict]]]]:
    """The rows an import of `path` would write (order, lines), a batch at a time, with unique numbers."""
    mapping = load_mapping(channel)
    with runtime.reading() as session:
        shop = shop_ref(channels.get_shop(session, channel=channel, code=SHOP))
    at = datetime.now(UTC)
    with path.open(encoding="utf-8") as handle:
        lines = islice(handle, count)
        number = 0
        while batch := list(islice(lines, BATCH_SIZE)):
            rows = []
            for line in batch:
                draft = mapping.to_draft(load_json(line), shop=shop.code)
                draft.raw_json = line.strip()  # the payload stored as the file has it, as the import stores it
                number += 1
                order = order_row(shop, Intake(draft), runtime.policy, at, order_no=f"RAW_{number:012d}")
                order_lines = [
                    {"line_no": position, "sku": item.sku, "platform_sku": item.platform_sku, "title": item.title,
                     "spec": item.spec, "qty": item.qty, "unit_price_fen": item.unit_price_fen,
                     "discount_fen": item.discount_fen}
                    for position, item in enumerate(draft.lines, start=1)
                ]
                rows.append((order, order_lines))
            yield rows


def raw_insert_rate(runtime: Runtime, path: Path, *, channel: str, count: int, console: Console) -> float:
    """Orders/s of batched INSERTs of order-shaped rows into copies of the order tables (dropped after)."""
    with runtime.engine.begin() as connection:
        connection.execute(text(
            f"CREATE TABLE {RAW_TABLES[0]} (LIKE {Order.__table__.name} INCLUDING ALL);"
            f"CREATE TABLE {RAW_TABLES[1]} (LIKE {OrderLine.__table__.name} INCLUDING ALL);"
            f"CREATE SEQUENCE {RAW_TABLES[0]}_id_seq OWNED BY {RAW_TABLES[0]}.id;"
            f"ALTER TABLE {RAW_TABLES[0]} ALTER COLUMN id SET DEFAULT nextval('{RAW_TABLES[0]}_id_seq')"
        ))
    tables = MetaData()
    raw_order = Table(RAW_TABLES[0], tables, autoload_with=runtime.engine)
    raw_line = Table(RAW_TABLES[1], tables, autoload_with=runtime.engine)
    spent = 0.0
    inserted = 0
    try:
        with _bar(console) as bar:
            task = bar.add_task("raw batched INSERT", total=count)
            for batch in _raw_batches(runtime, path, channel, count):
                started = time.perf_counter()
                with runtime.session_factory() as session:
                    ids = insert_new_rows(session, raw_order, [order for order, _ in batch], key="order_no")
                    session.execute(
                        insert(raw_line),
                        [line | {"order_id": ids[order["order_no"]]} for order, lines in batch for line in lines],
                    )
                    session.commit()
                spent += time.perf_counter() - started
                inserted += len(ids)
                bar.update(task, completed=inserted)
    finally:
        with runtime.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {RAW_TABLES[1]}; DROP TABLE {RAW_TABLES[0]}"))
    return inserted / spent


def run_import_benchmark(
    settings: Settings, *, orders: int, raw: int, channel: str, file: Path | None, output: str, console: Console
) -> None:
    runtime = build_runtime(settings)
    found = channels.parse_channel(channel)
    _setup(runtime, found)
    with runtime.engine.connect() as connection:
        version = str(connection.execute(text("SELECT version()")).scalar_one()).split(",")[0]
    with tempfile.TemporaryDirectory(prefix="orderhub-bench-") as scratch:
        path = file or Path(scratch) / f"{found.value}-orders.jsonl"
        if file is None:
            write_export(path, channel=found.value, count=orders, console=console)
        size = path.stat().st_size
        raw_rate = raw_insert_rate(runtime, path, channel=found.value, count=raw, console=console)
        console.print(f"raw batched INSERT of order-shaped rows: [bold]{raw_rate:,.0f} orders/s[/bold]")
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(f"import {path.name}", total=size)
            report = import_file(runtime, path, channel=found.value, shop=SHOP,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
    rate = report.orders / report.seconds
    outcomes = ", ".join(f"{label} {number:,}" for label, number in report.summary() if number)
    console.print(f"import: {report.orders:,} orders in {report.seconds:,.0f} s: [bold]{rate:,.0f} orders/s[/bold] "
                  f"({rate / raw_rate:.0%} of raw)  {outcomes}")
    lines = [
        f"Database: {version}\n",
        f"- `orderhub import` of {report.orders:,} {found.value} orders from a {size / 2**20:,.0f} MiB JSON Lines "
        f"export (the platform's API shape, written by the simulator): **{rate:,.0f} orders/s** "
        f"in {report.seconds:,.0f} s — {outcomes}",
        f"- raw batched INSERT of the same order and line rows ({raw:,} orders, {BATCH_SIZE} a batch, one "
        f"transaction each, same database, same run): **{raw_rate:,.0f} orders/s**",
        f"- import / raw: **{rate / raw_rate:.0%}** (target ≥ 40 %)",
    ]
    append_section(output, "import: platform export file vs raw INSERT", "postgresql", lines)
    console.print(f"results appended to {output}")
