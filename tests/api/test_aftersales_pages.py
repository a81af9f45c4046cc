"""The after-sales console over HTTP: open a case from an order's lines, handle it, list it; refusals shown."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from orderhub.runtime import Runtime
from tests.api.test_console_pages import HTMX, log_in
from tests.integration.aftersales.conftest import warehouses  # noqa: F401 - the shared stocked merchant
from tests.integration.aftersales.test_aftersales_service import order_status, two_line_order

pytestmark = pytest.mark.usefixtures("warehouses")


def test_staff_open_and_refund_a_case_from_the_console(client: TestClient, runtime: Runtime) -> None:
    number = two_line_order(runtime)
    csrf = log_in(client, runtime, "ops")
    form = client.get("/console/aftersales/new", params={"order_no": number})
    assert form.status_code == 200 and 'name="qty_2"' in form.text and "¥198.00" in form.text
    created = client.post("/console/aftersales/new", follow_redirects=False, data={
        "csrf_token": csrf, "order_no": number, "kind": "refund_only", "qty_1": "1", "refund_1": "50.00",
        "qty_2": "", "reason": "少发配件"})
    assert created.status_code == 303, created.text
    case_url = created.headers["location"]
    detail = client.get(case_url)
    assert "仅退款" in detail.text and "待审核" in detail.text and "¥50.00" in detail.text
    assert order_status(runtime, number)[0] == "refunding"
    approved = client.post(f"{case_url}/approve", data={"csrf_token": csrf}, headers=HTMX)
    assert approved.status_code == 200 and 'id="case-refund"' in approved.text
    refunded = client.post(f"{case_url}/refund", data={"csrf_token": csrf}, headers=HTMX)
    assert "已退款" in refunded.text and 'id="case-refund"' not in refunded.text
    assert order_status(runtime, number)[0] == "shipped"
    listed = client.get("/console/aftersales", params={"status": "refunded", "lang": "en"})
    assert case_url.rsplit("/", 1)[1] in listed.text and "Refund only" in listed.text


def test_a_refused_case_comes_back_with_every_problem_and_nothing_is_stored(client: TestClient,
                                                                          runtime: Runtime) -> None:
    number = two_line_order(runtime)
    csrf = log_in(client, runtime, "ops")
    refused = client.post("/console/aftersales/new", data={
        "csrf_token": csrf, "order_no": number, "kind": "return", "qty_1": "3", "qty_2": "x"})
    assert refused.status_code == 422
    assert "第 2 行数量须为正整数" in refused.text and 'value="3"' in refused.text
    too_many = client.post("/console/aftersales/new", data={
        "csrf_token": csrf, "order_no": number, "kind": "return", "qty_1": "3"})
    assert too_many.status_code == 422 and "超过该行购买数量" in too_many.text
    assert "暂无售后单" in client.get("/console/aftersales").text


def test_an_intercepted_order_is_flagged_and_a_viewer_only_reads(client: TestClient, runtime: Runtime) -> None:
    number = two_line_order(runtime, ship=False)
    csrf = log_in(client, runtime, "ops")
    client.post("/console/aftersales/new", data={"csrf_token": csrf, "order_no": number, "kind": "refund_only",
                                                 "qty_1": "2"})
    page = client.get("/console/aftersales", params={"interception": "1"}).text
    match = re.search(r'href="/console/aftersales/(AS_[0-9a-f]+)"', page)
    assert match is not None and "拦截" in page
    client.post("/console/logout", data={"csrf_token": csrf})
    viewer_csrf = log_in(client, runtime, "viewer")
    detail = client.get(f"/console/aftersales/{match[1]}")
    assert "需拦截包裹" in detail.text and 'id="case-approve"' not in detail.text
    refused = client.post(f"/console/aftersales/{match[1]}/approve", data={"csrf_token": viewer_csrf}, headers=HTMX)
    assert refused.status_code == 403
