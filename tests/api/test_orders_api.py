"""The orders API over HTTP: happy paths and each error code; bad input never changes data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.samples import MANUAL_ORDER

pytestmark = pytest.mark.usefixtures("merchant")
Headers = Callable[[str], dict[str, str]]


def create(client: TestClient, headers: dict[str, str], **changes: Any) -> Any:
    return client.post("/api/v1/orders", json={**MANUAL_ORDER, **changes}, headers=headers)


def order_count(client: TestClient, headers: dict[str, str]) -> int:
    return len(client.get("/api/v1/orders", params={"limit": 200}, headers=headers).json()["items"])


def test_create_read_and_list_a_manual_order(client: TestClient, auth_headers: Headers) -> None:
    ops = auth_headers("ops")
    created = create(client, ops)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "paid" and body["paid_amount"] == "198.00" and body["goods_amount"] == "198.00"
    assert body["lines"][0] == {
        "line_no": 1,
        "sku": "SKU-001",
        "platform_sku": "",
        "title": "保温杯 500ml",
        "spec": "",
        "qty": 2,
        "unit_price": "99.00",
        "discount": "0.00",
        "amount": "198.00",
    }
    assert body["payment"]["paid_at"].startswith("2026-11-20T02:00:00")
    fetched = client.get(f"/api/v1/orders/{body['order_no']}", headers=auth_headers("viewer")).json()
    assert fetched["order_no"] == body["order_no"] and fetched["receiver"]["adcode"] == "330106"
    listed = client.get(
        "/api/v1/orders", params={"status": "paid", "channel": "phone", "shop": "hq"}, headers=ops
    ).json()
    assert [o["order_no"] for o in listed["items"]] == [body["order_no"]] and listed["next_cursor"] is None


def test_field_errors_all_come_back_at_once_as_422(client: TestClient, auth_headers: Headers) -> None:
    ops = auth_headers("ops")
    response = create(
        client,
        ops,
        receiver={
            "name": "",
            "phone": "12345",
            "province": "浙江省",
            "city": "杭州市",
            "district": "",
            "address": "文三路",
        },
        paid_amount="1.00",
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "order.validation_failed"
    fields = {d["field"] for d in error["details"]}
    assert {"receiver.name", "receiver.phone", "receiver.district", "paid_amount"} <= fields
    assert all({"field", "rule", "message"} <= d.keys() for d in error["details"])
    assert order_count(client, ops) == 0


def test_transitions_and_timeline(client: TestClient, auth_headers: Headers) -> None:
    ops = auth_headers("ops")
    order_no = create(client, ops).json()["order_no"]
    moved = client.post(f"/api/v1/orders/{order_no}/transitions", json={"to": "approved"}, headers=ops)
    assert moved.status_code == 200 and moved.json()["order"]["status"] == "approved"
    held = client.post(f"/api/v1/orders/{order_no}/transitions", json={"to": "on_hold"}, headers=ops)
    assert held.status_code == 422 and held.json()["error"]["code"] == "order.hold_reason_required"
    illegal = client.post(f"/api/v1/orders/{order_no}/transitions", json={"to": "delivered"}, headers=ops)
    assert illegal.status_code == 409 and illegal.json()["error"]["code"] == "order.illegal_transition"
    stale = client.post(f"/api/v1/orders/{order_no}/transitions", json={"to": "allocated", "version": 1}, headers=ops)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "conflict.stale_version"
    timeline = client.get(f"/api/v1/orders/{order_no}/timeline", headers=ops).json()["items"]
    assert [(t["from_status"], t["to_status"], t["source"]) for t in timeline] == [
        (None, "paid", "api"),
        ("paid", "approved", "api"),
    ]


def test_a_large_order_goes_to_a_supervisor_with_202(client: TestClient, auth_headers: Headers) -> None:
    big = {"lines": [{"sku": "SKU-002", "qty": 20, "unit_price": "399.00"}], "paid_amount": "7980.00"}
    order_no = create(client, auth_headers("ops"), **big).json()["order_no"]
    pending = client.post(
        f"/api/v1/orders/{order_no}/transitions", json={"to": "approved"}, headers=auth_headers("ops")
    )
    assert pending.status_code == 202 and pending.json()["approval_pending"] is True
    assert pending.json()["order"]["status"] == "paid"
    approved = client.post(
        f"/api/v1/orders/{order_no}/transitions", json={"to": "approved"}, headers=auth_headers("ops_supervisor")
    )
    assert approved.status_code == 200 and approved.json()["order"]["status"] == "approved"


def test_unknown_order_is_404(client: TestClient, auth_headers: Headers) -> None:
    response = client.get("/api/v1/orders/PH_20261120_000000", headers=auth_headers("viewer"))
    assert response.status_code == 404 and response.json()["error"]["code"] == "order.not_found"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"channel": "phone", "shop": ', 400, "request.malformed_json"),
        (b"not json at all", 400, "request.malformed_json"),
        (b"[]", 422, "request.invalid"),
        (
            b'{"channel": "phone", "shop": "hq", "lines": [{"sku": "SKU-001", "qty": "two", "unit_price": "1.00"}]}',
            422,
            "request.invalid",
        ),
        (
            b'{"channel": "phone", "shop": "hq", "lines": [{"sku": "SKU-001", "qty": 1.5, "unit_price": "1.00"}]}',
            422,
            "request.invalid",
        ),
        (b'{"channel": "phone", "shop": "hq", "paid_amount": 19.8}', 422, "request.invalid"),
        (b'{"channel": "phone", "shop": "hq", "paid_amount": "19.999"}', 422, "request.invalid"),
        (b'{"channel": "phone", "shop": "hq", "surprise": 1}', 422, "request.invalid"),
        (b'{"channel": "fax", "shop": "hq"}', 422, "channel.unknown"),
    ],
)
def test_bad_bodies_get_a_4xx_with_a_code_and_change_nothing(
    client: TestClient, auth_headers: Headers, body: bytes, status: int, code: str
) -> None:
    ops = auth_headers("ops")
    response = client.post("/api/v1/orders", content=body, headers={**ops, "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert order_count(client, ops) == 0


def test_a_body_over_one_mebibyte_is_413(client: TestClient, auth_headers: Headers) -> None:
    ops = auth_headers("ops")
    huge = {**MANUAL_ORDER, "buyer_memo": "x" * (1024 * 1024 + 10)}
    response = client.post("/api/v1/orders", json=huge, headers=ops)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request.too_large"
    assert order_count(client, ops) == 0


def test_unknown_status_filter_and_bad_cursor_are_422(client: TestClient, auth_headers: Headers) -> None:
    viewer = auth_headers("viewer")
    assert client.get("/api/v1/orders", params={"status": "lost"}, headers=viewer).status_code == 422
    bad_cursor = client.get("/api/v1/orders", params={"cursor": "!!!"}, headers=viewer)
    assert bad_cursor.status_code == 422 and bad_cursor.json()["error"]["code"] == "request.invalid_cursor"
    naive = client.get("/api/v1/orders", params={"created_from": "2026-11-20T00:00:00"}, headers=viewer)
    assert naive.status_code == 422
    unknown_transition = client.post(
        "/api/v1/orders/X/transitions", json={"to": "teleported"}, headers=auth_headers("ops")
    )
    assert unknown_transition.status_code == 422


@pytest.mark.parametrize(
    "evil", ["<script>alert(1)</script>", "'; DROP TABLE sales_order; --", "' OR 1=1 --", "{{7*7}}", "\u0000\u202e"]
)
def test_injection_strings_are_stored_verbatim_and_harm_nothing(
    client: TestClient, auth_headers: Headers, evil: str
) -> None:
    ops = auth_headers("ops")
    created = create(client, ops, buyer_memo=evil, seller_memo=evil)
    if "\u0000" in evil:
        assert created.status_code == 422
        assert order_count(client, ops) == 0
        return
    assert created.status_code == 201, created.text
    order_no = created.json()["order_no"]
    assert client.get(f"/api/v1/orders/{order_no}", headers=ops).json()["buyer_memo"] == evil
    searched = client.get("/api/v1/orders", params={"q": evil}, headers=ops)
    assert searched.status_code == 200 and searched.json()["items"] == []
    assert order_count(client, ops) == 1


def test_healthz_and_openapi_are_public(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert "/api/v1/orders" in client.get("/openapi.json").json()["paths"]


def test_every_response_carries_a_request_id(client: TestClient, auth_headers: Callable[[str], dict[str, str]]) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert given.headers["X-Request-ID"] == "trace-42"
    made = client.get("/api/v1/orders/NOPE_20260101_000000", headers=auth_headers("viewer"))
    assert made.status_code == 404
    assert len(made.headers["X-Request-ID"]) == 16
