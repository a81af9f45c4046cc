"""Never oversell: many connections racing for the last units, and a crash between reserving and committing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

import orderhub
from orderhub.core.db import make_engine
from orderhub.core.errors import OrderHubError
from orderhub.inventory import service as inventory
from orderhub.inventory.model import Reservation
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine
from orderhub.orders.model import Order
from orderhub.runtime import Runtime, build_runtime
from tests.integration.inventory.conftest import stock_up
from tests.integration.inventory.test_reservations import BOSS
from tests.integration.orders.test_order_service import phone_draft

pytestmark = pytest.mark.usefixtures("warehouses")
LAST_UNITS = 100


def active_units(runtime: Runtime) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.coalesce(func.sum(Reservation.qty), 0))
                              .where(Reservation.state == "active")) or 0


def test_many_connections_racing_for_the_last_units_reserve_exactly_that_many(
    runtime: Runtime, engine: Engine
) -> None:
    """64 PostgreSQL connections (16 SQLite threads) each place orders of one unit; 100 units, 100 successes."""
    clients = 64 if engine.dialect.name == "postgresql" else 16
    orders_each = (LAST_UNITS * 2) // clients + 1
    stock_up(runtime, "SKU-001", "HZ", 60)
    stock_up(runtime, "SKU-001", "GZ", 40)
    own = make_engine(engine.url.render_as_string(hide_password=False), pool_size=clients, max_overflow=0)
    racing = build_runtime(runtime.settings, clock=runtime.clock, engine=own)
    start = threading.Barrier(clients)
    placed: list[str] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            start.wait()
            for _ in range(orders_each):
                draft = phone_draft(lines=[DraftLine(sku="SKU-001", qty=1, unit_price_fen=9900)], paid_amount_fen=9900)
                placed.append(orders.create_manual_order(racing.uow(), draft=draft, actor=BOSS,
                                                         policy=racing.policy).order_no)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    own.dispose()
    assert errors == []
    assert len(placed) == clients * orders_each  # every order was taken; the late ones hold nothing
    with runtime.reading() as session:
        states = dict(session.execute(select(Reservation.state, func.count()).group_by(Reservation.state)).all())
        assert states == {"active": LAST_UNITS, "short": clients * orders_each - LAST_UNITS}
        assert session.scalar(select(func.count()).select_from(Order)) == clients * orders_each
        assert inventory.verify(session) == []
        stock = inventory.availability(session, "SKU-001")
    assert (stock.on_hand, stock.reserved, stock.available) == (LAST_UNITS, LAST_UNITS, 0)


CRASH = textwrap.dedent("""
    import os, signal, sys
    from datetime import UTC, datetime
    from orderhub.core.actor import Actor
    from orderhub.core.clock import FixedClock
    from orderhub.core.db import UnitOfWork
    from orderhub.core.settings import Settings
    from orderhub.orders import service as orders
    from orderhub.runtime import build_runtime
    from tests.integration.orders.test_order_service import phone_draft

    def die(self):
        self.session.flush()  # the order and its reservation are in the database's open transaction
        print("reserved", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    def die_before_commit(self, *statements):
        # PostgreSQL sends the reservation with the COMMIT: here it runs alone, and the COMMIT never leaves.
        self.session.flush()
        for sql, params in statements:
            self.session.connection().connection.driver_connection.execute(sql, params)
        die(self)

    UnitOfWork.commit = die
    UnitOfWork.commit_with = die_before_commit
    runtime = build_runtime(Settings(database_url=sys.argv[1], log_json=False, secret_key=sys.argv[2]),
                            clock=FixedClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
    orders.create_manual_order(runtime.uow(), draft=phone_draft(), actor=Actor("ops", "api"), policy=runtime.policy)
""")


def test_a_process_killed_between_reserving_and_committing_leaks_nothing(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 5)
    url = runtime.settings.database_url
    secret = runtime.settings.secret_key or ""
    # The child imports this very checkout's package and tests, whichever one is installed.
    path = os.pathsep.join([str(Path(orderhub.__file__).parents[1]), os.getcwd()])
    killed = subprocess.run([sys.executable, "-c", CRASH, url, secret], capture_output=True, text=True, timeout=120,
                            cwd=os.getcwd(), env=os.environ | {"PYTHONPATH": path})
    assert killed.returncode == -9 and "reserved" in killed.stdout, killed.stderr
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        assert session.scalar(select(func.count()).select_from(Reservation)) == 0
        assert inventory.availability(session, "SKU-001").reserved == 0
        assert inventory.verify(session) == []
    # and the stock is there for the next order
    placed = orders.create_manual_order(runtime.uow(), draft=phone_draft(), actor=BOSS, policy=runtime.policy)
    assert active_units(runtime) == 2 and placed.status == "paid"


def test_a_movement_that_would_oversell_a_warehouse_is_refused_under_load(runtime: Runtime) -> None:
    """Adjusting on hand below what orders reserved is refused even when the orders arrived a moment ago."""
    stock_up(runtime, "SKU-002", "HZ", 3)
    draft = phone_draft(lines=[DraftLine(sku="SKU-002", qty=3, unit_price_fen=39900)], paid_amount_fen=119700)
    orders.create_manual_order(runtime.uow(), draft=draft, actor=BOSS, policy=runtime.policy)
    with pytest.raises(OrderHubError) as refused:
        inventory.adjust(runtime.uow(), sku="SKU-002", warehouse="HZ", delta=-1, reason="盘亏",
                         idempotency_key="loss-1", actor=BOSS)
    assert refused.value.code == "inventory.below_reserved"
