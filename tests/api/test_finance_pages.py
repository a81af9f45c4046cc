"""The finance console over HTTP: the discrepancy pool, bulk actions, settlements, the report and its downloads."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO

import openpyxl
import pytest
from fastapi.testclient import TestClient

from orderhub.finance import service
from orderhub.finance.engine import Scope
from orderhub.finance.model import Source
from orderhub.runtime import Runtime
from tests.api.test_console_pages import HTMX, log_in
from tests.integration.finance.conftest import (  # noqa: F401 - fixtures shared with the integration tests
    Importer,
    OrderMaker,
    import_bytes,
    make_order,
    pay,
    shops,
    wechat,
)

LIST = "/console/finance/discrepancies"


@pytest.fixture
def pool(runtime: Runtime, make_order: OrderMaker, import_bytes: Importer) -> list[str]:  # noqa: F811
    """Two amount mismatches, a stray payment and a Tmall settlement batch paid short, reconciled."""
    first = make_order(19800)
    second = make_order(9900, province="广东省")
    make_order(10000, channel="tmall", channel_order_id="T100")
    import_bytes(wechat(pay(first, 19000, txn="T-1"), pay(second, 9000, txn="T-2"), pay("STRAY-1", 500, txn="T-3")))
    import_bytes(("账务流水号,结算批次号,结算时间,淘宝订单号,业务类型,订单金额（元）,天猫佣金（元）,技术服务费（元）,结算金额（元）\n"
                  "S-1,B-1,2026-11-19 20:00:00,T100,交易收款,100.00,5.00,0.60,90.00\n").encode(),
                 source=Source.SETTLEMENT, name="tmall.csv")
    service.reconcile(runtime, scope=Scope.days(date(2026, 11, 19)), actor=service.SYSTEM_ACTOR)
    return [first.order_no, second.order_no]


def ids_on(page: str) -> list[str]:
    return re.findall(r'name="ids" value="(\d+)"', page)


def test_the_pool_lists_each_discrepancy_with_its_explanation_and_a_nav_link(
    client: TestClient, runtime: Runtime, pool: list[str]
) -> None:
    log_in(client, runtime, "finance")
    page = client.get(LIST)
    assert page.status_code == 200
    assert 'href="/console/finance/discrepancies" class="active" aria-current="page">对账</a>' in page.text
    assert pool[0] in page.text and "金额不符" in page.text and "有款无单" in page.text
    assert "应为 ¥198.00，对账单为 ¥190.00，差额 -¥8.00" in page.text
    assert len(ids_on(page.text)) == 3
    english = client.get(LIST, params={"lang": "en", "class": "amount_mismatch"})
    assert "Amount mismatch" in english.text and "Payment without order" not in english.text.split("<tbody")[-1]
    assert len(ids_on(english.text)) == 2
    detail = client.get(f"{LIST}/{ids_on(page.text)[0]}")
    assert detail.status_code == 200 and "Audit trail" in detail.text  # the language chosen sticks (cookie)


def test_bulk_resolve_and_assign_from_the_list(client: TestClient, runtime: Runtime, pool: list[str]) -> None:
    csrf = log_in(client, runtime, "finance")
    ids = ids_on(client.get(LIST).text)
    headers = {**HTMX, "X-CSRF-Token": csrf}
    nothing = client.post(f"{LIST}/resolve", headers=headers, data={"reason": "x"})
    assert nothing.status_code == 422 and nothing.headers["HX-Retarget"] == "#toasts"
    no_reason = client.post(f"{LIST}/resolve", headers=headers, data={"ids": ids[:2], "reason": ""})
    assert no_reason.status_code == 422 and "原因" in no_reason.text
    assigned = client.post(f"{LIST}/assign", headers=headers, data={"ids": ids[:2], "owner": "li.si"})
    assert assigned.status_code == 200 and "已将 2 条差异指派给 li.si。" in assigned.text
    resolved = client.post(f"{LIST}/resolve", headers=headers, data={"ids": ids[:2], "reason": "线下补款"})
    assert resolved.status_code == 200 and "已处理 2 条差异。" in resolved.text
    assert len(ids_on(resolved.text)) == 1
    one = client.post(f"{LIST}/{ids[2]}/resolve", headers={"X-CSRF-Token": csrf}, data={"reason": "退回客户"},
                      follow_redirects=False)
    assert one.status_code == 303 and one.headers["location"] == f"{LIST}/{ids[2]}"
    assert client.post(f"{LIST}/resolve", data={"ids": ids[:1], "reason": "x"}).status_code == 403  # no CSRF token


def test_a_role_without_finance_cannot_open_or_change_the_pool(
    client: TestClient, runtime: Runtime, pool: list[str]
) -> None:
    csrf = log_in(client, runtime, "viewer")
    assert client.get(LIST).status_code == 200
    refused = client.post(f"{LIST}/resolve", headers={"X-CSRF-Token": csrf}, data={"ids": ["1"], "reason": "x"})
    assert refused.status_code == 403
    client.cookies.clear()
    log_in(client, runtime, "warehouse")
    page = client.get(LIST)
    assert page.status_code == 403 and 'href="/console/finance/discrepancies"' not in page.text


@pytest.mark.parametrize("query", ["class=bogus", "status=bogus", "channel=nope", "date_from=2026-99-01",
                                   "cursor=garbage"])
def test_bad_filters_are_a_4xx_page(client: TestClient, runtime: Runtime, query: str) -> None:
    log_in(client, runtime, "finance")
    response = client.get(f"{LIST}?{query}")
    assert 400 <= response.status_code < 500 and "<html" in response.text
    assert client.get(f"{LIST}/abc").status_code == 404
    assert client.get("/console/finance/settlements/tmall/NOPE").status_code == 404


def test_the_excel_download_has_numbers_dates_and_a_frozen_header(
    client: TestClient, runtime: Runtime, pool: list[str]
) -> None:
    log_in(client, runtime, "finance")
    response = client.get(f"{LIST}.xlsx", params={"class": "amount_mismatch"})
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(BytesIO(response.content)).active
    assert sheet is not None and sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:N3"
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["编号 Id", "日期 Day", "类别 Class"]
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 2
    day, expected, due = rows[0][1], rows[0][7], rows[0][11]
    assert isinstance(day.value, datetime) and day.number_format == "yyyy-mm-dd"
    assert isinstance(expected.value, int | float | Decimal) and expected.number_format == "#,##0.00;[Red]-#,##0.00"
    assert {row[7].value for row in rows} == {198, 99} and isinstance(due.value, datetime)


def test_the_pdf_downloads_and_the_report_pages(client: TestClient, runtime: Runtime, pool: list[str]) -> None:
    log_in(client, runtime, "finance")
    pdf = client.get(f"{LIST}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == (
        "application/pdf")
    params = {"date_from": "2026-11-19", "date_to": "2026-11-19"}
    report = client.get("/console/finance/reports", params=params)
    assert report.status_code == 200 and "¥297.00" in report.text
    book = openpyxl.load_workbook(BytesIO(client.get("/console/finance/reports/receivables.xlsx",
                                                     params=params).content)).active
    assert book is not None and book.freeze_panes == "A2"
    assert [row[1].value for row in book.iter_rows(min_row=2)] == ["phone", "tmall", "未匹配收款", "合计"]
    assert book.cell(2, 4).value == 297 and book.cell(2, 4).number_format == "#,##0.00;[Red]-#,##0.00"
    assert client.get("/console/finance/reports/receivables.pdf", params=params).content.startswith(b"%PDF")
    settlements = client.get("/console/finance/settlements", params=params)
    assert settlements.status_code == 200 and "B-1" in settlements.text
    batch = client.get("/console/finance/settlements/tmall/B-1")
    assert batch.status_code == 200 and "T100" in batch.text and "超出容差" in batch.text
