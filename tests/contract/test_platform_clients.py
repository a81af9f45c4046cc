"""One suite over every platform: its client against its simulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from orderhub.channels.platforms import (
    CredentialsRejected,
    InvalidSignature,
    PlatformClient,
    PlatformError,
    RateLimited,
    ShopCredentials,
    client_for,
    parse_push,
)
from orderhub.core.money import yuan_to_fen
from orderhub.simulators.platforms import RunningSimulator, SimulatorState, Stage, start_platform_simulator
from orderhub.simulators.platforms.wire import dump_json

CHANNELS = ["taobao", "tmall", "jd", "pdd", "douyin", "kuaishou", "shopify", "miniprogram"]
SKU_CODES = [f"SKU-{number:03d}" for number in range(1, 31)]
NOW = datetime.now(UTC).replace(microsecond=0)
SINCE, UNTIL = NOW - timedelta(days=4), NOW - timedelta(hours=1)
PAGE_SIZE = 40


def channel_order_id(channel: str, raw: dict[str, Any]) -> str:
    """Where each platform keeps its order id in the raw object."""
    if channel in ("taobao", "tmall"):
        return str(raw["tid_str"])
    if channel == "kuaishou":
        return str(raw["orderBaseInfo"]["oid"])
    key = {"jd": "orderId", "pdd": "order_sn", "douyin": "order_id", "shopify": "id", "miniprogram": "order_id"}
    return str(raw[key[channel]])


@pytest.fixture(scope="module")
def state() -> SimulatorState:
    world = SimulatorState(SKU_CODES, seed=11)
    for channel in CHANNELS:
        world.add_shop(channel, "main", orders=150, since=SINCE, until=UNTIL)
        world.add_shop(channel, "rotating", orders=5, since=SINCE, until=UNTIL)
        world.add_shop(channel, "faulty", orders=5, since=SINCE, until=UNTIL)
    return world


@pytest.fixture(scope="module")
def simulator(state: SimulatorState) -> Iterator[RunningSimulator]:
    with start_platform_simulator(state) as running:
        yield running


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def client(channel: str, credentials: ShopCredentials, http: httpx.Client) -> PlatformClient:
    return client_for(channel, credentials, http, page_size=PAGE_SIZE)


def credentials(state: SimulatorState, simulator: RunningSimulator, channel: str,
                shop: str = "main") -> ShopCredentials:
    return state.shop(channel, shop).credentials(simulator.base_url)


def list_all(platform: PlatformClient, start: datetime, end: datetime) -> tuple[list[dict[str, Any]], int]:
    orders: list[dict[str, Any]] = []
    page, calls = None, 0
    while True:
        listed = platform.list_modified(start, end, page)
        orders.extend(listed.orders)
        calls += 1
        if listed.next_page is None:
            return orders, calls
        page = listed.next_page


def an_order(state: SimulatorState, channel: str, stage: Stage, shop: str = "main") -> str:
    with state.lock:
        return next(order.order_id for order in state.shop(channel, shop).orders.values() if order.stage is stage)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_modified_window_lists_every_order_once_across_pages(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    start, end = SINCE - timedelta(minutes=30), UNTIL + timedelta(minutes=30)
    expected = {order.order_id for order in state.orders_modified(state.shop(channel, "main"), start, end)}
    orders, calls = list_all(client(channel, credentials(state, simulator, channel), http), start, end)
    seen = Counter(channel_order_id(channel, raw) for raw in orders)
    assert len(expected) == 150
    assert set(seen) == expected
    assert max(seen.values()) == 1
    assert calls >= 4  # 150 orders at 40 a page, whatever the platform's window cutting adds


@pytest.mark.parametrize("channel", CHANNELS)
def test_fetch_order_returns_the_raw_order_exactly(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    shop = state.shop(channel, "main")
    order_id = an_order(state, channel, Stage.FINISHED)
    fetched = client(channel, credentials(state, simulator, channel), http).fetch_order(order_id)
    assert channel_order_id(channel, fetched) == order_id
    assert fetched == json.loads(dump_json(state.render(shop, shop.orders[order_id])), parse_float=Decimal)


def _no_floats(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_no_floats(item) for item in value.values())
    if isinstance(value, list):
        return all(_no_floats(item) for item in value)
    return not isinstance(value, float)


@pytest.mark.parametrize("channel", CHANNELS)
def test_no_amount_or_id_ever_passes_through_float(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    orders, _ = list_all(client(channel, credentials(state, simulator, channel), http), SINCE, UNTIL)
    assert orders and all(_no_floats(raw) for raw in orders)


@pytest.mark.parametrize("channel", ["taobao", "tmall"])
def test_taobao_tids_above_2_to_the_53_come_back_exact(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    orders, _ = list_all(client(channel, credentials(state, simulator, channel), http), SINCE, UNTIL)
    assert all(isinstance(raw["tid"], int) and raw["tid"] > 2**53 for raw in orders)
    assert all(str(raw["tid"]) == raw["tid_str"] for raw in orders)
    assert all(isinstance(line["oid"], int) and str(line["oid"]) == line["oid_str"]
               for raw in orders for line in raw["orders"]["order"])


def test_pdd_money_as_number_and_as_string_both_read_without_float(
    state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    orders, _ = list_all(client("pdd", credentials(state, simulator, "pdd"), http), SINCE, UNTIL)
    kinds = {type(raw["pay_amount"]) for raw in orders}
    assert kinds == {Decimal, str}
    for raw in orders:
        fen = yuan_to_fen(raw["goods_amount"]) - yuan_to_fen(raw["discount_amount"]) + yuan_to_fen(raw["postage"])
        assert yuan_to_fen(raw["pay_amount"]) == fen


@pytest.mark.parametrize("channel", ["douyin", "kuaishou"])
def test_encrypted_receivers_decrypt_to_the_plaintext(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    shop = state.shop(channel, "main")
    order_id = an_order(state, channel, Stage.PAID)
    platform = client(channel, credentials(state, simulator, channel), http)
    raw = platform.fetch_order(order_id)
    receiver = shop.orders[order_id].receiver
    assert receiver.phone not in json.dumps(raw, default=str)
    assert platform.decrypt(raw) == {"name": receiver.name, "phone": receiver.phone,  # type: ignore[attr-defined]
                                     "detail": receiver.detail}


def _platform_sku(channel: str, state: SimulatorState) -> str:
    listing = state.shop(channel, "main").catalog[SKU_CODES[0]]
    return listing.sku_code if channel == "miniprogram" else str(listing.platform_sku_id)


@pytest.mark.parametrize("channel", CHANNELS)
def test_ship_and_stock_write_back_once_per_idempotency_key(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    shop = state.shop(channel, "main")
    platform = client(channel, credentials(state, simulator, channel), http)
    order_id = an_order(state, channel, Stage.PAID)
    for _ in range(2):
        platform.ship(channel_order_id=order_id, carrier_code="zhongtong", waybill_no="75123456789012",
                      idempotency_key=f"ship-{channel}-{order_id}")
    assert [record.detail["waybill_no"] for record in shop.shipments if record.detail["order_id"] == order_id] == [
        "75123456789012"]
    assert shop.orders[order_id].stage is Stage.SHIPPED
    assert shop.orders[order_id].carrier_code == "zhongtong"

    sku = _platform_sku(channel, state)
    for _ in range(2):
        platform.update_stock(platform_sku=sku, quantity=37, idempotency_key=f"stock-{channel}-1")
    platform.update_stock(platform_sku=sku, quantity=36, idempotency_key=f"stock-{channel}-2")
    assert [record.detail["quantity"] for record in shop.stock_updates] == [37, 36]


@pytest.mark.parametrize("channel", CHANNELS)
def test_shipping_an_order_that_is_not_payable_to_ship_is_refused_for_good(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    platform = client(channel, credentials(state, simulator, channel), http)
    with pytest.raises(PlatformError) as refused:
        platform.ship(channel_order_id=an_order(state, channel, Stage.FINISHED), carrier_code="shunfeng",
                      waybill_no="SF0000000000001", idempotency_key=f"late-{channel}")
    assert not refused.value.retryable


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("wrong", ["app_secret", "access_token"])
def test_a_wrong_secret_or_token_is_refused_as_bad_credentials(
    channel: str, wrong: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    if channel == "shopify" and wrong == "app_secret":
        wrong = "access_token"  # Shopify's API authenticates with the token alone; the secret signs webhooks
    bad = dataclasses.replace(credentials(state, simulator, channel), **{wrong: "0" * 32})
    with pytest.raises(CredentialsRejected) as refused:
        client(channel, bad, http).list_modified(SINCE, SINCE + timedelta(minutes=20))
    assert not refused.value.retryable


@pytest.mark.parametrize("channel", CHANNELS)
def test_after_a_key_rotation_the_old_secret_is_refused_and_the_new_one_works(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client
) -> None:
    old = credentials(state, simulator, channel, "rotating")
    state.rotate_secret(channel, "rotating")
    new = credentials(state, simulator, channel, "rotating")
    with pytest.raises(CredentialsRejected):
        client(channel, old, http).list_modified(SINCE, UNTIL)
    orders, _ = list_all(client(channel, new, http), SINCE - timedelta(minutes=30), UNTIL + timedelta(minutes=30))
    assert len(orders) == 5


@pytest.fixture
def faulty(state: SimulatorState) -> Iterator[None]:
    yield
    for channel in CHANNELS:
        state.set_faults(channel, "faulty", error_rate=0.0, rate_limit_rate=0.0, timeout_rate=0.0)


@pytest.mark.parametrize("channel", CHANNELS)
def test_server_errors_are_retryable(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client, faulty: None
) -> None:
    state.set_faults(channel, "faulty", error_rate=1.0)
    with pytest.raises(PlatformError) as failed:
        client(channel, credentials(state, simulator, channel, "faulty"), http).fetch_order("1")
    assert failed.value.retryable and failed.value.status == 503


@pytest.mark.parametrize("channel", CHANNELS)
def test_rate_limiting_is_reported_as_rate_limited(
    channel: str, state: SimulatorState, simulator: RunningSimulator, http: httpx.Client, faulty: None
) -> None:
    state.set_faults(channel, "faulty", rate_limit_rate=1.0)
    with pytest.raises(RateLimited) as limited:
        client(channel, credentials(state, simulator, channel, "faulty"), http).list_modified(SINCE, UNTIL)
    assert limited.value.retryable
    assert limited.value.retry_after is not None and limited.value.retry_after > 0


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_platform_that_does_not_answer_in_time_is_a_retryable_failure(
    channel: str, state: SimulatorState, simulator: RunningSimulator, faulty: None
) -> None:
    state.set_faults(channel, "faulty", timeout_rate=1.0, timeout_seconds=1.0)
    with httpx.Client(timeout=0.2) as impatient, pytest.raises(PlatformError) as failed:
        client(channel, credentials(state, simulator, channel, "faulty"), impatient).list_modified(SINCE, UNTIL)
    assert failed.value.retryable and failed.value.code == "timeout"


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_push_the_platform_would_send_verifies_and_a_tampered_one_does_not(
    channel: str, state: SimulatorState, simulator: RunningSimulator
) -> None:
    shop = state.shop(channel, "main")
    order_id = an_order(state, channel, Stage.FINISHED)
    push = state.push_for_order(channel, "main", order_id)
    creds = credentials(state, simulator, channel)
    items = parse_push(channel, creds, push.headers, push.body, datetime.now(UTC))
    assert [item.channel_order_id for item in items] == [order_id]
    assert items[0].message_id == push.events[0].message_id
    assert items[0].modified_at == shop.orders[order_id].modified_at
    if channel in ("shopify", "miniprogram"):
        assert items[0].order is not None and channel_order_id(channel, items[0].order) == order_id
    else:
        assert items[0].order is None

    tampered = push.body.replace(b"}", b' }', 1)
    with pytest.raises(InvalidSignature):
        parse_push(channel, creds, push.headers, tampered, datetime.now(UTC))
    with pytest.raises(InvalidSignature):
        parse_push(channel, dataclasses.replace(creds, app_secret="f" * 32), push.headers, push.body,
                   datetime.now(UTC))


def test_a_miniprogram_push_outside_the_replay_window_is_refused(
    state: SimulatorState, simulator: RunningSimulator
) -> None:
    push = state.push_for_order("miniprogram", "main", an_order(state, "miniprogram", Stage.PAID))
    with pytest.raises(InvalidSignature):
        parse_push("miniprogram", credentials(state, simulator, "miniprogram"), push.headers, push.body,
                   datetime.now(UTC) + timedelta(minutes=6))


def test_no_client_for_an_unknown_channel(http: httpx.Client) -> None:
    with pytest.raises(ValueError, match="no platform client"):
        client_for("pos", ShopCredentials("k", "s", "t", "http://127.0.0.1:9"), http)
