"""`orderhub bench tracking`: kuaidi100 push ingestion with dedup on PostgreSQL, events/s with 30 % duplicates.

Measured in-process: several threads call `logistics.service.receive_kuaidi100_push` — the function the
push endpoint calls — each in its own transaction, as concurrent API requests would (no HTTP in the
figure). Every push is signed beforehand and verified (MD5 + salt), recorded for audit, its events
fingerprinted and inserted with `ON CONFLICT DO NOTHING`, and its waybill row-locked to follow the state.

Each waybill first gets a seed push of 3 events (not measured); every measured push then carries 10
events, the first 3 of which the previous push already stored: 30 % duplicates. Pushes go round-robin
over the waybills, so threads mostly work on different parcels, as under real load.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, select, text

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
from orderhub.logistics.model import TrackingEvent, Waybill
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.runtime import Runtime, build_runtime

SALT = "bench-tracking-salt"
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


def run_tracking_benchmark(settings: Settings, *, waybills: int, pushes: int, clients: int, output: str,
                           console: Console) -> float:
    """Run the benchmark, append its section to `output`; returns events/s."""
    runtime = build_runtime(settings)
    _setup(runtime, waybills, console)
    step = EVENTS_PER_PUSH - REPEATED_PER_PUSH
    work = [_push(_number(w), j * step, EVENTS_PER_PUSH) for j in range(pushes) for w in range(waybills)]
    latencies: list[float] = []
    failures: list[BaseException] = []
    cursor = iter(range(len(work)))
    lock = threading.Lock()

    def client(progress: Progress, task: object) -> None:
        mine: list[float] = []
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            began = time.perf_counter()
            try:
                service.receive_kuaidi100_push(runtime.uow(), param=work[index].param, sign=work[index].sign,
                                               salt=SALT)
            except Exception as exc:  # noqa: BLE001 - counted and reported: a benchmark must not hide errors
                failures.append(exc)
            mine.append(time.perf_counter() - began)
            progress.advance(task)  # type: ignore[arg-type]
        with lock:
            latencies.extend(mine)

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("pushes", total=len(work))
        threads = [threading.Thread(target=client, args=(progress, task)) for _ in range(clients)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} pushes failed; first: {failures[0]!r}")
    expected = waybills * (REPEATED_PER_PUSH + pushes * step)
    with runtime.reading() as session:
        stored = session.scalar(select(func.count()).select_from(TrackingEvent))
        version = str(session.execute(text("SELECT version()")).scalar_one()).split(",")[0]
    if stored != expected:
        raise RuntimeError(f"dedup failed: {stored} events stored, {expected} expected")
    events = len(work) * EVENTS_PER_PUSH
    rate = events / seconds
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    console.print(f"{len(work):,} pushes, {events:,} events (30 % duplicates) in {seconds:,.1f} s: "
                  f"[bold]{rate:,.0f} events/s[/bold], p50 {p50:.1f} ms, p99 {p99:.1f} ms per push")
    lines = [
        f"Measured in-process: {clients} threads call `logistics.service.receive_kuaidi100_push` (the push "
        f"endpoint's service function, no HTTP), each push in its own transaction; {version}.",
        "",
        f"- {len(work):,} signed pushes over {waybills:,} waybills, {EVENTS_PER_PUSH} events each "
        f"({events:,} events, {REPEATED_PER_PUSH} of every {EVENTS_PER_PUSH} already stored: 30 % duplicates): "
        f"**{rate:,.0f} events/s** (target ≥ 2,000), {len(work) / seconds:,.0f} pushes/s",
        f"- per push: p50 {p50:.1f} ms, p99 {p99:.1f} ms (signature check, audit row, fingerprints, "
        "INSERT … ON CONFLICT DO NOTHING, waybill row lock and state)",
        f"- stored {stored:,} distinct events = expected {expected:,}: every duplicate dropped, none lost",
    ]
    append_section(output, f"tracking push ingestion: {events:,} events, 30 % duplicates", "postgresql", lines)
    console.print(f"results appended to {output}")
    return rate
