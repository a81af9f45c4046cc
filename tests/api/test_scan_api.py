"""The scan API (a PDA's calls), the conflicts list and the interception endpoint: happy paths and each error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderhub.core.clock import FixedClock
from orderhub.fulfillment import service
from orderhub.fulfillment.tables import load_tables
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import STAFF, approved_order, put_stock, set_up_warehouses

pytestmark = pytest.mark.usefixtures("merchant")
Headers = Callable[[str], dict[str, str]]
SCANS = "/api/v1/fulfillment/scans"


@pytest.fixture
def order_no(runtime: Runtime) -> str:
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=5)
    number = approved_order(runtime, "杭州", lines=[("R-CUP", 1)])
    service.route_order(runtime.uow(), order_no=number, tables=load_tables(), actor=STAFF)
    return number


def body(order_no: str, kind: str, clock: FixedClock, minutes: int, **extra: Any) -> dict[str, Any]:
    at = clock.now() - timedelta(hours=1) + timedelta(minutes=minutes)
    return {"device_id": "pda-1", "client_event_id": f"e-{kind}", "warehouse": "WH-HZ",
            "reference": f"{order_no}-1", "kind": kind, "occurred_at": at.isoformat()} | extra


def test_a_warehouse_scanner_takes_a_parcel_to_shipped_and_a_replay_is_answered_the_same(
        client: TestClient, auth_headers: Headers, order_no: str, clock: FixedClock) -> None:
    headers = auth_headers("warehouse")
    for minutes, kind in enumerate(["pick_started", "picked", "packed"]):
        response = client.post(SCANS, headers=headers, json=body(order_no, kind, clock, minutes))
        assert response.status_code == 200, response.text
    shipped = body(order_no, "shipped", clock, 5, waybill_no="SF1500000001")
    first = client.post(SCANS, headers=headers, json=shipped).json()
    again = client.post(SCANS, headers=headers, json=shipped).json()

    assert (first["outcome"], first["replay"], first["shipment_status"]) == ("applied", False, "shipped")
    assert (again["outcome"], again["replay"]) == ("applied", True)
    order = client.get(f"/api/v1/orders/{order_no}", headers=headers).json()
    assert order["status"] == "shipped"
    waybill = client.get("/api/v1/logistics/waybills/SF/SF1500000001", headers=headers).json()
    assert waybill["order_no"] == order_no


def test_bad_scans_get_clear_errors(client: TestClient, auth_headers: Headers, order_no: str,
                                    clock: FixedClock) -> None:
    headers = auth_headers("warehouse")
    cases = [
        (body(order_no, "pick_started", clock, 0, reference="nonsense"), 422, "fulfillment.malformed_shipment_ref"),
        (body(order_no, "pick_started", clock, 0, reference="PH_20261120_000000-1"), 404,
         "fulfillment.unknown_shipment"),
        (body(order_no, "pick_started", clock, 0, warehouse="WH-GZ"), 409, "fulfillment.other_warehouse"),
        (body(order_no, "packed", clock, 0), 409, "fulfillment.scan_out_of_order"),
        (body(order_no, "pick_started", clock, 0, waybill_no="##"), 422, "logistics.malformed_waybill"),
        (body(order_no, "teleported", clock, 0), 422, "request.invalid"),
        (body(order_no, "pick_started", clock, 0, occurred_at="2026-11-20T09:00:00"), 422, "request.invalid"),
    ]
    for payload, status, code in cases:
        response = client.post(SCANS, headers=headers, json=payload)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), payload
        assert response.json()["error"]["message"]


def test_an_offline_batch_reports_each_scan_and_lists_its_conflicts(
        client: TestClient, auth_headers: Headers, order_no: str, clock: FixedClock) -> None:
    headers = auth_headers("warehouse")
    scans = [{k: v for k, v in body(order_no, kind, clock, minutes).items() if k not in ("device_id", "warehouse")}
             for minutes, kind in [(2, "picked"), (0, "pick_started"), (1, "packed")]]
    response = client.post(f"{SCANS}/batch", headers=headers,
                           json={"device_id": "pda-1", "warehouse": "WH-HZ", "scans": scans})

    assert response.status_code == 200, response.text
    result = response.json()
    assert [(r["kind"], r["outcome"]) for r in result["results"]] == [
        ("pick_started", "applied"), ("packed", "conflict"), ("picked", "applied")]
    assert (result["applied"], result["conflicts"]) == (2, 1)
    listed = client.get("/api/v1/fulfillment/scan-conflicts", headers=auth_headers("viewer")).json()
    assert [(c["reference"], c["error"]["code"]) for c in listed["items"]] == [
        (f"{order_no}-1", "fulfillment.scan_out_of_order")]
    assert listed["next_cursor"] is None
    assert client.get("/api/v1/fulfillment/scan-conflicts?cursor=x", headers=headers).status_code == 422


def test_interception_is_refused_before_shipping_and_recorded_after(
        client: TestClient, auth_headers: Headers, order_no: str, clock: FixedClock) -> None:
    headers = auth_headers("warehouse")
    url = "/api/v1/logistics/waybills/SF/SF1500000002/interception"
    for minutes, kind in enumerate(["pick_started", "picked"]):
        client.post(SCANS, headers=headers, json=body(order_no, kind, clock, minutes))
    client.post(SCANS, headers=headers, json=body(order_no, "packed", clock, 3, waybill_no="SF1500000002"))
    early = client.post(url, headers=auth_headers("ops"), json={"reason": "退款"})
    assert (early.status_code, early.json()["error"]["code"]) == (409, "logistics.not_interceptable")
    assert client.get(url, headers=headers).status_code == 404
    client.post(SCANS, headers=headers, json=body(order_no, "shipped", clock, 5))

    response = client.post(url, headers=auth_headers("ops"), json={"reason": "售后退款"})

    assert response.status_code == 200, response.text
    assert {k: response.json()[k] for k in ("state", "order_no", "reason")} == {
        "state": "requested", "order_no": order_no, "reason": "售后退款"}
    assert client.get(url, headers=auth_headers("viewer")).json()["state"] == "requested"
    assert client.post(url, headers=auth_headers("ops"), json={"reason": ""}).status_code == 422
    unknown = client.post("/api/v1/logistics/waybills/SF/SF1599999999/interception", headers=auth_headers("ops"),
                          json={"reason": "x"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "logistics.waybill_not_found")


def test_a_conflict_is_resolved_once_through_the_api_and_bad_requests_change_nothing(
        client: TestClient, auth_headers: Headers, order_no: str, clock: FixedClock) -> None:
    headers = auth_headers("warehouse")
    packed = {k: v for k, v in body(order_no, "packed", clock, 1).items() if k not in ("device_id", "warehouse")}
    client.post(f"{SCANS}/batch", headers=headers, json={"device_id": "pda-1", "warehouse": "WH-HZ",
                                                        "scans": [packed]})
    conflicts = "/api/v1/fulfillment/scan-conflicts"
    (conflict,) = client.get(conflicts, headers=headers).json()["items"]
    url = f"{conflicts}/{conflict['id']}/resolve"
    assert (conflict["outcome"], conflict["resolution"]) == ("conflict", None)

    still = client.post(url, headers=headers, json={"decision": "apply", "note": "包裹已打包"})
    assert (still.status_code, still.json()["error"]["code"]) == (409, "fulfillment.conflict_still_refused")
    assert still.json()["error"]["details"][0]["code"] == "fulfillment.scan_out_of_order"
    cases = [
        (url, {"decision": "maybe", "note": "x"}, headers, 422, "request.invalid"),
        (url, {"decision": "dismiss"}, headers, 422, "request.invalid"),
        (url, {"decision": "dismiss", "note": "   "}, headers, 422, "request.invalid"),
        (url, {"decision": "dismiss", "note": "x" * 501}, headers, 422, "request.invalid"),
        (url, {"decision": "dismiss", "note": "a\x00b"}, headers, 422, "request.invalid"),
        (f"{conflicts}/{2**70}/resolve", {"decision": "dismiss", "note": "x"}, headers, 422, "request.invalid"),
        (url, {"decision": "dismiss", "note": "x", "by": "someone"}, headers, 422, "request.invalid"),
        (f"{conflicts}/999999/resolve", {"decision": "dismiss", "note": "x"}, headers, 404,
         "fulfillment.unknown_scan_conflict"),
        (url, {"decision": "dismiss", "note": "x"}, auth_headers("viewer"), 403, "auth.forbidden"),
    ]
    for target, payload, who, status, code in cases:
        response = client.post(target, headers=who, json=payload)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), payload
    assert client.get(conflicts, headers=headers).json()["items"][0]["resolution"] is None

    dismissed = client.post(url, headers=headers, json={"decision": "dismiss", "note": "扫错了"})
    again = client.post(url, headers=headers, json={"decision": "apply", "note": "再来"})

    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["outcome"] == "conflict"
    assert {k: dismissed.json()["resolution"][k] for k in ("decision", "note", "by")} == {
        "decision": "dismissed", "note": "扫错了", "by": "warehouse-user"}
    assert (again.status_code, again.json()["error"]["code"]) == (409, "fulfillment.conflict_resolved")
    assert client.get(conflicts, headers=headers).json()["items"] == []
    settled = client.get(f"{conflicts}?state=resolved", headers=headers).json()["items"]
    assert [(c["id"], c["resolution"]["decision"]) for c in settled] == [(conflict["id"], "dismissed")]
    assert client.get(f"{conflicts}?state=closed", headers=headers).status_code == 422
