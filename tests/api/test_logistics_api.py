"""The logistics API: the kuaidi100 push callback, waybill binding and reading, the order's `tracking` and parcels,
the page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from orderhub.core.actor import Actor
from orderhub.logistics.kuaidi100 import sign
from orderhub.logistics.model import TrackingPush
from orderhub.orders import intake
from orderhub.orders.draft import DraftLine, DraftWaybill, OrderDraft, Receiver
from orderhub.runtime import Runtime
from tests.api.test_console_pages import log_in
from tests.integration.logistics.tracking_setup import NUMBER, SALT, TRACK, manual_order, signed, snapshot

pytestmark = pytest.mark.usefixtures("merchant")
PUSH = "/api/v1/logistics/kuaidi100/push"
Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def salted(runtime: Runtime) -> Runtime:
    runtime.settings.kuaidi100_salt = SALT
    return runtime


def bind(client: TestClient, auth_headers: Headers, order_no: str, **body: str) -> tuple[int, dict[str, object]]:
    response = client.post("/api/v1/logistics/waybills", headers=auth_headers("ops"),
                           json={"order_no": order_no, "carrier": "YTO", "waybill_no": NUMBER} | body)
    return response.status_code, response.json()


def test_a_signed_push_is_acknowledged_as_kuaidi100_expects(client: TestClient, salted: Runtime,
                                                            auth_headers: Headers) -> None:
    assert bind(client, auth_headers, manual_order(salted))[0] == 201
    response = client.post(PUSH, data=signed(snapshot(TRACK[:2])))
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("result", "returnCode", "message")} == {"result": True, "returnCode": "200",
                                                                          "message": "成功"}
    assert (body["outcome"], body["new_events"]) == ("accepted", 2)
    again = client.post(PUSH, data=signed(snapshot(TRACK[:2]))).json()
    assert (again["result"], again["outcome"]) == (True, "repeated")


def test_a_push_with_a_bad_signature_is_refused_401_and_kept(client: TestClient, salted: Runtime) -> None:
    param = snapshot(TRACK)
    response = client.post(PUSH, data={"param": param, "sign": sign(param, "wrong")})
    assert response.status_code == 401
    body = response.json()
    assert (body["result"], body["returnCode"], body["error"]["code"]) == (False, "401", "logistics.push_signature")
    with salted.reading() as session:
        assert session.scalars(select(TrackingPush.outcome)).all() == ["rejected"]


@pytest.mark.parametrize("form", [{"param": "{oops", "sign": sign("{oops", SALT)}, {"sign": "X"}])
def test_a_push_that_cannot_be_read_is_refused_400(client: TestClient, salted: Runtime, form: dict[str, str]) -> None:
    response = client.post(PUSH, data=form)
    if "param" not in form:
        # Without `param` nothing was signed: the signature check refuses it first.
        assert response.status_code == 401
        return
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "logistics.push_malformed"


def test_a_push_of_a_waybill_not_bound_yet_is_acknowledged_and_kept(client: TestClient, salted: Runtime) -> None:
    body = client.post(PUSH, data=signed(snapshot(TRACK[:1]))).json()
    assert (body["result"], body["outcome"]) == (True, "unknown_waybill")


def test_binding_errors_are_clear(client: TestClient, runtime: Runtime, auth_headers: Headers) -> None:
    first, second = manual_order(runtime), manual_order(runtime)
    status, body = bind(client, auth_headers, first, carrier="无名快递")
    assert (status, body["error"]["code"]) == (422, "logistics.unknown_carrier")
    status, body = bind(client, auth_headers, first, waybill_no="YT 1!")
    assert (status, body["error"]["code"]) == (422, "logistics.malformed_waybill")
    status, body = bind(client, auth_headers, "PH_20261120_000000")
    assert (status, body["error"]["code"]) == (404, "order.not_found")
    assert bind(client, auth_headers, first)[0] == 201
    status, body = bind(client, auth_headers, second)
    assert (status, body["error"]["code"]) == (409, "logistics.waybill_taken")
    response = client.post("/api/v1/logistics/waybills", headers=auth_headers("viewer"),
                           json={"order_no": first, "carrier": "YTO", "waybill_no": "YT1111"})
    assert response.status_code == 403


def test_a_waybill_and_the_order_read_show_the_track(client: TestClient, salted: Runtime,
                                                      auth_headers: Headers) -> None:
    order_no = manual_order(salted)
    bind(client, auth_headers, order_no)
    client.post(PUSH, data=signed(snapshot(TRACK)))
    viewer = auth_headers("viewer")
    waybill = client.get(f"/api/v1/logistics/waybills/YTO/{NUMBER}", headers=viewer).json()
    assert (waybill["order_no"], waybill["state"], len(waybill["events"])) == (order_no, "delivered", 4)
    missing = client.get("/api/v1/logistics/waybills/YTO/YT0000000", headers=viewer)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "logistics.waybill_not_found")
    order = client.get(f"/api/v1/orders/{order_no}", headers=viewer).json()
    (parcel,) = order["tracking"]
    assert (parcel["carrier"], parcel["waybill_no"], parcel["state"]) == ("YTO", NUMBER, "delivered")
    assert [e["state"] for e in parcel["events"]] == ["delivered", "out_for_delivery", "in_transit", "collected"]


def test_the_order_page_shows_the_tracking_timeline(client: TestClient, salted: Runtime,
                                                    auth_headers: Headers) -> None:
    order_no = manual_order(salted)
    bind(client, auth_headers, order_no)
    client.post(PUSH, data=signed(snapshot(TRACK)))
    log_in(client, salted, "viewer")
    page = client.get(f"/console/orders/{order_no}")
    assert page.status_code == 200
    assert 'id="tracking"' in page.text and NUMBER in page.text
    assert "已签收" in page.text and "快件已到达【杭州转运中心】" in page.text


def test_an_order_arriving_shipped_shows_its_parcels_in_the_api_and_on_its_page(client: TestClient, salted: Runtime,
                                                                                auth_headers: Headers) -> None:
    lines = [DraftLine(sku="SKU-001", qty=2, unit_price_fen=9900), DraftLine(sku="SKU-002", qty=1, unit_price_fen=100)]
    shipped = OrderDraft(
        channel="douyin", shop="dy-flagship", channel_order_id="DY-7000001",
        receiver=Receiver(name="张三", phone="13800138000", province="浙江省", city="杭州市", district="西湖区",
                          address="文三路90号"),
        lines=lines, paid_amount_fen=19900, status="shipped", channel_status="3",
        platform_modified_at=salted.clock.now(),
        waybills=[DraftWaybill("zhongtong", "ZT7000001", lines=((1, 2),)),
                  DraftWaybill("圆通速递", NUMBER, lines=((2, 1),))],
    )
    order_no = intake.accept_channel_order(salted.uow(), draft=shipped, actor=Actor("douyin", "channel"),
                                           policy=salted.policy).order_no
    client.post(PUSH, data=signed(snapshot(TRACK[:2])))
    routing = client.get(f"/api/v1/orders/{order_no}/routing", headers=auth_headers("viewer")).json()
    assert (routing["decision"]["outcome"], routing["decision"]["source"]) == ("platform_shipped", "platform")
    assert [(s["parcel_no"], s["warehouse"], s["carrier"], s["status"], s["lines"]) for s in routing["shipments"]] == [
        (1, "@platform", "ZTO", "shipped", [{"sku": "SKU-001", "qty": 2}]),
        (2, "@platform", "YTO", "shipped", [{"sku": "SKU-002", "qty": 1}]),
    ]
    log_in(client, salted, "viewer")
    page = client.get(f"/console/orders/{order_no}").text
    assert "平台已发货，未经 OrderHub 分仓" in page and "为什么选这个快递" not in page
    assert "ZT7000001" in page and NUMBER in page and "SKU-002</span> ×1" in page
    assert "快件已到达【杭州转运中心】" in page  # the parcel's track, as for routed parcels
    english = client.get(f"/console/orders/{order_no}?lang=en").text
    assert "Shipped by the platform, not routed by OrderHub" in english
