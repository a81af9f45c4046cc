"""Orders pulled from every platform already shipped bring their waybills and parcels (over HTTP, simulators)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from orderhub.channels import jobs
from orderhub.channels import service as channels
from orderhub.channels.model import Channel
from orderhub.core.clock import FixedClock
from orderhub.fulfillment.model import Shipment
from orderhub.fulfillment.platform_shipments import PLATFORM_WAREHOUSE
from orderhub.logistics.carriers import carrier_table
from orderhub.logistics.model import Waybill
from orderhub.orders.model import Order, OrderLine
from orderhub.runtime import Runtime
from orderhub.simulators.platforms import RunningSimulator, SimulatorState, start_platform_simulator

CHANNELS = ["taobao", "tmall", "jd", "pdd", "douyin", "kuaishou", "shopify", "miniprogram"]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def world(clock: FixedClock) -> Iterator[tuple[SimulatorState, RunningSimulator]]:
    state = SimulatorState(["SKU-001", "SKU-002", "SKU-003"], seed=11, clock=clock.now)
    for channel in CHANNELS:
        state.add_shop(channel, f"{channel}-1", orders=40, since=clock.now() - timedelta(hours=12),
                       until=clock.now() - timedelta(minutes=5))
    with start_platform_simulator(state) as running:
        yield state, running


@pytest.mark.usefixtures("merchant")
def test_shipped_platform_orders_record_each_parcel_once(
    runtime: Runtime, world: tuple[SimulatorState, RunningSimulator]
) -> None:
    state, running = world
    with httpx.Client(timeout=5) as http:
        for channel in CHANNELS:
            credentials = state.shop(channel, f"{channel}-1").credentials(running.base_url)
            channels.create_shop(runtime.uow(), channel=Channel(channel), code=f"{channel}-1", name=channel)
            channels.set_credentials(runtime.uow(), channel=channel, code=f"{channel}-1", box=runtime.secrets,
                                     app_key=credentials.app_key, app_secret=credentials.app_secret,
                                     access_token=credentials.access_token, api_base_url=credentials.base_url)
            with runtime.reading() as session:
                shop_id = channels.get_shop(session, channel=channel, code=f"{channel}-1").id
            for _ in range(2):  # pulled twice: still one waybill per parcel
                assert jobs.pull_shop(runtime, shop_id, http).error is None
    with runtime.reading() as session:
        held = {(order_id, number) for order_id, number in session.execute(select(Waybill.order_id, Waybill.number))}
        orders = dict(session.execute(select(Order.channel_order_id, Order.id)).all())
        codes = set(session.scalars(select(Waybill.carrier_code)))
    shipped = {(orders[o.order_id], o.waybill_no) for channel in CHANNELS
               for o in state.shop(channel, f"{channel}-1").orders.values() if o.waybill_no and o.order_id in orders}
    assert shipped and held == shipped
    assert codes <= set(carrier_table().carriers)  # every simulated carrier is recognised
    # Each is a shipped parcel of its order, holding the order's lines (one waybill per simulated order).
    with runtime.reading() as session:
        bound = dict(session.execute(select(Waybill.shipment_id, Waybill.order_id)).all())
        parcels = session.scalars(select(Shipment).options(selectinload(Shipment.lines))).all()
        lines = {(order_id, sku, qty) for order_id, sku, qty in session.execute(
            select(OrderLine.order_id, OrderLine.sku, OrderLine.qty).where(OrderLine.order_id.in_(bound.values())))}
    assert len(parcels) == len(bound) and None not in bound
    assert {(s.id, s.order_id, s.status, s.warehouse_code) for s in parcels} == {
        (shipment_id, order_id, "shipped", PLATFORM_WAREHOUSE) for shipment_id, order_id in bound.items()}
    assert {(s.order_id, line.sku, line.qty) for s in parcels for line in s.lines} == lines
    # A parcel left when the platform says it did (JD and Kuaishou give no time per parcel: the arrival's).
    with runtime.reading() as session:
        left = dict(session.execute(select(Waybill.number, Shipment.updated_at)
                                    .join(Shipment, Shipment.id == Waybill.shipment_id)).all())
    said = {o.waybill_no: o.shipped_at.replace(microsecond=0) for channel in set(CHANNELS) - {"jd", "kuaishou"}
            for o in state.shop(channel, f"{channel}-1").orders.values()
            if o.waybill_no and o.order_id in orders and o.shipped_at}
    assert said and {number: left[number] for number in said} == said
