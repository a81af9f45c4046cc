"""The warehouse portal API: a 3pl account sees and scans only its warehouse; photos; the daily report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderhub.auth import service as auth
from orderhub.core.clock import FixedClock
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import (
    package_photo,
    routed_in_gz_and_hz,
)

pytestmark = pytest.mark.usefixtures("merchant")
Headers = Callable[[str], dict[str, str]]
PORTAL = "/api/v1/portal"


@pytest.fixture
def orders(runtime: Runtime, tmp_path: Path) -> dict[str, str]:
    return routed_in_gz_and_hz(runtime, tmp_path)


@pytest.fixture
def gz(runtime: Runtime, orders: dict[str, str]) -> dict[str, str]:
    auth.create_user(runtime.uow(), username="gz-3pl", password="correct-horse-9", role="3pl", warehouse="WH-GZ")
    return {"Authorization": f"Bearer {auth.create_token(runtime.uow(), username='gz-3pl', name='pda').secret}"}


def upload(client: TestClient, headers: dict[str, str], order_no: str, content: bytes,
           name: str = "box.jpg") -> tuple[int, dict[str, Any]]:
    response = client.post(f"{PORTAL}/parcels/{order_no}/1/photo", headers=headers,
                           files={"photo": (name, content, "image/jpeg")})
    return response.status_code, response.json()


def code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def refused(answer: tuple[int, dict[str, Any]]) -> tuple[int, str]:
    status, body = answer
    assert body["error"]["message"]
    return status, body["error"]["code"]


def test_a_3pl_account_lists_only_its_parcels_and_another_warehouses_order_is_not_found(
        client: TestClient, gz: dict[str, str], orders: dict[str, str]) -> None:
    listed = client.get(f"{PORTAL}/parcels", headers=gz)

    assert listed.status_code == 200, listed.text
    assert [(p["order_no"], p["status"], p["waybill_no"]) for p in listed.json()["items"]] == [
        (orders["WH-GZ"], "planned", None)]
    assert client.get(f"{PORTAL}/parcels/{orders['WH-GZ']}/1", headers=gz).json()["warehouse"] == "WH-GZ"
    # Another warehouse's order is answered as one that does not exist (404, not 403).
    assert code(client.get(f"{PORTAL}/parcels/{orders['WH-HZ']}/1", headers=gz)) == (
        404, "fulfillment.unknown_shipment")
    assert code(client.get(f"{PORTAL}/parcels/PH_20261120_000000/1", headers=gz)) == (
        404, "fulfillment.unknown_shipment")
    assert code(client.get(f"{PORTAL}/parcels?warehouse=WH-HZ", headers=gz)) == (403, "auth.outside_scope")
    assert code(client.post(f"/api/v1/fulfillment/shipments/{orders['WH-HZ']}/1/waybill", headers=gz)) == (
        404, "fulfillment.unknown_shipment")
    # The order, stock and tracking APIs span every warehouse: not for a 3pl account.
    assert client.get("/api/v1/orders", headers=gz).status_code == 403
    assert client.get(f"/api/v1/orders/{orders['WH-HZ']}", headers=gz).status_code == 403


def test_a_3pl_scan_for_another_warehouse_is_refused_even_when_the_body_names_it(
        client: TestClient, gz: dict[str, str], orders: dict[str, str], clock: FixedClock) -> None:
    def body(order_no: str, warehouse: str) -> dict[str, str]:
        return {"device_id": "pda-gz", "client_event_id": f"e-{warehouse}", "warehouse": warehouse,
                "reference": f"{order_no}-1", "kind": "pick_started", "occurred_at": clock.now().isoformat()}

    assert code(client.post("/api/v1/fulfillment/scans", headers=gz, json=body(orders["WH-HZ"], "WH-HZ"))) == (
        403, "auth.outside_scope")
    assert code(client.post("/api/v1/fulfillment/scans", headers=gz, json=body(orders["WH-HZ"], "WH-GZ"))) == (
        404, "fulfillment.unknown_shipment")
    batch = {"device_id": "pda-gz", "warehouse": "WH-HZ", "scans": [
        {k: v for k, v in body(orders["WH-HZ"], "x").items() if k not in ("device_id", "warehouse")}]}
    assert code(client.post("/api/v1/fulfillment/scans/batch", headers=gz, json=batch)) == (
        403, "auth.outside_scope")
    own = client.post("/api/v1/fulfillment/scans", headers=gz, json=body(orders["WH-GZ"], "WH-GZ"))
    assert own.status_code == 200 and own.json()["shipment_status"] == "picking"


def test_photos_are_checked_and_the_ship_scan_waits_for_one(
        client: TestClient, gz: dict[str, str], orders: dict[str, str], clock: FixedClock, runtime: Runtime,
        tmp_path: Path) -> None:
    order_no = orders["WH-GZ"]
    scan = {"device_id": "pda-gz", "warehouse": "WH-GZ", "reference": f"{order_no}-1"}
    for minute, kind in enumerate(["pick_started", "picked", "packed", "shipped"]):
        response = client.post("/api/v1/fulfillment/scans", headers=gz, json=scan | {
            "client_event_id": f"e-{kind}", "kind": kind,
            "occurred_at": clock.now().replace(minute=minute).isoformat()})
        if kind == "shipped":
            assert code(response) == (409, "fulfillment.photo_required")
            assert "photo" in response.json()["error"]["message"]

    assert upload(client, gz, order_no, b"MZ\x90\x00 an exe renamed to .jpg")[0] == 422
    assert upload(client, gz, order_no, b"MZ")[1]["error"]["code"] == "portal.photo_not_image"
    oversized = package_photo(code=order_no) + b"\x00" * runtime.settings.photo_max_bytes
    assert upload(client, gz, order_no, oversized)[1]["error"]["code"] == "portal.photo_too_large"
    assert upload(client, gz, orders["WH-HZ"], package_photo(code=orders["WH-HZ"]))[0] == 404
    # The photo must show the order number: a code carrying it, not nothing and not another parcel's label.
    assert refused(upload(client, gz, order_no, package_photo(size=(640, 480)))) == (422, "portal.photo_no_code")
    assert refused(upload(client, gz, order_no, package_photo(code=f"{orders['WH-HZ']}-1"))) == (
        422, "portal.photo_wrong_order")
    assert list(tmp_path.rglob("*.*")) == []
    status, stored = upload(client, gz, order_no, package_photo(code=f"{order_no}-1"))
    assert (status, stored["content_type"]) == (201, "image/jpeg")
    assert len(list(tmp_path.rglob("*.jpg"))) == 1
    shown = client.get(f"{PORTAL}/photos/{stored['id']}", headers=gz)
    assert (shown.status_code, shown.headers["content-type"]) == (200, "image/jpeg")
    assert shown.content == package_photo(code=f"{order_no}-1")

    shipped = client.post("/api/v1/fulfillment/scans", headers=gz, json=scan | {
        "client_event_id": "e-shipped-2", "kind": "shipped", "occurred_at": clock.now().replace(minute=5).isoformat(),
        "waybill_no": "SF1500000009"})
    assert shipped.status_code == 200, shipped.text
    parcel = client.get(f"{PORTAL}/parcels/{order_no}/1", headers=gz).json()
    assert (parcel["status"], parcel["waybill_no"], parcel["photos"]) == ("shipped", "SF1500000009", 1)

    report = client.get(f"{PORTAL}/report?date=2026-11-20", headers=gz).json()
    assert {k: report[k] for k in ("warehouse", "shipped", "on_time_rate", "photo_compliance", "wrong_ship_rate")} == {
        "warehouse": "WH-GZ", "shipped": 1, "on_time_rate": 1.0, "photo_compliance": 1.0, "wrong_ship_rate": 0.0}


def test_the_report_is_held_to_the_users_warehouse_and_admins_name_one(
        client: TestClient, gz: dict[str, str], orders: dict[str, str], auth_headers: Headers) -> None:
    assert code(client.get(f"{PORTAL}/report?date=2026-11-20&warehouse=WH-HZ", headers=gz)) == (
        403, "auth.outside_scope")
    assert client.get(f"{PORTAL}/report?date=2026-13-01", headers=gz).status_code == 422
    admin = auth_headers("admin")
    assert code(client.get(f"{PORTAL}/report?date=2026-11-20", headers=admin)) == (422, "request.invalid")
    hz = client.get(f"{PORTAL}/report?date=2026-11-20&warehouse=WH-HZ", headers=admin).json()
    assert (hz["warehouse"], hz["shipped"], hz["on_time_rate"]) == ("WH-HZ", 0, None)
    assert client.get(f"{PORTAL}/parcels", headers=auth_headers("viewer")).status_code == 403


def test_the_photo_rule_can_be_turned_off_and_photos_and_conflicts_stay_in_their_warehouse(
        client: TestClient, gz: dict[str, str], orders: dict[str, str], runtime: Runtime, clock: FixedClock,
        auth_headers: Headers) -> None:
    admin = auth_headers("admin")
    hz_photo = upload(client, admin, orders["WH-HZ"], package_photo(code=orders["WH-HZ"]))[1]
    runtime.settings.photo_order_code = False
    plain = upload(client, gz, orders["WH-GZ"], package_photo(size=(640, 480)))
    assert plain[0] == 201, plain
    assert code(client.get(f"{PORTAL}/photos/{hz_photo['id']}", headers=gz)) == (404, "portal.unknown_photo")
    assert client.get(f"{PORTAL}/photos/{hz_photo['id']}", headers=admin).status_code == 200
    assert code(client.get(f"{PORTAL}/photos/424242", headers=admin)) == (404, "portal.unknown_photo")

    def offline(device: str, warehouse: str, headers: dict[str, str], order_no: str) -> None:
        scan = {"client_event_id": f"{device}-1", "reference": f"{order_no}-1", "kind": "packed",
                "occurred_at": clock.now().isoformat()}
        response = client.post("/api/v1/fulfillment/scans/batch", headers=headers,
                               json={"device_id": device, "warehouse": warehouse, "scans": [scan]})
        assert response.json()["conflicts"] == 1, response.text

    offline("pda-gz", "WH-GZ", gz, orders["WH-GZ"])
    offline("pda-hz", "WH-HZ", admin, orders["WH-HZ"])
    own = client.get(f"{PORTAL}/scan-conflicts", headers=gz).json()["items"]
    everyone = client.get("/api/v1/fulfillment/scan-conflicts", headers=admin).json()["items"]
    assert [c["warehouse"] for c in own] == ["WH-GZ"]
    assert sorted(c["warehouse"] for c in everyone) == ["WH-GZ", "WH-HZ"]
    assert code(client.get(f"{PORTAL}/scan-conflicts?warehouse=WH-HZ", headers=gz)) == (403, "auth.outside_scope")
    hz_conflict = next(c["id"] for c in everyone if c["warehouse"] == "WH-HZ")
    resolve = "/api/v1/fulfillment/scan-conflicts/{}/resolve"
    assert code(client.post(resolve.format(hz_conflict), headers=gz, json={"decision": "dismiss", "note": "x"})) == (
        404, "fulfillment.unknown_scan_conflict")
    mine = client.post(resolve.format(own[0]["id"]), headers=gz, json={"decision": "dismiss", "note": "扫错了"})
    assert (mine.status_code, mine.json()["resolution"]["by"]) == (200, "gz-3pl")
