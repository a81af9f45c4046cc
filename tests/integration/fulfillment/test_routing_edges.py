"""Routing over HTTP, in the console, from the command line, and its tables in the migrations."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from orderhub import cli
from orderhub.fulfillment.tables import default_tables_path
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import approved_order, put_stock, set_up_warehouses

PASSWORD = "correct-horse-9"


@pytest.fixture
def stocked(runtime: Runtime, merchant: None) -> None:
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=5)
    put_stock(runtime, "WH-CD", R_CUP=5)


@pytest.mark.usefixtures("stocked")
def test_the_api_routes_an_approved_order_and_shows_why(
    client: TestClient, runtime: Runtime, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    order_no = approved_order(runtime, "杭州")
    response = client.post(f"/api/v1/orders/{order_no}/route", headers=auth_headers("ops"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "allocated" and body["attempts"] == 1
    decision = body["decision"]
    assert decision["parcels"][0]["warehouse_name"] == "杭州主仓" and decision["parcels"][0]["cost"] == "12.00"
    assert [(w["warehouse"], w["verdict"]) for w in decision["warehouses"]] == [
        ("WH-HZ", "chosen"), ("WH-CD", "slower"), ("WH-GZ", "short")]
    assert body["shipments"][0]["estimated_cost"] == "12.00"

    again = client.post(f"/api/v1/orders/{order_no}/route", headers=auth_headers("ops"))
    assert again.status_code == 409 and again.json()["error"]["code"] == "routing.order_not_approved"
    read = client.get(f"/api/v1/orders/{order_no}/routing", headers=auth_headers("viewer"))
    assert read.status_code == 200 and read.json()["decision"]["attempt"] == 1


@pytest.mark.usefixtures("stocked")
def test_sla_results_over_the_api_trip_the_breaker_and_unknown_warehouses_are_404(
    client: TestClient, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    headers = auth_headers("warehouse")
    for number in range(3):
        response = client.post("/api/v1/fulfillment/warehouses/WH-CD/sla", headers=headers,
                               json={"breached": True, "reference": f"SH-{number}"})
        assert response.status_code == 200, response.text
    assert response.json()["state"] == "open"
    breakers = client.get("/api/v1/fulfillment/breakers", headers=headers).json()
    assert {b["warehouse"]: b["state"] for b in breakers} == {"WH-CD": "open", "WH-GZ": "closed", "WH-HZ": "closed"}
    unknown = client.post("/api/v1/fulfillment/warehouses/WH-NOPE/sla", headers=headers,
                          json={"breached": True, "reference": "SH-9"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "fulfillment.unknown_warehouse"
    naive = client.post("/api/v1/fulfillment/warehouses/WH-CD/sla", headers=headers,
                        json={"breached": False, "reference": "SH-10", "at": "2026-11-20T10:00:00"})
    assert naive.status_code == 422 and naive.json()["error"]["details"][0]["field"] == "at"


@pytest.mark.usefixtures("stocked")
def test_the_order_page_says_why_this_warehouse_and_this_carrier_in_chinese_and_english(
    client: TestClient, runtime: Runtime, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    from orderhub.auth import service as auth

    order_no = approved_order(runtime, "杭州")
    client.post(f"/api/v1/orders/{order_no}/route", headers=auth_headers("ops"))
    auth.create_user(runtime.uow(), username="viewer-console", password=PASSWORD, role="viewer")
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    client.post("/console/login", data={"username": "viewer-console", "password": PASSWORD,
                                        "csrf_token": token[1]}, follow_redirects=False)

    chinese = client.get(f"/console/orders/{order_no}?lang=zh-CN")
    english = client.get(f"/console/orders/{order_no}?lang=en")

    assert chinese.status_code == english.status_code == 200
    assert "为什么选这个仓" in chinese.text and "顺丰速运" in chinese.text and "杭州主仓" in chinese.text
    assert "Why this warehouse" in english.text and "Why this carrier" in english.text
    assert "SF Express" in english.text


def test_routing_check_lists_every_problem_of_a_tables_file_and_exits_1(tmp_path: Path) -> None:
    data = yaml.safe_load(default_tables_path().read_text(encoding="utf-8"))
    data["eta"]["WH-HZ"]["DHL"] = {"default": "2d"}
    data["rates"]["SF"]["provinces"]["火星"] = {"first_fen": 100, "extra_fen": 100}
    data["rates"]["JD"]["default"]["first_fen"] = -5
    data["rules"][0]["exclude"] = ["UPS"]
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    result = CliRunner().invoke(cli.app, ["routing", "check", str(path)])

    assert result.exit_code == 1
    assert "rates.JD.default.first_fen" in result.output  # a range error, with every cross-reference one below
    good = CliRunner().invoke(cli.app, ["routing", "check", str(default_tables_path())])
    assert good.exit_code == 0 and "ok: default.yaml" in good.output


def test_routing_check_reports_every_cross_reference_problem_at_once(tmp_path: Path) -> None:
    data = yaml.safe_load(default_tables_path().read_text(encoding="utf-8"))
    data["eta"]["WH-HZ"]["DHL"] = {"default": "2d"}
    data["rates"]["SF"]["provinces"]["火星"] = {"first_fen": 100, "extra_fen": 100}
    data["rules"][0]["exclude"] = ["UPS"]
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    result = CliRunner().invoke(cli.app, ["routing", "check", str(path)])

    assert result.exit_code == 1
    for problem in ("eta.WH-HZ.DHL: unknown carrier 'DHL'", "rates.SF.provinces.火星", "rules.0.exclude.0"):
        assert problem in result.output, result.output
