"""The e-waybill endpoint against the kuaidi100 e-waybill simulator: a number once, carrier failures as 502."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from orderhub.fulfillment import service
from orderhub.fulfillment.tables import load_tables
from orderhub.runtime import Runtime
from orderhub.simulators.ewaybill import EwaybillState, RunningEwaybill
from tests.integration.fulfillment.routing_setup import STAFF, approved_order, put_stock, set_up_warehouses

pytestmark = pytest.mark.usefixtures("merchant")
Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def carrier(runtime: Runtime) -> Iterator[EwaybillState]:
    state = EwaybillState(key="api-key", secret="api-secret", partner_id="HZ-001")
    with RunningEwaybill(state) as server:
        settings = runtime.settings
        settings.ewaybill_url, settings.ewaybill_key = server.order_url, "api-key"
        settings.ewaybill_secret = "api-secret"
        settings.ewaybill_partner_id, settings.ewaybill_sender_mobile = "HZ-001", "057188880000"
        yield state


@pytest.fixture
def order_no(runtime: Runtime) -> str:
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=5)
    number = approved_order(runtime, "杭州", lines=[("R-CUP", 1)])
    service.route_order(runtime.uow(), order_no=number, tables=load_tables(), actor=STAFF)
    return number


def test_a_warehouse_user_gets_the_parcels_waybill_once(
        client: TestClient, auth_headers: Headers, order_no: str, carrier: EwaybillState) -> None:
    url = f"/api/v1/fulfillment/shipments/{order_no}/1/waybill"
    first = client.post(url, headers=auth_headers("warehouse"))
    again = client.post(url, headers=auth_headers("warehouse"))

    assert first.status_code == 200, first.text
    assert first.json()["requested"] and not again.json()["requested"]
    assert again.json()["waybill_no"] == first.json()["waybill_no"] and carrier.calls == 1
    waybill = client.get(f"/api/v1/logistics/waybills/{first.json()['carrier']}/{first.json()['waybill_no']}",
                         headers=auth_headers("warehouse"))
    assert waybill.json()["order_no"] == order_no


def test_carrier_failures_and_unknown_parcels_get_clear_errors(
        client: TestClient, auth_headers: Headers, order_no: str, carrier: EwaybillState) -> None:
    carrier.fail_next = 10
    failed = client.post(f"/api/v1/fulfillment/shipments/{order_no}/1/waybill", headers=auth_headers("warehouse"))
    unknown = client.post(f"/api/v1/fulfillment/shipments/{order_no}/7/waybill", headers=auth_headers("warehouse"))
    viewer = client.post(f"/api/v1/fulfillment/shipments/{order_no}/1/waybill", headers=auth_headers("viewer"))

    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "logistics.ewaybill_unavailable")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "fulfillment.unknown_shipment")
    assert viewer.status_code == 403
