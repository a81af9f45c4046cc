"""`orderhub bench push`: signed mini-program pushes against `orderhub serve --workers 2`, orders/s and p99.

The server runs as its own processes (as in production); the load comes from this process over
loopback with keep-alive connections, one thread per client, every request signed beforehand
(`benchmarks/loopback.py`).
Every push carries a new full order, so each request is a real ingestion (signature check, dedup
row, mapping, validation, insert).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from rich.console import Console
from sqlalchemy import func, select

from orderhub.benchmarks.loopback import Request, fire, running_server
from orderhub.benchmarks.report import append_section, percentile
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.model import Channel
from orderhub.channels.signing import miniprogram_signature
from orderhub.core.migrate import upgrade
from orderhub.core.settings import Settings
from orderhub.orders.model import Order
from orderhub.runtime import build_runtime

SHOP = "bench-mp"
SECRET = "bench-push-secret"  # noqa: S105 - the benchmark shop's own throwaway secret


def _order(number: int, now: datetime) -> dict[str, object]:
    stamp = (now + timedelta(seconds=number % 3600)).isoformat()
    return {
        "order_id": f"MPB{number:09d}", "status": "paid", "created_at": stamp, "updated_at": stamp, "paid_at": stamp,
        "buyer": {"openid": f"o6_{number}", "nickname": "bench"},
        "receiver": {"name": "张三", "phone": f"138{number % 100_000_000:08d}", "province": "浙江省", "city": "杭州市",
                     "district": "西湖区", "address": f"文三路{number}号"},
        "lines": [{"line_id": f"L{number}", "sku": f"B-{number % 50:03d}", "title": "商品", "spec": "", "qty": 1,
                   "unit_price": "99.00", "discount": "0.00", "amount": "99.00"}],
        "goods_amount": "99.00", "shipping_fee": "0.00", "discount": "0.00", "paid_amount": "99.00",
        "currency": "CNY", "buyer_memo": "", "seller_memo": "",
    }


def run_push_benchmark(settings: Settings, *, orders: int, clients: int, workers: int, output: str,
                       console: Console) -> None:
    runtime = build_runtime(settings)
    upgrade(runtime.engine)
    with runtime.reading() as session:
        if session.scalar(select(func.count()).select_from(Order)):
            raise SystemExit("the benchmark needs an empty database (point ORDERHUB_DATABASE_URL at a new one)")
    channels.create_shop(runtime.uow(), channel=Channel.MINIPROGRAM, code=SHOP, name="bench")
    channels.set_credentials(runtime.uow(), channel="miniprogram", code=SHOP, box=runtime.secrets, app_key="bench",
                             app_secret=SECRET)
    for index in range(50):
        catalog.create_sku(runtime.uow(), code=f"B-{index:03d}", title=f"商品 {index}", list_price_fen=9900)
    with running_server(settings, workers=workers) as base:
        load = fire(base, f"/api/v1/channels/miniprogram/{SHOP}/push", _signed_pushes(orders), clients=clients)
    with runtime.reading() as session:
        stored = session.scalar(select(func.count()).select_from(Order)) or 0
    latencies, failures = load.latencies_ms, load.failures
    rate = orders / load.seconds
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    console.print(f"{orders:,} pushes, {clients} clients, {workers} server workers: {rate:,.0f} orders/s, "
                  f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failures} failed, {stored:,} orders stored")
    append_section(output, f"channels: push path (serve --workers {workers})", runtime.engine.dialect.name, [
        f"- {orders:,} signed mini-program pushes, each a new full order, from {clients} keep-alive clients "
        f"(threads in one process) to `orderhub serve --workers {workers}` on loopback",
        f"- **{rate:,.0f} orders/s**, latency p50 {p50:.1f} ms, **p99 {p99:.1f} ms**; {failures} failed; "
        f"{stored:,} orders stored (exactly one per push)",
    ])


def _signed_pushes(orders: int) -> list[Request]:
    """Every push body and its headers, made before the clock starts: the load generator shares the
    machine's cores with the server, and its own JSON and signing work would be counted against it."""
    now = datetime.now(UTC)
    stamp = str(int(time.time()))
    pushes = []
    for number in range(orders):
        body = json.dumps({"event_id": f"e{number}", "event": "order.created", "order": _order(number, now)},
                          ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "X-OrderHub-Timestamp": stamp,
                   "X-OrderHub-Signature": miniprogram_signature(SECRET, stamp, body)}
        pushes.append(Request(body, headers))
    return pushes
