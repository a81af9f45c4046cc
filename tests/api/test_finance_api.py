"""The finance API over HTTP: discrepancies, statements, reconciliation, settlements, the report; 4xx on bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from orderhub.runtime import Runtime
from tests.integration.finance.conftest import (  # noqa: F401 - fixtures shared with the integration tests
    Importer,
    OrderMaker,
    import_bytes,
    make_order,
    pay,
    shops,
    wechat,
)

Headers = Callable[[str], dict[str, str]]
BASE = "/api/v1/finance"


@pytest.fixture
def reconciled(client: TestClient, auth_headers: Headers, make_order: OrderMaker) -> dict[str, str]:  # noqa: F811
    """A short payment and a stray one, uploaded and reconciled through the API."""
    short = make_order(19800)
    bill = wechat(pay(short, 19000, txn="T-1"), pay("STRAY-1", 500, txn="T-2"))
    upload = client.post(f"{BASE}/statements", headers=auth_headers("finance"), data={"source": "wechatpay"},
                         files={"file": ("bill.csv", bill, "text/csv")})
    assert upload.status_code == 201, upload.text
    assert upload.json()["new"] == 2 and upload.json()["format"] == "wechatpay"
    run = client.post(f"{BASE}/reconcile", headers=auth_headers("finance"), json={"date": "2026-11-19"})
    assert run.status_code == 200, run.text
    assert run.json()["order_classes"] == {"amount_mismatch": 1} and run.json()["discrepancies_created"] == 2
    return {"order_no": short.order_no}


def test_the_discrepancy_list_explains_each_item_in_both_languages(
    client: TestClient, auth_headers: Headers, reconciled: dict[str, str]
) -> None:
    response = client.get(f"{BASE}/discrepancies", headers=auth_headers("viewer"), params={"class": "amount_mismatch"})
    assert response.status_code == 200
    (item,) = response.json()["items"]
    assert (item["order_no"], item["expected"], item["actual"], item["difference"]) == (
        reconciled["order_no"], "198.00", "190.00", "-8.00")
    assert item["class_label"] == {"zh-CN": "金额不符", "en": "Amount mismatch"}
    assert "差额 -¥8.00" in item["explanation"]["zh-CN"] and item["owner"] == "finance"
    detail = client.get(f"{BASE}/discrepancies/{item['id']}", headers=auth_headers("viewer")).json()
    assert detail["receivable"]["paid"] == "198.00" and detail["lines"][0]["how"]["en"].startswith("Exact")
    assert [event["action"] for event in detail["events"]] == ["created"]


def test_resolving_and_assigning_over_the_api(client: TestClient, auth_headers: Headers,
                                              reconciled: dict[str, str]) -> None:
    ids = [item["id"] for item in client.get(f"{BASE}/discrepancies", headers=auth_headers("finance")).json()["items"]]
    blank = client.post(f"{BASE}/discrepancies/resolve", headers=auth_headers("finance"), json={"ids": ids,
                                                                                                 "reason": " "})
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "discrepancy.reason_required"
    assigned = client.post(f"{BASE}/discrepancies/assign", headers=auth_headers("finance"),
                           json={"ids": ids, "owner": "li.si"})
    assert assigned.status_code == 200 and {d["owner"] for d in assigned.json()["changed"]} == {"li.si"}
    done = client.post(f"{BASE}/discrepancies/resolve", headers=auth_headers("finance"),
                       json={"ids": ids, "reason": "已核实"})
    assert done.status_code == 200 and {d["status"] for d in done.json()["changed"]} == {"resolved"}
    again = client.post(f"{BASE}/discrepancies/resolve", headers=auth_headers("finance"),
                        json={"ids": ids, "reason": "again"})
    assert again.json()["changed"] == [] and sorted(again.json()["skipped"]) == sorted(ids)
    listed = client.get(f"{BASE}/discrepancies", headers=auth_headers("finance"), params={"status": "unresolved"})
    assert listed.json()["items"] == []


def test_finance_routes_need_a_login_and_the_permission(client: TestClient, auth_headers: Headers,
                                                        runtime: Runtime) -> None:
    assert client.get(f"{BASE}/discrepancies").status_code == 401
    assert client.get(f"{BASE}/discrepancies", headers=auth_headers("warehouse")).status_code == 403
    assert client.get(f"{BASE}/reports/receivables", headers=auth_headers("ops")).status_code == 403
    viewer = auth_headers("viewer")
    assert client.get(f"{BASE}/discrepancies", headers=viewer).status_code == 200
    assert client.post(f"{BASE}/discrepancies/resolve", headers=viewer, json={"ids": [1], "reason": "x"}
                       ).status_code == 403
    assert client.post(f"{BASE}/reconcile", headers=viewer, json={}).status_code == 403


@pytest.mark.usefixtures("reconciled")
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/discrepancies?status=bogus", None),
    ("GET", "/discrepancies?class=bogus", None),
    ("GET", "/discrepancies?channel=nope", None),
    ("GET", "/discrepancies?date_from=2026-13-01", None),
    ("GET", "/discrepancies?cursor=not-a-cursor", None),
    ("GET", "/discrepancies?limit=0", None),
    ("GET", "/discrepancies/999999", None),
    ("GET", "/discrepancies/abc", None),
    ("POST", "/discrepancies/resolve", {"ids": [], "reason": "x"}),
    ("POST", "/discrepancies/resolve", {"ids": ["x"], "reason": "x"}),
    ("POST", "/discrepancies/resolve", {"ids": [999999], "reason": "x"}),
    ("POST", "/discrepancies/resolve", {"ids": list(range(1, 300)), "reason": "x"}),
    ("POST", "/discrepancies/assign", {"ids": [1], "owner": "a b c"}),
    ("POST", "/discrepancies/assign", {"ids": [1], "owner": "x", "extra": 1}),
    ("POST", "/reconcile", {"date": "yesterday"}),
    ("POST", "/reconcile", []),
    ("GET", "/settlements?date_from=2026-11-20&date_to=2026-11-01", None),
    ("GET", "/settlements?date_from=2024-01-01&date_to=2026-11-01", None),
    ("GET", "/settlements/nope/B1", None),
    ("GET", "/settlements/tmall/NO-SUCH-BATCH", None),
    ("GET", "/reports/receivables?channel=nope", None),
])
def test_bad_input_is_a_4xx_with_the_error_shape_never_a_500(
    client: TestClient, auth_headers: Headers, method: str, path: str, body: object
) -> None:
    response = client.request(method, BASE + path, headers=auth_headers("finance"), json=body)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    assert "error" in response.json()


@pytest.mark.parametrize(("name", "data", "fields"), [
    ("bill.csv", b"", {"source": "wechatpay"}),
    ("bill.csv", b"\x00\x01\x02garbage", {"source": "wechatpay"}),
    ("bill.json", b'{"a": 1}', {"source": "alipay"}),
    ("bill.csv", "订单号,金额\nA,1\n".encode(), {"source": "wechatpay"}),
    ("bill.csv", b"x", {"source": "paypal"}),
    ("bill.csv", b"x", {"source": "bank", "format": "bank_nope"}),
    ("..", b"a,b\n", {"source": "pos"}),
    ("bill.xlsx", b"PK\x03\x04 not a zip", {"source": "bank"}),
])
def test_a_statement_upload_that_cannot_be_read_is_refused_with_a_4xx(
    client: TestClient, auth_headers: Headers, name: str, data: bytes, fields: dict[str, str]
) -> None:
    response = client.post(f"{BASE}/statements", headers=auth_headers("finance"), data=fields,
                           files={"file": (name, data, "application/octet-stream")})
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)


def test_settlements_and_the_receivables_report_over_the_api(
    client: TestClient, auth_headers: Headers, reconciled: dict[str, str]
) -> None:
    headers = auth_headers("finance")
    report = client.get(f"{BASE}/reports/receivables", headers=headers,
                        params={"date_from": "2026-11-19", "date_to": "2026-11-19"})
    assert report.status_code == 200
    body = report.json()
    assert [(row["channel"], row["paid"], row["received"]) for row in body["rows"]] == [
        ("phone", "198.00", "190.00"), ("", "0.00", "5.00")]
    assert body["totals"]["outstanding"] == "3.00" and body["totals"]["orders"] == 1
    settlements = client.get(f"{BASE}/settlements", headers=headers)
    assert settlements.status_code == 200 and settlements.json() == {"items": []}
