"""The catalog, warehouse and stock API over HTTP: the public contract, and bad input changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.samples import MANUAL_ORDER

pytestmark = pytest.mark.usefixtures("merchant")
Headers = Callable[[str], dict[str, str]]
WAREHOUSE = {"code": "HZ", "name": "杭州仓", "kind": "own", "province": "浙江省", "city": "杭州市"}


@pytest.fixture
def admin(client: TestClient, auth_headers: Headers) -> dict[str, str]:
    headers = auth_headers("admin")
    assert client.post("/api/v1/warehouses", json=WAREHOUSE, headers=headers).status_code == 201
    return headers


def adjust(client: TestClient, headers: dict[str, str], **changes: Any) -> Any:
    body = {"sku": "SKU-001", "warehouse": "HZ", "delta": 20, "reason": "期初入库", "idempotency_key": "init-1"}
    return client.post("/api/v1/inventory/adjustments", json=body | changes, headers=headers)


def test_skus_warehouses_adjustments_and_availability_by_the_contract(
    client: TestClient, admin: dict[str, str], auth_headers: Headers
) -> None:
    sku = client.post("/api/v1/catalog/skus", json={"sku": "SKU-100", "title": "新品", "weight_g": 350,
                                                     "cost_price": "12.50"}, headers=admin)
    assert sku.status_code == 201 and sku.json()["cost_price"] == "12.50" and not sku.json()["bundle"]
    first = adjust(client, admin, sku="SKU-100")
    assert first.status_code == 201 and first.json()["on_hand"] == 20
    again = adjust(client, admin, sku="SKU-100")
    assert again.status_code == 200 and again.json()["replayed"] and again.json()["on_hand"] == 20
    client.post("/api/v1/orders", json=MANUAL_ORDER | {"lines": [
        {"sku": "SKU-100", "qty": 3, "unit_price": "66.00", "discount": "0.00"}], "paid_amount": "198.00"},
                headers=auth_headers("ops"))
    stock = client.get("/api/v1/inventory/SKU-100", headers=auth_headers("viewer"))
    assert stock.status_code == 200
    assert stock.json() | {"warehouses": None} == {"sku": "SKU-100", "available": 17, "on_hand": 20, "reserved": 3,
                                                   "in_transit": 0, "safety": 0, "bundle": False, "low": False,
                                                   "warehouses": None}
    assert stock.json()["warehouses"] == [{"warehouse": "HZ", "on_hand": 20, "reserved": 0, "in_transit": 0,
                                           "safety": 0, "available": 20}]
    assert [w["code"] for w in client.get("/api/v1/warehouses", headers=admin).json()] == ["HZ"]


def test_a_bundle_is_created_with_its_components(client: TestClient, admin: dict[str, str]) -> None:
    made = client.post("/api/v1/catalog/skus", json={"sku": "SET-1", "title": "套装", "weight_g": 900,
                                                      "cost_price": "30.00",
                                                      "components": [{"sku": "SKU-001", "qty": 2}]}, headers=admin)
    assert made.status_code == 201 and made.json()["bundle"]
    missing = client.post("/api/v1/catalog/skus", json={"sku": "SET-2", "title": "套装", "components": [
        {"sku": "SKU-404", "qty": 1}]}, headers=admin)
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "catalog.invalid_bundle"
    assert client.get("/api/v1/inventory/SET-2", headers=admin).status_code == 404


BAD_ADJUSTMENTS: list[tuple[dict[str, Any], int, str]] = [
    ({"delta": -1.5}, 422, "request.invalid"),
    ({"delta": "5"}, 422, "request.invalid"),
    ({"delta": 0}, 422, "inventory.invalid_quantity"),
    ({"delta": -21}, 409, "inventory.below_reserved"),
    ({"sku": "NOPE"}, 422, "catalog.unknown_sku"),
    ({"warehouse": "XX"}, 422, "inventory.unknown_warehouse"),
    ({"reason": ""}, 422, "inventory.reason_required"),
    ({"idempotency_key": "init-1", "delta": 5}, 409, "inventory.idempotency_conflict"),
    ({"unknown_field": 1}, 422, "request.invalid"),
    ({"reason": "'; DROP TABLE sku_stock; --", "delta": -100}, 409, "inventory.below_reserved"),
]


@pytest.mark.parametrize(("changes", "status", "code"), BAD_ADJUSTMENTS)
def test_a_bad_adjustment_gets_a_clear_error_and_changes_nothing(
    client: TestClient, admin: dict[str, str], changes: dict[str, Any], status: int, code: str
) -> None:
    assert adjust(client, admin).status_code == 201
    before = client.get("/api/v1/inventory/SKU-001", headers=admin).json()
    refused = adjust(client, admin, **({"idempotency_key": "bad-1"} | changes))
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["code"] == code
    assert client.get("/api/v1/inventory/SKU-001", headers=admin).json() == before


def test_bad_skus_warehouses_and_transfers_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    cases = [
        ("/api/v1/catalog/skus", {"sku": "SKU-001", "title": "重复"}, 409),
        ("/api/v1/catalog/skus", {"sku": "X", "title": "负价", "cost_price": "-1.00"}, 422),
        ("/api/v1/catalog/skus", {"sku": "X", "title": "小数重量", "weight_g": 1.5}, 422),
        ("/api/v1/warehouses", WAREHOUSE, 409),
        ("/api/v1/warehouses", WAREHOUSE | {"code": "NEW", "kind": "moon"}, 422),
        ("/api/v1/inventory/transfers", {"sku": "SKU-001", "from_warehouse": "HZ", "to_warehouse": "HZ", "qty": 1,
                                         "reason": "x", "idempotency_key": "t1"}, 422),
        ("/api/v1/inventory/transfers", {"sku": "SKU-001", "from_warehouse": "HZ", "to_warehouse": "GZ", "qty": 1,
                                         "reason": "x", "idempotency_key": "t2"}, 422),
    ]
    for path, body, status in cases:
        response = client.post(path, json=body, headers=admin)
        assert response.status_code == status, (path, body, response.text)
        assert set(response.json()["error"]) >= {"code", "message"}
    assert client.get("/api/v1/inventory/NO-SUCH", headers=admin).json()["error"]["code"] == "catalog.sku_not_found"
    assert client.post("/api/v1/inventory/transfers/999/arrival", headers=admin).status_code == 404


def test_a_transfer_arrives_and_safety_stock_limits_what_is_sold(client: TestClient, admin: dict[str, str]) -> None:
    client.post("/api/v1/warehouses", json=WAREHOUSE | {"code": "GZ", "name": "广州仓", "kind": "3pl"}, headers=admin)
    adjust(client, admin)
    sent = client.post("/api/v1/inventory/transfers", json={"sku": "SKU-001", "from_warehouse": "HZ",
                                                            "to_warehouse": "GZ", "qty": 5, "reason": "补货",
                                                            "idempotency_key": "t-1"}, headers=admin)
    assert sent.status_code == 201 and sent.json()["on_hand"] == 15
    arrived = client.post(f"/api/v1/inventory/transfers/{sent.json()['transfer_id']}/arrival", headers=admin)
    assert arrived.json()["warehouse"] == "GZ" and arrived.json()["on_hand"] == 5
    safety = client.put("/api/v1/inventory/SKU-001/safety", json={"safety": 18}, headers=admin)
    assert safety.status_code == 200 and safety.json()["available"] == 2
    assert client.put("/api/v1/inventory/SKU-001/safety", json={"safety": -1}, headers=admin).status_code == 422
