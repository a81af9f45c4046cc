"""对账 in a real browser: a finance clerk opens the discrepancy pool, filters it, and resolves two items at once.

Screenshots are written to docs/screenshots/ from the SQLite run only.
"""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Browser, expect

from orderhub.auth import service as auth
from orderhub.finance import service
from orderhub.finance.engine import Scope
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
from tests.web.screenshots import shoot

PASSWORD = "correct-horse-9"


def seed(runtime: Runtime, make_order: OrderMaker, import_bytes: Importer) -> None:  # noqa: F811
    """A day of WeChat Pay takings with a short payment, one paid twice, a big one short and a stray payment."""
    short = make_order(19800, customer="张三")
    twice = make_order(12900, province="广东省", customer="李四")
    large = make_order(620000, customer="王五", lines=(("SKU-002", 15, 40000), ("SKU-003", 1, 20000)))
    fine = [make_order(9900 + 100 * n) for n in range(3)]
    import_bytes(wechat(
        pay(short, 19000, txn="4200001"), pay(twice, txn="4200002"), pay(twice, txn="4200003", minutes=9),
        pay(large, 610000, txn="4200004"), pay("WX_TIP_0001", 8800, txn="4200005"),
        *[pay(order, txn=f"42001{n}") for n, order in enumerate(fine)],
    ))
    service.reconcile(runtime, scope=Scope.days(date(2026, 11, 19)), actor=service.SYSTEM_ACTOR)


def test_a_finance_clerk_resolves_two_discrepancies_from_the_pool(
        runtime: Runtime, live_console: str, browser: Browser, make_order: OrderMaker,  # noqa: F811
        import_bytes: Importer) -> None:  # noqa: F811
    auth.create_user(runtime.uow(), username="zhaoli", password=PASSWORD, role="finance")
    seed(runtime, make_order, import_bytes)
    screenshots = runtime.engine.dialect.name == "sqlite"
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page.set_default_timeout(15_000)

    page.goto(f"{live_console}/console/login")
    page.get_by_label("用户名").fill("zhaoli")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.locator(".mainnav").get_by_role("link", name="对账").click()
    expect(page).to_have_url(f"{live_console}/console/finance/discrepancies")

    rows = page.locator("table.discrepancies tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#disc-tabs .tab.active")).to_contain_text("未解决 4")
    expect(rows.filter(has_text="重复收款")).to_contain_text("finance-south")
    expect(rows.filter(has_text="WX_TIP_0001")).to_contain_text("有款无单")
    shoot(page, "finance-discrepancies.png", screenshots)

    page.locator("select[name='class']").select_option("amount_mismatch")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"class=amount_mismatch"))
    page.get_by_label("全选本页").check()
    expect(page.locator("input[name='ids']:checked")).to_have_count(2)
    page.get_by_text("批量处理", exact=True).click()
    page.get_by_label("处理原因").fill("差额已由客户银行转账补齐")
    page.get_by_role("button", name="处理", exact=True).click()
    expect(page.locator("#toasts .toast.ok")).to_contain_text("已处理 2 条差异。")
    expect(page.locator("#disc-tabs .tab.active")).to_contain_text("未解决 0")  # of this class
    expect(page.locator("#disc-tabs")).to_contain_text("已解决 2")
    shoot(page, "finance-discrepancies-resolved.png", screenshots)

    page.locator("#disc-tabs").get_by_text("已解决").click()
    expect(rows).to_have_count(2)
    rows.first.locator("a").first.click()
    expect(page.get_by_role("heading", name=re.compile("差异 #"))).to_be_visible()
    expect(page.locator("body")).to_contain_text("差额已由客户银行转账补齐")
    shoot(page, "finance-discrepancy-detail.png", screenshots)
