"""Every channel end to end against its simulator over real HTTP: pulls, pushes, fetches, write-back.

Exactly once, whatever the path: a platform order pulled twice, pushed twice, pushed out of order
and backfilled ends as one order; unsigned pushes are refused and counted; a rotated key is taken
without a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from orderhub.channels import jobs, writeback
from orderhub.channels import service as channels
from orderhub.channels.model import Channel, ChannelCall, DeadLetter, PullCursor
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.orders import service as orders
from orderhub.orders.model import Order
from orderhub.runtime import Runtime
from orderhub.simulators.platforms import RunningSimulator, SimulatorState, start_platform_simulator

CHANNELS = ["taobao", "tmall", "jd", "pdd", "douyin", "kuaishou", "shopify", "miniprogram"]
SKU_CODES = ["SKU-001", "SKU-002", "SKU-003"]
ORDERS_PER_SHOP = 25


@pytest.fixture
def clock() -> FixedClock:
    # Pushes are signed with the wall clock and refused outside a 5-minute window: stay near it.
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def world(clock: FixedClock) -> Iterator[tuple[SimulatorState, RunningSimulator]]:
    state = SimulatorState(SKU_CODES, seed=7, clock=clock.now)
    for channel in CHANNELS:
        state.add_shop(channel, f"{channel}-1", orders=ORDERS_PER_SHOP, since=clock.now() - timedelta(hours=12),
                       until=clock.now() - timedelta(minutes=5))
    with start_platform_simulator(state) as running:
        yield state, running


@pytest.fixture
def connected(runtime: Runtime, merchant: None, world: tuple[SimulatorState, RunningSimulator]) -> SimulatorState:
    state, running = world
    for channel in CHANNELS:
        simulated = state.shop(channel, f"{channel}-1")
        channels.create_shop(runtime.uow(), channel=Channel(channel), code=f"{channel}-1", name=channel)
        credentials = simulated.credentials(running.base_url)
        channels.set_credentials(runtime.uow(), channel=channel, code=f"{channel}-1", box=runtime.secrets,
                                 app_key=credentials.app_key, app_secret=credentials.app_secret,
                                 access_token=credentials.access_token, api_base_url=credentials.base_url)
    return state


def order_count(runtime: Runtime, channel: str | None = None) -> int:
    with runtime.reading() as session:
        query = select(func.count()).select_from(Order)
        if channel:
            query = query.where(Order.channel == channel)
        return session.scalar(query) or 0


def shop_id(runtime: Runtime, channel: str) -> int:
    with runtime.reading() as session:
        return channels.get_shop(session, channel=channel, code=f"{channel}-1").id


def test_pulling_every_channel_takes_each_order_exactly_once(runtime: Runtime, connected: SimulatorState) -> None:
    with httpx.Client(timeout=5) as http:
        for channel in CHANNELS:
            report = jobs.pull_shop(runtime, shop_id(runtime, channel), http)
            assert report.error is None, (channel, report.error)
            assert report.tally.counts["dead_lettered"] == 0, channel
            assert order_count(runtime, channel) == ORDERS_PER_SHOP, channel
        again = jobs.pull_shop(runtime, shop_id(runtime, "pdd"), http)
    assert again.tally.counts["created"] == 0 and set(again.tally.counts) <= {"unchanged", "stale"}
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0
        cursor = session.get(PullCursor, shop_id(runtime, "taobao"))
        assert cursor is not None and cursor.last_error is None
        big = session.scalars(select(Order.channel_order_id).where(Order.channel == "taobao")).all()
    assert all(len(tid) >= 18 for tid in big)  # ids above 2^53, exact


def test_pushes_duplicated_and_out_of_order_still_make_one_order_each(
    runtime: Runtime, connected: SimulatorState, client: TestClient, clock: FixedClock,
) -> None:
    for channel in ("shopify", "miniprogram", "douyin", "taobao"):
        connected.set_faults(channel, f"{channel}-1", duplicate_pushes=True, out_of_order_pushes=True)
    connected.advance(clock.now(), new_orders=3)
    deliveries = connected.push_pending("http://testserver", client)
    assert deliveries and all(d.status == 200 for d in deliveries)
    fetched = jobs.fetch_notified(runtime)  # notices (Douyin, Taobao, …) name orders the worker fetches
    assert fetched > 0
    for channel in ("shopify", "miniprogram", "douyin", "taobao"):
        assert order_count(runtime, channel) >= 3, channel  # the new orders, at least
    with httpx.Client(timeout=5) as http:
        for channel in ("shopify", "miniprogram", "douyin", "taobao"):
            before = order_count(runtime, channel)
            jobs.pull_shop(runtime, shop_id(runtime, channel), http)
            simulated = len(connected.shop(channel, f"{channel}-1").orders)
            assert order_count(runtime, channel) == simulated >= before, channel


def test_an_unsigned_push_is_refused_counted_and_kept(runtime: Runtime, connected: SimulatorState,
                                                      client: TestClient, clock: FixedClock) -> None:
    connected.set_faults("shopify", "shopify-1", invalid_push_signature=True)
    connected.advance(clock.now(), new_orders=2)
    refused = [d for d in connected.push_pending("http://testserver", client) if d.channel == "shopify"]
    assert refused and {d.status for d in refused} == {401}
    assert order_count(runtime, "shopify") == 0
    with runtime.reading() as session:
        kept = session.scalars(select(DeadLetter).where(DeadLetter.status == "rejected")).all()
        failures = session.scalar(select(func.count()).select_from(ChannelCall).where(ChannelCall.ok.is_(False)))
    assert len(kept) == len(refused) and all(letter.raw_body for letter in kept) and failures == len(refused)


def test_a_rotated_key_is_refused_until_the_new_one_is_stored_without_restart(
    runtime: Runtime, connected: SimulatorState, world: tuple[SimulatorState, RunningSimulator],
) -> None:
    rotated = connected.rotate_secret("jd", "jd-1")
    with httpx.Client(timeout=5) as http:
        failed = jobs.pull_shop(runtime, shop_id(runtime, "jd"), http)
        assert failed.error is not None and order_count(runtime, "jd") == 0
        new = rotated.credentials(world[1].base_url)
        channels.set_credentials(runtime.uow(), channel="jd", code="jd-1", box=runtime.secrets, app_key=new.app_key,
                                 app_secret=new.app_secret, access_token=new.access_token)
        assert jobs.pull_shop(runtime, shop_id(runtime, "jd"), http).error is None
    assert order_count(runtime, "jd") == ORDERS_PER_SHOP


def test_a_backfill_after_an_outage_ingests_every_missed_order_once(runtime: Runtime, connected: SimulatorState,
                                                                   clock: FixedClock) -> None:
    connected.set_faults("pdd", "pdd-1", error_rate=1.0)
    with httpx.Client(timeout=5) as http:
        outage = jobs.pull_shop(runtime, shop_id(runtime, "pdd"), http)
    assert outage.error is not None and order_count(runtime, "pdd") == 0
    connected.set_faults("pdd", "pdd-1", error_rate=0.0)
    for _ in range(2):
        report = jobs.backfill(runtime, channel="pdd", shop_code="pdd-1", start=clock.now() - timedelta(hours=13),
                               end=clock.now())
        assert report.error is None
    assert order_count(runtime, "pdd") == ORDERS_PER_SHOP


def test_shipment_write_back_is_delivered_once_and_shown_on_the_order(runtime: Runtime,
                                                                      connected: SimulatorState) -> None:
    with httpx.Client(timeout=5) as http:
        jobs.pull_shop(runtime, shop_id(runtime, "miniprogram"), http)
    with runtime.reading() as session:
        order = session.scalars(select(Order).where(Order.channel == "miniprogram", Order.status == "paid")).first()
        assert order is not None
    writeback.request_shipment(runtime.uow(), order_no=order.order_no, carrier_code="zhongtong",
                               waybill_no="ZT7788990011", actor=Actor("ops", "api"))
    connected.set_faults("miniprogram", "miniprogram-1", error_rate=1.0)
    assert writeback.deliver_writebacks(runtime) == 0  # 503: retry scheduled, not failed
    connected.set_faults("miniprogram", "miniprogram-1", error_rate=0.0)
    runtime.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    assert writeback.deliver_writebacks(runtime) == 1
    assert writeback.deliver_writebacks(runtime) == 0
    shipments = connected.shop("miniprogram", "miniprogram-1").shipments
    assert [(s.detail["order_id"], s.detail["waybill_no"]) for s in shipments] == [
        (order.channel_order_id, "ZT7788990011")]
    with runtime.reading() as session:
        kinds = [e.kind for e in orders.order_timeline(session, order.order_no)]
    assert kinds[-2:] == ["writeback_requested", "writeback_done"]
