"""The simulators' injected faults happen as configured, repeatably, and their pushes stay verifiable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from orderhub.channels.platforms import InvalidSignature, client_for, parse_push
from orderhub.channels.platforms.base import load_push_json
from orderhub.simulators.platforms import RunningSimulator, SimulatorState, start_platform_simulator

NOW = datetime.now(UTC).replace(microsecond=0)
SKU_CODES = [f"SKU-{number:03d}" for number in range(1, 11)]


class Inbox:
    """OrderHub's push endpoint, stood in for by an httpx MockTransport that keeps what arrives."""

    def __init__(self, answer: Callable[[httpx.Request], int] = lambda request: 200) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.answer(request), json={"ok": True})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


def world(channel: str, *, seed: int = 5, orders: int = 30) -> SimulatorState:
    state = SimulatorState(SKU_CODES, seed=seed)
    state.add_shop(channel, "s1", orders=orders, since=NOW - timedelta(days=2), until=NOW - timedelta(hours=2))
    return state


def with_two_pending_versions(state: SimulatorState, channel: str) -> None:
    """New orders queued (version 1), then moved along (version 2), all still undelivered."""
    state.generate_orders(channel, "s1", 20, since=NOW - timedelta(hours=1), until=NOW - timedelta(minutes=30),
                          push=True)
    state.advance(NOW)


def arrivals(channel: str, state: SimulatorState, inbox: Inbox) -> list[tuple[str, str, datetime | None]]:
    """(order id, delivery id, modified at) of every item, in arrival order, each push verified on the way."""
    credentials = state.shop(channel, "s1").credentials("http://simulator")
    seen = []
    for request in inbox.requests:
        for item in parse_push(channel, credentials, request.headers, request.content, datetime.now(UTC)):
            seen.append((item.channel_order_id, item.message_id, item.modified_at))
    return seen


@pytest.mark.parametrize("channel", ["taobao", "douyin", "shopify", "miniprogram"])
def test_duplicate_pushes_deliver_every_push_twice_with_the_same_delivery_id(channel: str) -> None:
    state = world(channel)
    state.set_faults(channel, "s1", duplicate_pushes=True)
    state.advance(NOW, new_orders=3)
    inbox = Inbox()
    deliveries = state.push_pending("http://orderhub", inbox.client())
    assert deliveries and len(inbox.requests) == 2 * (len(deliveries) // 2)
    for first, second in zip(inbox.requests[::2], inbox.requests[1::2], strict=True):
        assert first.content == second.content and dict(first.headers) == dict(second.headers)
    assert inbox.requests[0].url.path == f"/api/v1/channels/{channel}/s1/push"
    items = arrivals(channel, state, inbox)
    assert len(items) == 2 * len({message_id for _, message_id, _ in items})


@pytest.mark.parametrize("channel", ["jd", "pdd", "douyin", "kuaishou", "shopify", "miniprogram"])
def test_out_of_order_pushes_deliver_an_older_version_after_the_newer_one(channel: str) -> None:
    state = world(channel)
    with_two_pending_versions(state, channel)
    state.set_faults(channel, "s1", out_of_order_pushes=True)
    inbox = Inbox()
    state.push_pending("http://orderhub", inbox.client())
    latest: dict[str, datetime] = {}
    older_after_newer = 0
    for order_id, _, modified_at in arrivals(channel, state, inbox):
        assert modified_at is not None
        if order_id in latest and modified_at < latest[order_id]:
            older_after_newer += 1
        latest[order_id] = max(modified_at, latest.get(order_id, modified_at))
    assert older_after_newer > 0


def test_without_the_fault_versions_arrive_in_order() -> None:
    state = world("shopify")
    with_two_pending_versions(state, "shopify")
    inbox = Inbox()
    state.push_pending("http://orderhub", inbox.client())
    latest: dict[str, datetime] = {}
    for order_id, _, modified_at in arrivals("shopify", state, inbox):
        assert modified_at is not None and modified_at >= latest.get(order_id, modified_at)
        latest[order_id] = modified_at


def test_a_late_copy_of_the_previous_version_follows_when_only_one_change_is_pending() -> None:
    state = world("douyin")
    state.generate_orders("douyin", "s1", 10, since=NOW - timedelta(hours=1), until=NOW - timedelta(minutes=30),
                          push=True)
    state.push_pending("http://orderhub", Inbox().client())
    state.set_faults("douyin", "s1", out_of_order_pushes=True)
    moved = state.advance(NOW)
    inbox = Inbox()
    state.push_pending("http://orderhub", inbox.client())
    items = arrivals("douyin", state, inbox)
    moved_ids = {event.order.order_id for event in moved}
    assert len(items) > len(moved)
    assert {order_id for order_id, _, _ in items} == moved_ids


@pytest.mark.parametrize("channel", ["taobao", "jd", "pdd", "douyin", "kuaishou", "shopify", "miniprogram"])
def test_an_invalid_push_signature_is_detected(channel: str) -> None:
    state = world(channel)
    state.set_faults(channel, "s1", invalid_push_signature=True)
    state.advance(NOW, new_orders=1)
    inbox = Inbox()
    state.push_pending("http://orderhub", inbox.client())
    credentials = state.shop(channel, "s1").credentials("http://simulator")
    assert inbox.requests
    for request in inbox.requests:
        with pytest.raises(InvalidSignature):
            parse_push(channel, credentials, request.headers, request.content, datetime.now(UTC))


def test_deliveries_without_a_2xx_answer_are_queued_again() -> None:
    state = world("jd")
    state.advance(NOW, new_orders=2)
    refused = Inbox(answer=lambda request: 503)
    first = state.push_pending("http://orderhub", refused.client())
    assert first and all(delivery.status == 503 for delivery in first)
    accepted = Inbox()
    second = state.push_pending("http://orderhub", accepted.client())
    assert [d.message_ids for d in second] == [d.message_ids for d in first]
    assert state.push_pending("http://orderhub", Inbox().client()) == []


def test_an_unreachable_receiver_keeps_the_pushes_for_later() -> None:
    state = world("kuaishou")
    state.advance(NOW, new_orders=1)
    pending = len(state.shop("kuaishou", "s1").pending)
    with httpx.Client(timeout=0.5) as http:
        deliveries = state.push_pending("http://127.0.0.1:9", http)
    assert deliveries and all(delivery.status is None for delivery in deliveries)
    assert len(state.shop("kuaishou", "s1").pending) == pending


@pytest.fixture(scope="module")
def drifting() -> Iterator[tuple[SimulatorState, RunningSimulator]]:
    state = SimulatorState(SKU_CODES, seed=9)
    for channel in ("douyin", "pdd", "kuaishou", "miniprogram"):
        state.add_shop(channel, "s1", orders=20, since=NOW - timedelta(days=2), until=NOW - timedelta(hours=2))
    with start_platform_simulator(state) as running:
        yield state, running


def _orders(state: SimulatorState, running: RunningSimulator, channel: str) -> list[dict[str, Any]]:
    with httpx.Client(timeout=5) as http:
        platform = client_for(channel, state.shop(channel, "s1").credentials(running.base_url), http)
        orders: list[dict[str, Any]] = []
        page = None
        while True:
            listed = platform.list_modified(NOW - timedelta(days=3), NOW, page)
            orders.extend(listed.orders)
            if listed.next_page is None:
                return orders
            page = listed.next_page


@pytest.mark.parametrize(("channel", "amount", "documented", "drifted"), [
    ("douyin", lambda raw: raw["order_amount"], int, str),
    ("kuaishou", lambda raw: raw["orderBaseInfo"]["totalFee"], int, str),
    ("miniprogram", lambda raw: raw["paid_amount"], str, Decimal),
])
def test_type_drift_changes_an_amount_field_type_on_the_wire(
    channel: str, amount: Callable[[dict[str, Any]], Any], documented: type, drifted: type,
    drifting: tuple[SimulatorState, RunningSimulator],
) -> None:
    state, running = drifting
    assert {type(amount(raw)) for raw in _orders(state, running, channel)} == {documented}
    state.set_faults(channel, "s1", type_drift=True)
    try:
        values = [amount(raw) for raw in _orders(state, running, channel)]
    finally:
        state.set_faults(channel, "s1", type_drift=False)
    assert {type(value) for value in values} == {drifted}
    if channel == "douyin":
        assert all(value.count(".") == 1 and len(value.split(".")[1]) == 2 for value in values)  # "199.00"


def test_type_drift_turns_every_pdd_amount_into_a_string(drifting: tuple[SimulatorState, RunningSimulator]) -> None:
    state, running = drifting
    assert {type(raw["pay_amount"]) for raw in _orders(state, running, "pdd")} == {Decimal, str}
    state.set_faults("pdd", "s1", type_drift=True)
    try:
        orders = _orders(state, running, "pdd")
    finally:
        state.set_faults("pdd", "s1", type_drift=False)
    assert all(isinstance(raw[name], str) for raw in orders for name in ("pay_amount", "goods_amount", "postage"))


def test_the_control_endpoint_switches_faults_and_rotates_secrets(
    drifting: tuple[SimulatorState, RunningSimulator],
) -> None:
    state, running = drifting
    with httpx.Client(base_url=running.base_url, timeout=5) as http:
        switched = http.post("/_control/douyin/s1/faults", json={"error_rate": 1.0})
        assert switched.status_code == 200 and switched.json()["error_rate"] == 1.0
        credentials = state.shop("douyin", "s1").credentials(running.base_url)
        assert http.post("/douyin/order/searchList", params={"app_key": credentials.app_key}).status_code == 503
        assert http.post("/_control/douyin/s1/faults", json={"error_rate": 0}).json()["error_rate"] == 0
        assert http.post("/_control/douyin/s1/faults", json={"no_such_fault": True}).status_code == 422
        assert http.post("/_control/douyin/nope/faults", json={}).status_code == 404
        old_secret = credentials.app_secret
        rotated = http.post("/_control/douyin/s1/rotate-secret").json()
        assert rotated["app_secret"] != old_secret == state.shop("douyin", "s1").retired_secrets[-1]


def test_faults_drawn_from_the_same_seed_repeat() -> None:
    def outcomes() -> list[str | None]:
        state = world("pdd", seed=21, orders=0)
        state.set_faults("pdd", "s1", error_rate=0.3, rate_limit_rate=0.2)
        shop = state.shop("pdd", "s1")
        return [state.draw_fault(shop) for _ in range(200)]

    first = outcomes()
    assert first == outcomes()
    assert 40 < first.count("error") < 80 and first.count("rate_limited") > 10 and None in first


def test_a_generated_world_has_the_oddities_real_data_has() -> None:
    state = SimulatorState(SKU_CODES, seed=3)
    shop = state.add_shop("taobao", "odd", orders=400, since=NOW - timedelta(days=5), until=NOW)
    orders = list(shop.orders.values())
    assert any(order.receiver.city in ("东莞市", "儋州市", "中山市", "嘉峪关市") and not order.receiver.district
               for order in orders)
    assert any(not order.receiver.district and order.receiver.city not in ("东莞市", "儋州市", "中山市", "嘉峪关市")
               for order in orders)
    assert any(line.listing.sku_code not in SKU_CODES for order in orders for line in order.lines)
    assert any(order.presale for order in orders)
    assert all(len(order.order_id) == 19 and int(order.order_id) > 2**53 for order in orders)
    assert {order.stage.value for order in orders} >= {"paid", "shipped", "finished", "cancelled", "refunded"}
    assert all(order.created_at <= order.modified_at <= NOW for order in orders)


def test_shipped_pdd_orders_carry_a_masked_phone() -> None:
    state = world("pdd", orders=60)
    shop = state.shop("pdd", "s1")
    rendered = [(order, state.render(shop, order)) for order in shop.orders.values()]
    assert any(raw["order_status"] == 1 and "*" not in raw["receiver_phone"] for _, raw in rendered)
    masked = [raw["receiver_phone"] for order, raw in rendered if raw["order_status"] != 1]
    assert masked and all(phone.endswith("****") and len(phone) == 11 for phone in masked)


def test_douyin_pushes_batch_their_messages_and_carry_the_order_id_as_a_big_number() -> None:
    state = world("douyin")
    state.advance(NOW, new_orders=4)
    inbox = Inbox()
    state.push_pending("http://orderhub", inbox.client())
    assert len(inbox.requests) == 1
    messages = load_push_json(inbox.requests[0].content)
    assert len(messages) > 1
    assert all(load_push_json(message["data"])["p_id"] > 2**53 for message in messages)
