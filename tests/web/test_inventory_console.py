"""The inventory console in a real browser: a warehouse clerk reads the board, opens a SKU, writes off
damaged units with a reason, and sees the movement in the ledger. A refused adjustment stays in its form.

Screenshots are written to docs/screenshots/ from the SQLite run only.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from orderhub.auth import service as auth
from orderhub.inventory import service as inventory
from orderhub.orders.status import OrderStatus as S
from orderhub.runtime import Runtime
from tests.integration.inventory.conftest import CLERK, stock_up, warehouses  # noqa: F401 - the fixture
from tests.integration.inventory.test_reservations import move, order
from tests.web.screenshots import shoot

PASSWORD = "correct-horse-9"


def seed(runtime: Runtime) -> None:
    """Two warehouses with stock, a few paid orders, one SKU under its safety stock, one order short."""
    stock_up(runtime, "SKU-001", "HZ", 40)
    stock_up(runtime, "SKU-001", "GZ", 12)
    stock_up(runtime, "SKU-002", "HZ", 6)
    inventory.set_safety(runtime.uow(), sku="SKU-002", safety=5, actor=CLERK)
    for qty in (3, 2, 5):
        order(runtime, qty=qty)
    move(runtime, order(runtime, qty=2, sku="SKU-002"), S.APPROVED)
    order(runtime, qty=1, sku="SKU-003")


def test_a_clerk_adjusts_stock_with_a_reason_and_sees_it_in_the_ledger(
        runtime: Runtime, live_console: str, browser: Browser, warehouses: None) -> None:  # noqa: F811
    auth.create_user(runtime.uow(), username="wangcang", password=PASSWORD, role="warehouse")
    seed(runtime)
    screenshots = runtime.engine.dialect.name == "sqlite"
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page.set_default_timeout(15_000)

    page.goto(f"{live_console}/console/login")
    page.get_by_label("用户名").fill("wangcang")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.locator(".mainnav").get_by_role("link", name="库存").click()
    expect(page).to_have_url(f"{live_console}/console/inventory")
    expect(page.get_by_role("heading", name="库存看板")).to_be_visible()
    expect(page.locator("#kpi-outbound")).to_have_text("12")
    expect(page.locator("#top-sellers tbody tr").first).to_contain_text("SKU-001")
    expect(page.locator("#top-chart svg")).to_be_visible()
    expect(page.locator("#low-stock")).to_contain_text("SKU-002")
    expect(page.locator("#short-orders")).to_contain_text("SKU-003")
    shoot(page, "inventory-board.png", screenshots)

    page.locator("#top-sellers").get_by_role("link", name="SKU-001").click()
    expect(page.get_by_role("heading", name="SKU-001 保温杯 500ml")).to_be_visible()
    expect(page.locator("#sku-on-hand")).to_have_text("52")

    form = page.locator("#adjust-form")
    form.get_by_label("仓库").select_option("HZ")
    form.get_by_label("调整数量").fill("-1.5")
    form.get_by_label("原因").fill("仓内破损，报废")
    form.get_by_role("button", name="调整").click()
    expect(page.locator("#adjust-form .alert.error")).to_contain_text("须为非零整数")
    expect(page.locator("#sku-on-hand")).to_have_text("52")

    form = page.locator("#adjust-form")
    expect(form.get_by_label("原因")).to_have_value("仓内破损，报废")
    form.get_by_label("调整数量").fill("-2")
    form.get_by_role("button", name="调整").click()
    expect(page.locator("#move-notice")).to_contain_text("库存已调整")
    expect(page.locator("#sku-on-hand")).to_have_text("50")
    newest = page.locator("#ledger-rows tbody tr").first
    expect(newest).to_contain_text("库存调整")
    expect(newest).to_contain_text("仓内破损，报废")
    expect(newest).to_contain_text("-2")
    expect(newest).to_contain_text("wangcang")
    shoot(page, "inventory-sku.png", screenshots)
