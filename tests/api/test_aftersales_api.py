"""The after-sales API over HTTP: open, list, read and move cases; 401/403/404/409/422 with nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderhub.runtime import Runtime
from tests.integration.aftersales.conftest import warehouses  # noqa: F401 - the shared stocked merchant
from tests.integration.aftersales.test_aftersales_service import on_hand, order_status, two_line_order

Headers = Callable[[str], dict[str, str]]
BASE = "/api/v1/aftersales"
pytestmark = pytest.mark.usefixtures("warehouses")


def post(client: TestClient, path: str, headers: Headers, body: dict[str, Any], role: str = "ops") -> Any:
    return client.post(f"{BASE}{path}", headers=headers(role), json=body)


def test_a_return_goes_from_request_to_refund_over_http(client: TestClient, auth_headers: Headers,
                                                        runtime: Runtime) -> None:
    number = two_line_order(runtime)
    before = on_hand(runtime, "SKU-001")
    opened = post(client, "", auth_headers, {"order_no": number, "kind": "return", "reason": "尺码不合适",
                                             "lines": [{"line_no": 1, "qty": 1, "refund": "80.00"}]})
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["status"], case["refund"], case["lines"][0]["refund"], case["allowed"]) == \
        ("requested", "80.00", "80.00", ["awaiting_return", "closed", "rejected"])
    case_no = case["case_no"]
    assert post(client, f"/{case_no}/approve", auth_headers, {}).json()["status"] == "awaiting_return"
    received = post(client, f"/{case_no}/receive", auth_headers, {"warehouse": "HZ"})
    assert received.status_code == 200 and received.json()["restock"] == "done"
    refunded = post(client, f"/{case_no}/refund", auth_headers, {})
    assert refunded.json()["status"] == "refunded"
    assert on_hand(runtime, "SKU-001") == before + 1
    assert order_status(runtime, number)[0] == "shipped"
    listed = client.get(BASE, headers=auth_headers("viewer"), params={"order_no": number, "status": "refunded"})
    assert [item["case_no"] for item in listed.json()["items"]] == [case_no]
    timeline = client.get(f"{BASE}/{case_no}/timeline", headers=auth_headers("viewer")).json()["events"]
    assert [(event["kind"], event["to_status"]) for event in timeline] == [
        ("opened", "requested"), ("transition", "awaiting_return"), ("transition", "received"),
        ("restocked", "received"), ("transition", "refunded")]


def test_a_refund_before_shipping_shows_it_needs_interception(client: TestClient, auth_headers: Headers,
                                                              runtime: Runtime) -> None:
    number = two_line_order(runtime, ship=False)
    opened = post(client, "", auth_headers, {"order_no": number, "kind": "refund_only",
                                             "lines": [{"line_no": 2, "qty": 1}]})
    assert opened.json()["needs_interception"] is True
    listed = client.get(BASE, headers=auth_headers("viewer"), params={"needs_interception": "true"}).json()
    assert [item["order_no"] for item in listed["items"]] == [number]
    order = client.get(f"/api/v1/orders/{number}", headers=auth_headers("viewer")).json()
    assert (order["status"], order["hold_reason"]) == ("on_hold", "售后中：拦截")


def test_over_refund_and_bad_lines_are_422_and_change_nothing(client: TestClient, auth_headers: Headers,
                                                               runtime: Runtime) -> None:
    number = two_line_order(runtime)
    too_much = post(client, "", auth_headers, {"order_no": number, "kind": "refund_only",
                                               "lines": [{"line_no": 1, "qty": 2, "refund": "198.01"}]})
    assert too_much.status_code == 422 and too_much.json()["error"]["code"] == "aftersales.over_refund"
    bad = post(client, "", auth_headers, {"order_no": number, "kind": "return",
                                          "lines": [{"line_no": 1, "qty": -1}, {"line_no": 7, "qty": 1},
                                                    {"line_no": 2, "qty": 5}]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "aftersales.invalid"
    assert [d["rule"] for d in bad.json()["error"]["details"]] == \
        ["qty.not_positive", "line.not_in_order", "qty.exceeds_line"]
    fraction = post(client, "", auth_headers, {"order_no": number, "kind": "return",
                                               "lines": [{"line_no": 1, "qty": 1.5}]})
    assert fraction.status_code == 422
    money = post(client, "", auth_headers, {"order_no": number, "kind": "return",
                                            "lines": [{"line_no": 1, "qty": 1, "refund": "1.999"}]})
    assert money.status_code == 422
    unknown = post(client, "", auth_headers, {"order_no": "PH_20261120_ffffff", "kind": "return",
                                              "lines": [{"line_no": 1, "qty": 1}]})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "order.not_found"
    other = two_line_order(runtime, ship=False)
    foreign = post(client, "", auth_headers, {"order_no": other, "kind": "refund_only",
                                              "lines": [{"line_no": 3, "qty": 1}]})
    assert foreign.status_code == 422
    assert client.get(BASE, headers=auth_headers("viewer")).json()["items"] == []
    assert order_status(runtime, number)[0] == "shipped" and order_status(runtime, other)[0] == "approved"


def test_illegal_moves_are_409_and_unknown_cases_404(client: TestClient, auth_headers: Headers,
                                                      runtime: Runtime) -> None:
    number = two_line_order(runtime)
    case_no = post(client, "", auth_headers, {"order_no": number, "kind": "refund_only",
                                              "lines": [{"line_no": 1, "qty": 1}]}).json()["case_no"]
    receive = post(client, f"/{case_no}/receive", auth_headers, {"warehouse": "HZ"})
    assert receive.status_code == 409 and receive.json()["error"]["code"] == "aftersales.illegal_transition"
    assert post(client, f"/{case_no}/reject", auth_headers, {"reason": ""}).status_code == 422
    assert post(client, f"/{case_no}/reject", auth_headers, {"reason": "不符合条件"}).json()["status"] == "rejected"
    assert post(client, f"/{case_no}/refund", auth_headers, {}).status_code == 409
    assert client.get(f"{BASE}/AS_0000000000", headers=auth_headers("viewer")).status_code == 404


def test_the_api_needs_a_token_and_the_handle_permission(client: TestClient, auth_headers: Headers,
                                                         runtime: Runtime) -> None:
    number = two_line_order(runtime)
    body = {"order_no": number, "kind": "refund_only", "lines": [{"line_no": 1, "qty": 1}]}
    assert client.post(BASE, json=body).status_code == 401
    assert client.get(BASE).status_code == 401
    assert client.post(BASE, headers=auth_headers("viewer"), json=body).status_code == 403
    assert client.post(BASE, headers=auth_headers("warehouse"), json=body).status_code == 403
    assert client.get(BASE, headers=auth_headers("viewer")).status_code == 200
    assert order_status(runtime, number)[0] == "shipped"
