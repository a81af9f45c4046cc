"""`orderhub bench tracking`: kuaidi100 push ingestion with dedup on PostgreSQL, events/s with 30 % duplicates.

Measured over HTTP, as kuaidi100 delivers them: signed form posts (`param`, `sign`) to
`POST /api/v1/logistics/kuaidi100/push` of `orderhub serve --workers N` on loopback, from keep-alive
clients in this process (`benchmarks/loopback.py`, as the order push benchmark). Every push is signed
beforehand; the server verifies it (MD5 + salt), records it for audit, fingerprints its events,
inserts them with `ON CONFLICT DO NOTHING` and row-locks its waybill to follow the state.

Each waybill first gets a seed push of 3 events (in-process, not measured); every measured push then
carries 10 events, the first 3 of which the previous push already stored: 30 % duplicates. Pushes go
round-robin over the waybills, so concurrent requests mostly work on different parcels, as under
real load. At the end the stored events are counted: every distinct event once, every duplicate dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, select, text

from orderhub.benchmarks.loopback import Request, fire, running_server
from orderhub.benchmarks.orders import BenchmarkRefused
from orderhub.benchmarks.report import append_section, percentile
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.model import Channel
from orderhub.core.actor import Actor
from orderhub.core.migrate import upgrade
from orderhub.core.settings import Settings
from orderhub.logistics import service
from orderhub.logistics.kuaidi100 import sign
from orderhub.logistics.model import PushOutcome, TrackingEvent, TrackingPush, Waybill
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.runtime import Runtime, build_runtime

SALT = "bench-tracking-salt"
PUSH_PATH = "/api/v1/logistics/kuaidi100/push"
SHOP = "bench-tracking"
EVENTS_PER_PUSH = 10
REPEATED_PER_PUSH = 3  # 30 % of each push was stored by the push before
WAYBILLS_PER_ORDER = 5
ACTOR = Actor("bench", "cli", frozenset({"logistics.write"}))
START = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
BEIJING = timedelta(hours=8)


@dataclass(frozen=True)
class SignedPush:
    param: str
    sign: str


def _number(index: int) -> str:
    return f"YT8{index:011d}"


def _push(number: str, first: int, count: int) -> SignedPush:
    """A push of events first … first+count-1 of a waybill, newest first, as kuaidi100 writes it."""
    data = []
    for index in reversed(range(first, first + count)):
        at = (START + timedelta(hours=index) + BEIJING).strftime("%Y-%m-%d %H:%M:%S")
        data.append({"context": f"快件已到达【第{index}站】，准备发往下一站", "time": at, "ftime": at, "status": "在途",
                     "areaName": "浙江,杭州市"})
    body = {"status": "polling", "billstatus": "got", "message": "", "autoCheck": "0", "comOld": "", "comNew": "",
            "lastResult": {"message": "ok", "nu": number, "ischeck": "0", "condition": "00", "com": "yuantong",
                           "status": "200", "state": "0", "data": data}}
    param = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return SignedPush(param, sign(param, SALT))


def _setup(runtime: Runtime, waybills: int, console: Console) -> None:
    if runtime.engine.dialect.name != "postgresql":
        raise BenchmarkRefused("the tracking benchmark measures PostgreSQL: set ORDERHUB_DATABASE_URL to an empty one")
    upgrade(runtime.engine)
    with runtime.reading() as session:
        if session.scalar(select(func.count()).select_from(Waybill)):
            raise BenchmarkRefused("the benchmark needs an empty database (point ORDERHUB_DATABASE_URL at a new one)")
    channels.create_shop(runtime.uow(), channel=Channel.PHONE, code=SHOP, name="bench tracking")
    catalog.create_sku(runtime.uow(), code="BT-001", title="商品", list_price_fen=9900)
    order_count = -(-waybills // WAYBILLS_PER_ORDER)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("orders and waybills", total=order_count + waybills)
        order_nos = []
        for _ in range(order_count):
            draft = OrderDraft(
                channel="phone", shop=SHOP, source_type="电话订单",
                receiver=Receiver(name="张三", phone="13800138000", province="浙江省", city="杭州市", district="西湖区",
                                  address="文三路90号"),
                lines=[DraftLine(sku="BT-001", qty=1, unit_price_fen=9900)], paid_amount_fen=9900,
                payment_method="wechat", paid_at=START,
            )
            order_nos.append(orders.create_manual_order(runtime.uow(), draft=draft, actor=ACTOR,
                                                        policy=runtime.policy).order_no)
            progress.advance(task)
        for index in range(waybills):
            service.bind_waybill(runtime.uow(), order_no=order_nos[index // WAYBILLS_PER_ORDER], carrier="YTO",
                                 waybill_no=_number(index), actor=ACTOR)
            service.receive_kuaidi100_push(runtime.uow(), salt=SALT, **_push(_number(index), 0,
                                                                             REPEATED_PER_PUSH).__dict__)
            progress.advance(task)


def _form(push: SignedPush) -> Request:
    return Request(urlencode({"param": push.param, "sign": push.sign}).encode(),
                   {"Content-Type": "application/x-www-form-urlencoded"})


def run_tracking_benchmark(settings: Settings, *, waybills: int, pushes: int, clients: int, workers: int,
                           output: str, console: Console) -> float:
    """Run the benchmark, append its section to `output`; returns events/s."""
    runtime = build_runtime(settings)
    _setup(runtime, waybills, console)
    step = EVENTS_PER_PUSH - REPEATED_PER_PUSH
    work = [_form(_push(_number(w), j * step, EVENTS_PER_PUSH)) for j in range(pushes) for w in range(waybills)]
    with running_server(settings, workers=workers, env={"ORDERHUB_KUAIDI100_SALT": SALT}) as base, \
            Progress(console=console, transient=True) as progress:
        task = progress.add_task("pushes over HTTP", total=len(work))
        load = fire(base, PUSH_PATH, work, clients=clients, answered=lambda: progress.advance(task))
    if load.failures:
        raise RuntimeError(f"{load.failures} of {len(work)} pushes were not acknowledged (HTTP status other than 200)")
    expected = waybills * (REPEATED_PER_PUSH + pushes * step)
    with runtime.reading() as session:
        stored = session.scalar(select(func.count()).select_from(TrackingEvent))
        accepted = session.scalar(select(func.count()).select_from(TrackingPush)
                                  .where(TrackingPush.outcome == PushOutcome.ACCEPTED.value))
        version = str(session.execute(text("SELECT version()")).scalar_one()).split(",")[0]
    if stored != expected:
        raise RuntimeError(f"dedup failed: {stored} events stored, {expected} expected")
    if accepted != waybills * (1 + pushes):
        raise RuntimeError(f"{accepted} pushes accepted, {waybills * (1 + pushes)} sent")
    events = len(work) * EVENTS_PER_PUSH
    rate = events / load.seconds
    p50, p99 = percentile(load.latencies_ms, 0.5), percentile(load.latencies_ms, 0.99)
    console.print(f"{len(work):,} pushes, {events:,} events (30 % duplicates) in {load.seconds:,.1f} s: "
                  f"[bold]{rate:,.0f} events/s[/bold], p50 {p50:.1f} ms, p99 {p99:.1f} ms per push")
    lines = [
        f"Measured over HTTP: {clients} keep-alive clients (threads in one process) post signed kuaidi100 pushes "
        f"to `POST {PUSH_PATH}` of `orderhub serve --workers {workers}` on loopback; {version}.",
        "",
        f"- {len(work):,} signed pushes over {waybills:,} waybills, {EVENTS_PER_PUSH} events each "
        f"({events:,} events, {REPEATED_PER_PUSH} of every {EVENTS_PER_PUSH} already stored: 30 % duplicates): "
        f"**{rate:,.0f} events/s** (target ≥ 2,000), {len(work) / load.seconds:,.0f} pushes/s; "
        f"{load.failures} failed",
        f"- per push, as the client saw it: p50 {p50:.1f} ms, **p99 {p99:.1f} ms** (form parsing, signature check, "
        "audit row, fingerprints, INSERT … ON CONFLICT DO NOTHING, waybill row lock and state)",
        f"- stored {stored:,} distinct events = expected {expected:,}: every duplicate dropped, none lost",
    ]
    append_section(output, f"tracking push ingestion over HTTP: {events:,} events, 30 % duplicates", "postgresql",
                   lines)
    console.print(f"results appended to {output}")
    return rate
