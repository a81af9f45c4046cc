"""E-waybills on SQLite and PostgreSQL against the kuaidi100 e-waybill simulator, and the ship scan's write-back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from orderhub.channels import writeback
from orderhub.channels.writeback import SHIP_TOPIC
from orderhub.core.actor import Actor
from orderhub.fulfillment import scans, service
from orderhub.fulfillment.model import ScanKind
from orderhub.fulfillment.scans import Scan
from orderhub.fulfillment.tables import load_tables
from orderhub.logistics import ewaybill
from orderhub.logistics.errors import EwaybillRefused, EwaybillUnavailable, NotWaybillable
from orderhub.logistics.kuaidi100 import label_sign
from orderhub.logistics.model import Waybill
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from orderhub.simulators.ewaybill import EwaybillState, RunningEwaybill
from tests.integration.fulfillment.routing_setup import (
    STAFF,
    approved_order,
    events,
    hold_stock,
    put_stock,
    set_up_warehouses,
)

pytestmark = pytest.mark.usefixtures("merchant", "warehouses")
TABLES = load_tables()
PACKER = Actor("pda-hz-01", "scanner")
KEY, SECRET, PARTNER = "ew-key", "ew-secret", "HZ-MONTHLY-001"


@pytest.fixture
def warehouses(runtime: Runtime, merchant: None) -> None:
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=20)


@pytest.fixture
def carrier() -> Iterator[tuple[EwaybillState, RunningEwaybill]]:
    state = EwaybillState(key=KEY, secret=SECRET, partner_id=PARTNER)
    with RunningEwaybill(state) as server:
        yield state, server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(2.0)) as client:
        yield client


def account(server: RunningEwaybill, *, secret: str = SECRET) -> ewaybill.EwaybillAccount:
    return ewaybill.EwaybillAccount(url=server.order_url, key=KEY, secret=secret, partner_id=PARTNER,
                                    sender_mobile="057188880000")


def routed(runtime: Runtime, order_no: str) -> str:
    service.route_order(runtime.uow(), order_no=order_no, tables=TABLES, actor=STAFF)
    return order_no


def douyin_order(runtime: Runtime) -> str:
    """An approved order of the Douyin shop (a platform told of shipments), to Hangzhou."""
    draft = OrderDraft(
        channel="douyin", shop="dy-flagship", source_type="抖音售后补发",
        receiver=Receiver(name="李四", phone="13900139000", province="浙江省", city="杭州市", district="西湖区",
                          address="文三路90号"),
        lines=[DraftLine(sku="R-CUP", qty=1, unit_price_fen=5000)], paid_amount_fen=5000, payment_method="wechat",
        paid_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
    )
    order = orders.create_manual_order(runtime.uow(), draft=draft, actor=STAFF, policy=runtime.policy)
    hold_stock(runtime, order.id, order.order_no, [("R-CUP", 1)])
    orders.transition_order(runtime.uow(), order_no=order.order_no, target=OrderStatus.APPROVED, reason="审核通过",
                            actor=STAFF, policy=runtime.policy)
    return order.order_no


def waybills(runtime: Runtime, order_no: str) -> list[Waybill]:
    with runtime.reading() as session:
        return list(session.scalars(select(Waybill).where(Waybill.order_no == order_no)))


def ship(runtime: Runtime, order_no: str, *, waybill: str = "") -> list[scans.ScanResult]:
    start = runtime.clock.now()
    results = []
    for step, kind in enumerate((ScanKind.PICK_STARTED, ScanKind.PICKED, ScanKind.PACKED, ScanKind.SHIPPED)):
        scan = Scan("pda-hz-01", f"{order_no}-{kind.value}", "WH-HZ", f"{order_no}-1", kind,
                    start + timedelta(minutes=step), waybill if kind is ScanKind.SHIPPED else "")
        results.append(scans.apply_scan(runtime.uow(), scan=scan, actor=PACKER))
    return results


def test_a_parcel_gets_one_waybill_and_asking_again_returns_it(
        runtime: Runtime, carrier: tuple[EwaybillState, RunningEwaybill], http: httpx.Client) -> None:
    state, server = carrier
    order_no = routed(runtime, approved_order(runtime, "杭州", lines=(("R-CUP", 2),)))

    first = ewaybill.request_waybill(runtime.uow(), order_no=order_no, parcel_no=1, actor=PACKER, http=http,
                                     account=account(server))
    again = ewaybill.request_waybill(runtime.uow(), order_no=order_no, parcel_no=1, actor=PACKER, http=http,
                                     account=account(server))

    assert first.requested and not again.requested
    assert (again.carrier_code, again.waybill_no) == (first.carrier_code, first.waybill_no)
    assert state.calls == 1
    sent = state.issued[first.waybill_no]
    assert sent["recMan"]["name"] == "张三" and sent["sendMan"]["printAddr"].startswith("浙江省杭州市")
    assert sent["kuaidicom"] and sent["weight"] == "0.8" and sent["remark"] == f"{order_no}-1"
    with runtime.reading() as session:
        shipment = service.order_parcel(session, order_no=order_no, parcel_no=1)[1]
    [bound] = waybills(runtime, order_no)
    assert (bound.number, bound.shipment_id, bound.source) == (first.waybill_no, shipment.id, "carrier")
    assert len(events(runtime, "logistics.waybill_bound")) == 1


def test_numbers_are_unique_per_carrier_across_parcels(
        runtime: Runtime, carrier: tuple[EwaybillState, RunningEwaybill], http: httpx.Client) -> None:
    _, server = carrier
    numbers = {ewaybill.request_waybill(runtime.uow(), order_no=routed(runtime, approved_order(runtime, "杭州")),
                                        parcel_no=1, actor=PACKER, http=http, account=account(server)).waybill_no
               for _ in range(3)}
    assert len(numbers) == 3


def test_a_bad_signature_is_refused_by_the_carrier_and_nothing_is_bound(
        runtime: Runtime, carrier: tuple[EwaybillState, RunningEwaybill], http: httpx.Client) -> None:
    state, server = carrier
    order_no = routed(runtime, approved_order(runtime, "杭州"))

    with pytest.raises(EwaybillRefused) as refused:
        ewaybill.request_waybill(runtime.uow(), order_no=order_no, parcel_no=1, actor=PACKER, http=http,
                                 account=account(server, secret="not-the-secret"))

    assert refused.value.status == 502 and refused.value.details[0]["carrier_code"] == "30002"
    assert state.calls == 1  # a refusal is not retried
    assert waybills(runtime, order_no) == []
    [failed] = events(runtime, "logistics.ewaybill_failed")
    assert failed.payload["code"] == "logistics.ewaybill_refused" and not failed.payload["retryable"]
    with runtime.reading() as session:
        assert any(e.kind == "ewaybill_failed" for e in orders.order_timeline(session, order_no))


def test_the_simulator_refuses_bad_signatures_and_incomplete_orders(
        carrier: tuple[EwaybillState, RunningEwaybill], http: httpx.Client) -> None:
    state, server = carrier
    param = json.dumps({"printType": "NON", "partnerId": PARTNER, "kuaidicom": "shunfeng",
                        "recMan": {"name": "张三", "mobile": "13800138000", "printAddr": "杭州"},
                        "sendMan": {"name": "仓", "mobile": "057188880000"}}, ensure_ascii=False)
    t = "1764900000000"

    def post(signature: str, key: str = KEY) -> dict[str, object]:
        form = {"method": "order", "key": key, "t": t, "sign": signature, "param": param}
        return http.post(server.order_url, data=form).json()  # type: ignore[no-any-return]

    assert post("0" * 32)["returnCode"] == "30002"
    assert post(label_sign(param, t, KEY, SECRET), key="other")["returnCode"] == "30003"
    incomplete = post(label_sign(param, t, KEY, SECRET))
    assert (incomplete["result"], incomplete["returnCode"]) == (False, "30001")
    assert "sendMan.printAddr" in str(incomplete["message"])
    assert state.issued == {}


def test_carrier_5xx_is_retried_then_surfaces_as_a_502_with_nothing_bound(
        runtime: Runtime, carrier: tuple[EwaybillState, RunningEwaybill], http: httpx.Client) -> None:
    state, server = carrier
    order_no = routed(runtime, approved_order(runtime, "杭州"))
    state.fail_next, state.fail_status = 5, 503

    with pytest.raises(EwaybillUnavailable) as unavailable:
        ewaybill.request_waybill(runtime.uow(), order_no=order_no, parcel_no=1, actor=PACKER, http=http,
                                 account=account(server))

    assert state.calls == ewaybill.ATTEMPTS
    assert unavailable.value.status == 502 and unavailable.value.retryable
    assert unavailable.value.details == [{"carrier_code": "http.503"}]
    assert waybills(runtime, order_no) == []
    assert len(events(runtime, "logistics.ewaybill_failed")) == 1


def test_a_passing_5xx_is_retried_until_the_number_comes(
        runtime: Runtime, carrier: tuple[EwaybillState, RunningEwaybill], http: httpx.Client) -> None:
    state, server = carrier
    order_no = routed(runtime, approved_order(runtime, "杭州"))
    state.fail_next = ewaybill.ATTEMPTS - 1

    issued = ewaybill.request_waybill(runtime.uow(), order_no=order_no, parcel_no=1, actor=PACKER, http=http,
                                      account=account(server))

    assert issued.requested and state.calls == ewaybill.ATTEMPTS
    assert [w.number for w in waybills(runtime, order_no)] == [issued.waybill_no]


def test_a_carrier_timeout_is_retried_then_surfaces(
        runtime: Runtime, carrier: tuple[EwaybillState, RunningEwaybill]) -> None:
    state, server = carrier
    order_no = routed(runtime, approved_order(runtime, "杭州"))
    state.delay_seconds = 0.5

    with httpx.Client(timeout=httpx.Timeout(0.1)) as impatient, pytest.raises(EwaybillUnavailable) as unavailable:
        ewaybill.request_waybill(runtime.uow(), order_no=order_no, parcel_no=1, actor=PACKER, http=impatient,
                                 account=account(server))

    assert unavailable.value.details == [{"carrier_code": "timeout"}]
    assert waybills(runtime, order_no) == []


def test_a_shipped_parcel_gets_no_new_waybill(
        runtime: Runtime, carrier: tuple[EwaybillState, RunningEwaybill], http: httpx.Client) -> None:
    state, server = carrier
    order_no = routed(runtime, approved_order(runtime, "杭州"))
    ship(runtime, order_no)

    with pytest.raises(NotWaybillable):
        ewaybill.request_waybill(runtime.uow(), order_no=order_no, parcel_no=1, actor=PACKER, http=http,
                                 account=account(server))
    assert state.calls == 0


def test_the_ship_scan_queues_the_write_back_once_with_the_e_waybill(
        runtime: Runtime, carrier: tuple[EwaybillState, RunningEwaybill], http: httpx.Client) -> None:
    _, server = carrier
    order_no = routed(runtime, douyin_order(runtime))
    issued = ewaybill.request_waybill(runtime.uow(), order_no=order_no, parcel_no=1, actor=PACKER, http=http,
                                      account=account(server))

    results = ship(runtime, order_no, waybill=issued.waybill_no)
    replay = ship(runtime, order_no, waybill=issued.waybill_no)

    assert results[-1].outcome == "applied" and all(r.replay for r in replay)
    [request] = events(runtime, SHIP_TOPIC)
    assert (request.key, request.payload["carrier_code"], request.payload["waybill_no"]) == (
        order_no, issued.carrier_code, issued.waybill_no)
    with runtime.reading() as session:
        assert orders.get_order(session, order_no).status == OrderStatus.SHIPPED.value
        assert [e.kind for e in orders.order_timeline(session, order_no)].count("writeback_requested") == 1


def test_a_phone_order_ships_without_a_write_back(runtime: Runtime) -> None:
    order_no = routed(runtime, approved_order(runtime, "杭州"))
    ship(runtime, order_no, waybill="SF1400000009")
    assert events(runtime, SHIP_TOPIC) == []


def test_a_write_back_asked_for_by_hand_is_queued_as_before(runtime: Runtime) -> None:
    order_no = douyin_order(runtime)
    request_id = writeback.request_shipment(runtime.uow(), order_no=order_no, carrier_code="SF",
                                            waybill_no="SF1400000010", actor=STAFF)
    [request] = events(runtime, SHIP_TOPIC)
    assert (request.id, request.payload["waybill_no"]) == (request_id, "SF1400000010")
