"""`orderhub bench orders`: creation through the service layer, and list/filter latency on a big table."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, insert, select, text

from orderhub.benchmarks.report import append_section, percentile
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.model import Channel, Shop
from orderhub.core.actor import Actor
from orderhub.core.errors import OrderHubError
from orderhub.core.ids import CHANNEL_PREFIX
from orderhub.core.migrate import upgrade
from orderhub.core.settings import Settings
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.model import Order, OrderLine
from orderhub.orders.repository import OrderFilters
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime, build_runtime

BENCH_CHANNELS = [Channel.TMALL, Channel.JD, Channel.PDD, Channel.DOUYIN, Channel.PHONE]
ADDRESSES = [
    ("浙江省", "杭州市", "西湖区"),
    ("广东省", "深圳市", "南山区"),
    ("北京市", "北京市", "海淀区"),
    ("四川省", "成都市", "武侯区"),
    ("广东省", "东莞市", ""),
    ("江苏省", "苏州市", "姑苏区"),
]
BULK_BATCH = 5_000


class BenchmarkRefused(OrderHubError):
    code = "bench.database_not_empty"


def _setup(runtime: Runtime) -> list[Shop]:
    upgrade(runtime.engine)
    with runtime.reading() as session:
        if session.scalar(select(func.count()).select_from(Order)):
            raise BenchmarkRefused("the benchmark needs an empty database (point ORDERHUB_DATABASE_URL at a new one)")
    for channel in BENCH_CHANNELS:
        channels.create_shop(runtime.uow(), channel=channel, code=f"bench-{channel.value}", name=f"bench {channel}")
    for index in range(50):
        catalog.create_sku(runtime.uow(), code=f"B-{index:03d}", title=f"商品 {index}", list_price_fen=1000 + index)
    with runtime.reading() as session:
        return channels.list_shops(session)


def _draft(rng: random.Random, number: int) -> OrderDraft:
    province, city, district = rng.choice(ADDRESSES)
    lines = [
        DraftLine(sku=f"B-{rng.randrange(50):03d}", qty=rng.randint(1, 3), unit_price_fen=1000 + number % 50)
        for _ in range(rng.choice([1, 1, 2]))
    ]
    goods = sum(line.amount_fen for line in lines)
    return OrderDraft(
        channel="phone",
        shop="bench-phone",
        source_type="电话订单",
        receiver=Receiver(
            name="张三",
            phone=f"138{number % 100_000_000:08d}",
            province=province,
            city=city,
            district=district,
            address=f"测试路{number}号",
        ),
        lines=lines,
        paid_amount_fen=goods,
        payment_method="wechat",
        paid_at=datetime.now(UTC),
    )


def _bench_create(runtime: Runtime, count: int, console: Console) -> float:
    rng = random.Random(1)
    actor = Actor("bench", "cli")
    started = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("create orders (service layer)", total=count)
        for number in range(count):
            orders.create_manual_order(runtime.uow(), draft=_draft(rng, number), actor=actor, policy=runtime.policy)
            bar.advance(task)
    return count / (time.perf_counter() - started)


def _bulk_fill(runtime: Runtime, shops: list[Shop], target: int, console: Console) -> None:
    """Top the table up to `target` orders with Core bulk inserts (realistic spread over 90 days)."""
    rng = random.Random(2)
    statuses = [s.value for s in OrderStatus]
    now = datetime.now(UTC)
    with runtime.reading() as session:
        existing = session.scalar(select(func.count()).select_from(Order)) or 0
        next_id = (session.scalar(select(func.max(Order.id))) or 0) + 1
        taken = set(session.scalars(select(Order.order_no)))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("fill orders table", total=target - existing)
        order_id = next_id
        while existing < target:
            size = min(BULK_BATCH, target - existing)
            order_rows, line_rows = [], []
            for _ in range(size):
                shop = rng.choice(shops)
                at = now - timedelta(seconds=rng.randrange(90 * 86400))
                province, city, district = rng.choice(ADDRESSES)
                order_rows.append(
                    {
                        "id": order_id,
                        "order_no": _free_order_no(taken, shop.channel, at, order_id),
                        "channel": shop.channel,
                        "shop_id": shop.id,
                        "channel_order_id": str(10**17 + order_id),
                        "status": rng.choice(statuses),
                        "receiver_name": rng.choice("王李张刘陈") + "先生",
                        "receiver_phone": f"139{order_id:08d}",
                        "receiver_province": province,
                        "receiver_city": city,
                        "receiver_district": district,
                        "receiver_address": f"测试路{order_id}号",
                        "goods_amount_fen": 9900,
                        "paid_amount_fen": 9900,
                        "created_at": at,
                        "updated_at": at,
                        "version": 1,
                    }
                )
                line_rows.append(
                    {
                        "order_id": order_id,
                        "line_no": 1,
                        "sku": f"B-{order_id % 50:03d}",
                        "qty": 1,
                        "unit_price_fen": 9900,
                        "discount_fen": 0,
                    }
                )
                order_id += 1
            with runtime.engine.begin() as connection:
                connection.execute(insert(Order), order_rows)
                connection.execute(insert(OrderLine), line_rows)
            existing += size
            bar.advance(task, size)
    with runtime.engine.begin() as connection:
        if runtime.engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE sales_order"))
            connection.execute(text("ANALYZE order_line"))
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence('sales_order', 'id'), (SELECT max(id) FROM sales_order))")
            )
        else:
            connection.execute(text("ANALYZE"))


def _free_order_no(taken: set[str], channel: str, at: datetime, seed: int) -> str:
    """An order number in the real format that no service-created order holds already."""
    for salt in range(16):
        candidate = f"{CHANNEL_PREFIX[channel]}_{at:%Y%m%d}_{(seed * 16 + salt) % 0x1000000:06x}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    raise RuntimeError("no free order number")


def _bench_list(runtime: Runtime, shops: list[Shop], queries: int) -> list[tuple[str, float, float]]:
    rng = random.Random(3)
    with runtime.reading() as session:
        sample_nos = list(session.scalars(select(Order.order_no).order_by(Order.id.desc()).limit(1000)))
    now = datetime.now(UTC)
    cases = {
        "no filter": lambda: OrderFilters(),
        "status": lambda: OrderFilters(status=rng.choice(list(OrderStatus))),
        "channel": lambda: OrderFilters(channel=rng.choice(BENCH_CHANNELS).value),
        "shop": lambda: OrderFilters(shop_ids=[rng.choice(shops).id]),
        "status + channel": lambda: OrderFilters(
            status=rng.choice(list(OrderStatus)), channel=rng.choice(BENCH_CHANNELS).value
        ),
        "created last 7 days": lambda: OrderFilters(created_from=now - timedelta(days=7)),
        "search order no": lambda: OrderFilters(q=rng.choice(sample_nos)),
    }
    results = []
    for name, make in cases.items():
        samples = []
        for _ in range(queries):
            filters = make()
            started = time.perf_counter()
            with runtime.reading() as session:
                orders.list_orders(session, filters, limit=50)
            samples.append((time.perf_counter() - started) * 1000)
        results.append((name, percentile(samples, 0.5), percentile(samples, 0.95)))
    return results


def run_orders_benchmark(
    settings: Settings, *, create: int, rows: int, queries: int, output: str, console: Console
) -> None:
    runtime = build_runtime(settings)
    database = runtime.engine.dialect.name
    with runtime.engine.connect() as connection:
        version = connection.execute(
            text("SELECT version()" if database == "postgresql" else "SELECT 'SQLite ' || sqlite_version()")
        ).scalar_one()
    shops = _setup(runtime)
    rate = _bench_create(runtime, create, console)
    console.print(f"created {create:,} orders through the service layer: [bold]{rate:,.0f} orders/s[/bold]")
    _bulk_fill(runtime, shops, rows, console)
    results = _bench_list(runtime, shops, queries)
    lines = [
        f"Database: {str(version).split(',')[0]}\n",
        f"- create {create:,} manual orders through `orders.service.create_manual_order` (validation, "
        f"timeline, outbox; one transaction each, one client): **{rate:,.0f} orders/s**",
        f"- list first page (50 orders with lines, newest first) on {rows:,} orders, {queries} queries per filter:",
        "",
        "| filter | p50 ms | p95 ms |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {p50:.1f} | {p95:.1f} |" for name, p50, p95 in results],
    ]
    for name, p50, p95 in results:
        console.print(f"list {name:<22} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
    append_section(output, "orders: create and list", database, lines)
    console.print(f"results appended to {output}")
