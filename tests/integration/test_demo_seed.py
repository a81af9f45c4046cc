"""The demo merchant: its shipped orders carry parcels with tracks, and the lookup example it prints works."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import func, select

from orderhub.demo import lookup_example, seed_demo
from orderhub.logistics.model import TrackingEvent, Waybill
from orderhub.lookup import service as lookup
from orderhub.lookup.service import Stage
from orderhub.orders.model import Order
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime


def test_the_demo_ships_with_tracked_parcels_and_prints_a_lookup_that_finds_one(runtime: Runtime) -> None:
    assert seed_demo(runtime, orders=60, progress=Console(quiet=True)) == 60
    shipped = {OrderStatus.SHIPPED.value, OrderStatus.DELIVERED.value, OrderStatus.COMPLETED.value}
    with runtime.reading() as session:
        unparcelled = session.scalar(
            select(func.count()).select_from(Order)
            .where(Order.status.in_(shipped), ~select(Waybill.id).where(Waybill.order_id == Order.id).exists()))
        events = session.scalar(select(func.count()).select_from(TrackingEvent))
    assert unparcelled == 0 and events
    example = lookup_example(runtime)
    assert example is not None
    with runtime.reading() as session:
        (found,) = lookup.look_up(session, runtime.lookup_guard, reference=example[0], phone=example[1],
                                  client="127.0.0.1")
    assert found.stage is Stage.DELIVERED
    assert found.parcels[0].state == "delivered" and found.parcels[0].events
