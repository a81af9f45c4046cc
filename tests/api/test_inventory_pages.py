"""The inventory console over HTTP: board, SKU page, adjustment and transfer forms, count export and import.

Every refused form comes back with a clear message and leaves the balances as they were.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from orderhub.inventory import service as inventory
from orderhub.runtime import Runtime
from tests.api.test_console_pages import HTMX, log_in
from tests.integration.inventory.conftest import stock_up, warehouses  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("warehouses")


def on_hand(runtime: Runtime, sku: str = "SKU-001") -> dict[str, int]:
    with runtime.reading() as session:
        return {place.warehouse: place.on_hand for place in inventory.availability(session, sku).warehouses}


def ledger_size(runtime: Runtime, sku: str = "SKU-001") -> int:
    with runtime.reading() as session:
        return len(inventory.ledger(session, sku, limit=1000))


def form_key(html: str, form_id: str) -> str:
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', html, flags=re.S)
    assert form is not None
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form[0])
    assert key is not None
    return key[1]


def adjust(client: TestClient, csrf: str, **fields: Any) -> Any:
    page = client.get("/console/inventory/skus/SKU-001").text
    body = {"csrf_token": csrf, "warehouse": "HZ", "delta": "-2", "reason": "仓内破损",
            "idempotency_key": form_key(page, "adjust-form"), **fields}
    return client.post("/console/inventory/skus/SKU-001/adjust", data=body, headers=HTMX)


def test_the_console_asks_for_a_login_first(client: TestClient) -> None:
    assert client.get("/console/inventory", follow_redirects=False).status_code == 303
    response = client.post("/console/inventory/skus/SKU-001/adjust", data={"delta": "1"}, headers=HTMX)
    assert response.status_code == 401


def test_a_viewer_sees_the_board_and_a_sku_but_may_not_move_stock(client: TestClient, runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    csrf = log_in(client, runtime, "viewer")
    board = client.get("/console/inventory")
    assert board.status_code == 200 and "库存看板" in board.text and 'href="/console/inventory"' in board.text
    english = client.get("/console/inventory?lang=en").text
    assert "Inventory board" in english and "Top sellers, last 7 days" in english
    sku = client.get("/console/inventory/skus/SKU-001").text
    assert "保温杯 500ml" in sku and "adjust-form" not in sku and "采购入库" in sku
    for path in ("/console/inventory/skus/SKU-001/adjust", "/console/inventory/skus/SKU-001/transfer"):
        response = client.post(path, data={"csrf_token": csrf, "warehouse": "HZ", "delta": "5", "reason": "x",
                                           "idempotency_key": "k1"}, headers=HTMX)
        assert response.status_code == 403
    files = {"file": ("counts.csv", "商品编码,仓库,盘点数\nSKU-001,HZ,99\n".encode(), "text/csv")}
    assert client.post("/console/inventory/counts/import", data={"csrf_token": csrf, "reason": "月末盘点"},
                       files=files).status_code == 403
    assert on_hand(runtime) == {"HZ": 10}


def test_an_adjustment_with_a_reason_moves_stock_and_writes_the_ledger(client: TestClient, runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    csrf = log_in(client, runtime, "warehouse")
    response = adjust(client, csrf)
    assert response.status_code == 200 and "库存已调整" in response.text
    assert on_hand(runtime) == {"HZ": 8}
    assert "仓内破损" in response.text and "库存调整" in response.text


@pytest.mark.parametrize(("fields", "code"), [
    ({"delta": "-2.5"}, "inventory.invalid_quantity"),
    ({"delta": "1.0"}, "inventory.invalid_quantity"),
    ({"delta": "0"}, "inventory.invalid_quantity"),
    ({"delta": "abc"}, "inventory.invalid_quantity"),
    ({"reason": "  "}, "inventory.reason_required"),
    ({"warehouse": "NOPE"}, "inventory.unknown_warehouse"),
    ({"delta": "-11"}, "inventory.below_reserved"),
    ({"idempotency_key": ""}, "inventory.idempotency_key_required"),
])
def test_a_refused_adjustment_says_why_in_its_form_and_changes_nothing(
        client: TestClient, runtime: Runtime, fields: dict[str, str], code: str) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    csrf = log_in(client, runtime, "warehouse")
    rows = ledger_size(runtime)
    response = adjust(client, csrf, **fields)
    assert response.status_code in (409, 422)
    assert response.headers["HX-Retarget"] == "#sku-panel"
    messages = {
        "inventory.invalid_quantity": "须为非零整数", "inventory.reason_required": "必须填写原因",
        "inventory.unknown_warehouse": "仓库 NOPE 不存在", "inventory.below_reserved": "将低于已占用",
        "inventory.idempotency_key_required": "幂等键",
    }
    alert = re.search(r'<p class="alert error" role="alert">(.*?)</p>', response.text, flags=re.S)
    assert alert is not None and messages[code] in alert[0]
    assert 'value="仓内破损"' in response.text or fields.get("reason") is not None  # what was typed stays
    assert on_hand(runtime) == {"HZ": 10} and ledger_size(runtime) == rows


def test_an_unknown_sku_is_a_not_found_page(client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "warehouse")
    assert client.get("/console/inventory/skus/NO-SUCH").status_code == 404
    response = client.post("/console/inventory/skus/NO-SUCH/adjust", headers=HTMX,
                           data={"csrf_token": csrf, "warehouse": "HZ", "delta": "1", "reason": "x",
                                 "idempotency_key": "k-unknown"})
    assert response.status_code == 404 and "NO-SUCH" in response.text


def test_a_double_submit_moves_stock_once_and_a_reused_key_is_refused(client: TestClient, runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    csrf = log_in(client, runtime, "warehouse")
    body = {"csrf_token": csrf, "warehouse": "HZ", "delta": "-2", "reason": "仓内破损", "idempotency_key": "form-1"}
    first = client.post("/console/inventory/skus/SKU-001/adjust", data=body, headers=HTMX)
    again = client.post("/console/inventory/skus/SKU-001/adjust", data=body, headers=HTMX)
    assert first.status_code == again.status_code == 200
    assert "此表单已提交过" in again.text and on_hand(runtime) == {"HZ": 8}
    other = client.post("/console/inventory/skus/SKU-001/adjust", data={**body, "delta": "-5"}, headers=HTMX)
    assert other.status_code == 409 and "幂等键 form-1 已用于另一笔不同的操作" in other.text
    assert on_hand(runtime) == {"HZ": 8}


def test_a_transfer_needs_a_reason_and_two_warehouses(client: TestClient, runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    csrf = log_in(client, runtime, "ops_supervisor")
    body = {"csrf_token": csrf, "from_warehouse": "HZ", "to_warehouse": "GZ", "qty": "3", "reason": "大促前调仓",
            "idempotency_key": "t-1"}
    for changed, status, text in [({"reason": ""}, 422, "必须填写原因"), ({"qty": "-3"}, 422, "须为正整数"),
                                  ({"qty": "2.5"}, 422, "须为正整数"), ({"to_warehouse": "HZ"}, 422, "不能相同"),
                                  ({"qty": "11"}, 409, "将低于已占用")]:
        response = client.post("/console/inventory/skus/SKU-001/transfer", data={**body, **changed,
                                                                                 "idempotency_key": str(changed)},
                               headers=HTMX)
        assert (response.status_code, text in response.text) == (status, True), changed
    assert on_hand(runtime) == {"HZ": 10}
    sent = client.post("/console/inventory/skus/SKU-001/transfer", data=body, headers=HTMX)
    assert sent.status_code == 200 and "调拨已发出" in sent.text
    with runtime.reading() as session:
        places = {p.warehouse: (p.on_hand, p.in_transit) for p in inventory.availability(session, "SKU-001").warehouses}
    assert places == {"GZ": (0, 3), "HZ": (7, 0)}


def test_without_htmx_a_form_posts_and_redirects_back(client: TestClient, runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    csrf = log_in(client, runtime, "admin")
    response = client.post("/console/inventory/skus/SKU-001/adjust", follow_redirects=False,
                           data={"csrf_token": csrf, "warehouse": "HZ", "delta": "4", "reason": "找到货品",
                                 "idempotency_key": "plain-1"})
    assert response.status_code == 303 and response.headers["location"] == "/console/inventory/skus/SKU-001"
    refused = client.post("/console/inventory/skus/SKU-001/adjust",
                          data={"csrf_token": csrf, "warehouse": "HZ", "delta": "4", "reason": "",
                                "idempotency_key": "plain-2"})
    assert refused.status_code == 422 and "<html" in refused.text and "必须填写原因" in refused.text
    assert on_hand(runtime) == {"HZ": 14}


def test_the_ledger_pages_back_in_time(client: TestClient, runtime: Runtime) -> None:
    for n in range(1, 56):
        stock_up(runtime, "SKU-001", "HZ", n)
    log_in(client, runtime, "viewer")
    page = client.get("/console/inventory/skus/SKU-001").text
    older = re.search(r'hx-get="(/console/inventory/skus/SKU-001/ledger\?before_id=\d+)"', page)
    assert older is not None
    fragment = client.get(older[1], headers=HTMX)
    assert fragment.status_code == 200 and fragment.text.count("采购入库") == 5 and "<html" not in fragment.text
    assert client.get("/console/inventory/skus/SKU-001/ledger?before_id=x").status_code == 422


def test_the_count_sheet_round_trips_and_a_second_import_changes_nothing(client: TestClient,
                                                                         runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    csrf = log_in(client, runtime, "warehouse")
    export = client.get("/console/inventory/counts.xlsx?warehouse=HZ")
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/vnd.openxml")
    book = load_workbook(BytesIO(export.content))
    sheet = book.active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("商品编码", "商品名称", "仓库", "在库", "已占用", "可用", "盘点数")
    assert ("SKU-001", "保温杯 500ml", "HZ", 10, 0, 10, None) in rows
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == "SKU-001":
            row[6].value = 7
        elif row[0].value == "SKU-002":
            row[6].value = 2.5
    filled = BytesIO()
    book.save(filled)
    files = {"file": ("盘点.xlsx", filled.getvalue(), "application/octet-stream")}
    first = client.post("/console/inventory/counts/import", data={"csrf_token": csrf, "reason": "月末盘点"},
                        files=files)
    assert first.status_code == 200
    assert re.search(r'id="count-applied">1<', first.text) and re.search(r'id="count-errors">1<', first.text)
    assert "inventory.invalid_quantity" in first.text
    assert on_hand(runtime) == {"HZ": 7}
    second = client.post("/console/inventory/counts/import", data={"csrf_token": csrf, "reason": "月末盘点"},
                         files=files)
    assert re.search(r'id="count-applied">0<', second.text) and "此文件已导入过" in second.text
    assert on_hand(runtime) == {"HZ": 7}


def test_an_import_without_a_reason_or_a_file_is_refused(client: TestClient, runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    csrf = log_in(client, runtime, "warehouse")
    files = {"file": ("counts.csv", "商品编码,仓库,盘点数\nSKU-001,HZ,3\n".encode(), "text/csv")}
    missing_reason = client.post("/console/inventory/counts/import", data={"csrf_token": csrf, "reason": ""},
                                 files=files)
    assert missing_reason.status_code == 422 and "盘点必须填写原因" in missing_reason.text
    wrong = {"file": ("counts.csv", "编码,数量\nSKU-001,3\n".encode(), "text/csv")}
    bad_columns = client.post("/console/inventory/counts/import", data={"csrf_token": csrf, "reason": "盘点"},
                              files=wrong)
    assert bad_columns.status_code == 422 and "缺少列" in bad_columns.text
    assert on_hand(runtime) == {"HZ": 10}
