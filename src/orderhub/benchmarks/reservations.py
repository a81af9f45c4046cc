"""`orderhub bench reservations`: many clients reserving one hot SKU, beside the raw guarded UPDATE.

Both run on the same PostgreSQL database in the same run, with the same number of clients (one
connection each) and the same attempts, more than there are units: the figure is attempts per
second, and the end state proves nothing was oversold. The raw baseline is one autocommit
`UPDATE … SET available = available - 1 WHERE available >= 1` per attempt and nothing else; a
reservation also writes its reservation row and ledger row and keeps the SKU's low-stock flag:
`inventory.reserve_and_commit` queues for the SKU (an advisory lock) and sends its statement with
the COMMIT.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from rich.console import Console
from sqlalchemy import func, select, text

from orderhub.benchmarks.orders import BenchmarkRefused
from orderhub.benchmarks.report import append_section
from orderhub.catalog import service as catalog
from orderhub.core.actor import Actor
from orderhub.core.db import make_engine
from orderhub.core.migrate import upgrade
from orderhub.core.settings import Settings
from orderhub.inventory import service as inventory
from orderhub.inventory.model import Reservation, WarehouseKind
from orderhub.runtime import build_runtime

HOT = "HOT-001"
RAW_TABLE = "bench_raw_stock"  # written out in the statements below
BENCH = Actor("bench", "cli")


@dataclass(frozen=True)
class Run:
    attempts: int
    successes: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.attempts / self.seconds


def _race(url: str, kind: str, *, clients: int, processes: int, attempts_each: int) -> Run:
    """`clients` spread over `processes` (threads in each, as in `serve --workers N`), all starting together.

    Each race starts right after a CHECKPOINT, so that neither runs into one (PostgreSQL's every five
    minutes by default), which would make it write whole pages to the WAL again for a while.
    """
    _checkpoint(url)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(clients + 1)
    results = context.Queue()
    per_process = [clients // processes + (1 if n < clients % processes else 0) for n in range(processes)]
    first = [sum(per_process[:n]) for n in range(processes)]
    children = [context.Process(target=_client_process, args=(url, kind, first[n], per_process[n], attempts_each,
                                                              start, results)) for n in range(processes)]
    for child in children:
        child.start()
    start.wait()
    began = time.time()
    outcomes = [results.get() for _ in children]
    for child in children:
        child.join()
    failed = [outcome for outcome in outcomes if isinstance(outcome, str)]
    if failed:
        raise RuntimeError(failed[0])
    return Run(clients * attempts_each, sum(wins for wins, _ in outcomes), max(end for _, end in outcomes) - began)


def _checkpoint(url: str) -> None:
    with psycopg.connect(_dsn(url), autocommit=True) as admin:
        try:
            admin.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege as exc:
            raise BenchmarkRefused("the reservation benchmark checkpoints before each race: connect as a "
                                   "superuser or a member of pg_checkpoint") from exc


def _client_process(url: str, kind: str, first: int, clients: int, attempts_each: int, start: Any,
                    results: Any) -> None:
    """One process's clients: threads, each with its own connection, making their attempts."""
    try:
        attempt, close = (_raw_attempts if kind == "raw" else _reservation_attempts)(url, clients, attempts_each)
        wins = [0] * clients
        errors: list[BaseException] = []

        def client(number: int) -> None:
            try:
                start.wait()
                for index in range(attempts_each):
                    wins[number] += attempt(number, (first + number) * attempts_each + index + 1)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        close()
        results.put(repr(errors[0]) if errors else (sum(wins), time.time()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(repr(exc))


def _raw_attempts(url: str, clients: int, _: int) -> tuple[Callable[[int, int], bool], Callable[[], None]]:
    connections = [psycopg.connect(_dsn(url), autocommit=True) for _ in range(clients)]

    def attempt(number: int, _: int) -> bool:
        cursor = connections[number].execute(
            "UPDATE bench_raw_stock SET available = available - 1 WHERE id = 1 AND available >= 1")
        return cursor.rowcount == 1

    def close() -> None:
        for connection in connections:
            connection.close()

    return attempt, close


def _reservation_attempts(url: str, clients: int, _: int) -> tuple[Callable[[int, int], bool], Callable[[], None]]:
    engine = make_engine(url, pool_size=clients, max_overflow=0)
    runtime = build_runtime(Settings(database_url=url, log_json=False), engine=engine)

    def attempt(_: int, order_id: int) -> bool:
        demand = inventory.Demand(order_id=order_id, reference=f"BENCH-{order_id}", lines=[(HOT, 1)])
        with runtime.uow() as uow:
            return not inventory.reserve_and_commit(uow, demand, at=uow.now(), actor=BENCH)

    return attempt, engine.dispose


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def raw_guarded_updates(url: str, *, clients: int, processes: int, attempts_each: int, units: int) -> Run:
    with psycopg.connect(_dsn(url), autocommit=True) as admin:
        admin.execute("CREATE TABLE bench_raw_stock (id int PRIMARY KEY, available int NOT NULL "
                      "CHECK (available >= 0))")
        admin.execute("INSERT INTO bench_raw_stock VALUES (1, %s)", (units,))
    try:
        return _race(url, "raw", clients=clients, processes=processes, attempts_each=attempts_each)
    finally:
        with psycopg.connect(_dsn(url), autocommit=True) as admin:
            admin.execute("DROP TABLE bench_raw_stock")


def run_reservation_benchmark(settings: Settings, *, clients: int, processes: int, units: int, attempts: int,
                              output: str, console: Console) -> None:
    runtime = build_runtime(settings)
    if runtime.engine.dialect.name != "postgresql":
        raise BenchmarkRefused("the reservation benchmark measures PostgreSQL: set ORDERHUB_DATABASE_URL to an "
                               "empty one")
    upgrade(runtime.engine)
    with runtime.reading() as session:
        if session.scalar(select(func.count()).select_from(Reservation)):
            raise BenchmarkRefused("the benchmark needs an empty database (point ORDERHUB_DATABASE_URL at a new one)")
        version = str(session.execute(text("SELECT version()")).scalar_one()).split(",")[0]
    attempts_each = max(1, attempts // clients)
    inventory.create_warehouse(runtime.uow(), code="BENCH", name="bench", kind=WarehouseKind.OWN, province="浙江省",
                               city="杭州市")
    catalog.create_sku(runtime.uow(), code=HOT, title="爆款", list_price_fen=9900)
    inventory.receive(runtime.uow(), sku=HOT, warehouse="BENCH", qty=units, idempotency_key="bench-stock", actor=BENCH)
    url = settings.database_url
    raw = raw_guarded_updates(url, clients=clients, processes=processes, attempts_each=attempts_each, units=units)
    console.print(f"raw guarded UPDATE: {raw.attempts:,} attempts in {raw.seconds:.1f} s: "
                  f"[bold]{raw.rate:,.0f}/s[/bold], {raw.successes:,} succeeded")
    ours = _race(url, "reservations", clients=clients, processes=processes, attempts_each=attempts_each)
    with runtime.reading() as session:
        stock = inventory.availability(session, HOT)
        mismatches = inventory.verify(session)
    oversold = max(0, ours.successes - units) + (stock.on_hand < stock.reserved)
    console.print(f"reservations: {ours.attempts:,} attempts in {ours.seconds:.1f} s: [bold]{ours.rate:,.0f}/s"
                  f"[/bold], {ours.successes:,} reserved, {stock.reserved:,} held, oversold {oversold}")
    ratio = ours.rate / raw.rate
    console.print(f"reservations / raw: [bold]{ratio:.0%}[/bold] (target ≥ 50 %)")
    append_section(output, "inventory: reservations on one hot SKU", "postgresql", [
        f"Database: {version}\n",
        f"- {clients} clients (one connection each, threads in {processes} processes), {units:,} units of one SKU, "
        f"{ours.attempts:,} attempts of one unit each (more than the units); each race starts right after "
        f"a CHECKPOINT",
        f"- raw guarded `UPDATE … WHERE available >= 1` (autocommit): **{raw.rate:,.0f} attempts/s**, "
        f"{raw.successes:,} succeeded",
        f"- `inventory.reserve_and_commit` (reservation and ledger rows, low-stock flag; a transaction each that "
        f"queues for the SKU on an advisory lock and sends its statement with the COMMIT): "
        f"**{ours.rate:,.0f} attempts/s**, "
        f"{ours.successes:,} reserved, {stock.reserved:,} units held, on hand {stock.on_hand:,}; "
        f"oversold: **{oversold}**; ledger check: {len(mismatches)} mismatches",
        f"- reservations / raw: **{ratio:.0%}** (target ≥ 50 %)",
    ])
