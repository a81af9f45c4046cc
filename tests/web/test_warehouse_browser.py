"""An outsourced warehouse's packer in a real browser: signs in to their own warehouse only, scans a parcel
through pick and pack, is told the ship scan needs a package photo, uploads one showing the label, ships,
reads the daily report, and settles the scan conflicts the offline PDA left.

Screenshots are written to docs/screenshots/ from the SQLite run only.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from orderhub.auth import service as auth
from orderhub.core.actor import Actor
from orderhub.fulfillment import scans, service
from orderhub.fulfillment.model import ScanKind
from orderhub.fulfillment.scans import Scan, ScanRules
from orderhub.fulfillment.tables import load_tables
from orderhub.orders import service as orders
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.integration.fulfillment.routing_setup import (
    STAFF,
    approved_order,
    package_photo,
    put_stock,
    set_up_warehouses,
)
from tests.web.screenshots import shoot

pytestmark = pytest.mark.usefixtures("merchant")

PASSWORD = "correct-horse-9"
PDA = Actor("pda-gz-07", "scanner")


def seed(runtime: Runtime) -> dict[str, str]:
    """Guangzhou (3pl) has four parcels to work, Hangzhou one; the Guangzhou PDA's offline upload left two
    conflicts: a pick of an order that was on hold then (lifted since), and a scan of Hangzhou's parcel."""
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-GZ", R_TEA=10)
    put_stock(runtime, "WH-HZ", R_CUP=5)
    numbers = {name: approved_order(runtime, place, lines=[(sku, 1)])
               for name, place, sku in (("first", "广州", "R-TEA"), ("held", "广州", "R-TEA"),
                                        ("third", "广州", "R-TEA"), ("fourth", "广州", "R-TEA"),
                                        ("hangzhou", "杭州", "R-CUP"))}
    for order_no in numbers.values():
        service.route_order(runtime.uow(), order_no=order_no, tables=load_tables(), actor=STAFF)
    start = runtime.clock.now() - timedelta(hours=1)
    held = numbers["held"]
    gz = ScanRules(scope="WH-GZ")

    def offline(*taken: Scan) -> None:
        scans.apply_batch(runtime.uow(), scans=list(taken), actor=PDA, rules=gz)

    offline(Scan("pda-gz-07", "e-100", "WH-GZ", f"{held}-1", ScanKind.PICK_STARTED, start))
    orders.transition_order(runtime.uow(), order_no=held, target=OrderStatus.ON_HOLD, reason="客户来电核对地址",
                            actor=STAFF, policy=runtime.policy)
    offline(Scan("pda-gz-07", "e-101", "WH-GZ", f"{held}-1", ScanKind.PICKED, start + timedelta(minutes=4)),
            Scan("pda-gz-07", "e-102", "WH-GZ", f"{numbers['hangzhou']}-1", ScanKind.PACKED,
                 start + timedelta(minutes=6)))
    orders.transition_order(runtime.uow(), order_no=held, target=OrderStatus.PICKING, reason="地址已核对",
                            actor=STAFF, policy=runtime.policy)
    return numbers


def scan(page: Page, text: str) -> None:
    box = page.get_by_label("包裹号或订单号")
    box.fill(text)
    box.press("Enter")


def test_a_3pl_packer_scans_photographs_ships_and_settles_conflicts(
        runtime: Runtime, live_console: str, browser: Browser, tmp_path: Path) -> None:
    runtime.settings.photo_dir = tmp_path / "photos"
    numbers = seed(runtime)
    first, held = numbers["first"], numbers["held"]
    auth.create_user(runtime.uow(), username="gz-lina", password=PASSWORD, role="3pl", warehouse="WH-GZ")
    screenshots = runtime.engine.dialect.name == "sqlite"
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page.set_default_timeout(15_000)

    page.goto(f"{live_console}/console/login")
    page.get_by_label("用户名").fill("gz-lina")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_console}/console/warehouse")
    expect(page.get_by_role("heading", name=re.compile("仓库作业 · 广州云仓"))).to_be_visible()
    expect(page.locator(".mainnav")).not_to_contain_text("订单")
    expect(page.locator("#waiting tbody tr")).to_have_count(4)
    # Hangzhou's parcel shows only as what this warehouse's PDA scanned (a conflict: "no such parcel here").
    expect(page.locator("#warehouse-work")).not_to_contain_text(numbers["hangzhou"])
    expect(page.locator("#pick-warehouse")).to_have_count(0)

    for step in ("开始拣货", "拣货完成", "打包"):
        scan(page, first)
        expect(page.locator("#scan-result")).to_contain_text(f"已扫描「{step}」")
    expect(page.locator(f"#waiting tr:has-text('{first}-1')")).to_contain_text("已打包")
    scan(page, first)
    expect(page.locator("#scan-error")).to_contain_text("尚未上传包裹照片")
    expect(page.get_by_label("包裹号或订单号")).to_have_value(first)

    row = page.locator(f"#waiting tr:has-text('{first}-1')")
    row.locator("input[type=file]").set_input_files(
        {"name": "box.jpg", "mimeType": "image/jpeg", "buffer": package_photo(size=(640, 480))})
    row.get_by_role("button", name="上传").click()
    refusal = page.locator("#toasts .toast.error")
    expect(refusal).to_contain_text("识别不到条码或二维码")
    refusal.get_by_role("button", name="关闭").click()
    expect(refusal).to_have_count(0)
    row = page.locator(f"#waiting tr:has-text('{first}-1')")
    row.locator("input[type=file]").set_input_files(
        {"name": "box.jpg", "mimeType": "image/jpeg", "buffer": package_photo(code=f"{first}-1", turn=6)})
    row.get_by_role("button", name="上传").click()
    expect(page.locator("#photo-saved")).to_contain_text(f"{first}-1 的包裹照片已保存")
    thumbnail = page.locator(f"#waiting tr:has-text('{first}-1') img.thumb")
    expect(thumbnail).to_be_visible()
    page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=thumbnail.element_handle())
    assert thumbnail.evaluate("image => image.naturalWidth") == 720  # the stored photo itself, decoded

    page.get_by_label("运单号（发货扫描时填写）").fill("SF1500000077")
    scan(page, f"{first}-1")
    expect(page.locator("#scan-result")).to_contain_text("包裹现为已发货")
    shipped = page.locator("#shipped tbody tr")
    expect(shipped).to_have_count(1)
    expect(shipped.first).to_contain_text("SF1500000077")
    expect(shipped.first.locator("img.thumb")).to_be_visible()
    expect(page.locator("#kpi-shipped")).to_have_text("1")
    expect(page.locator("#kpi-photos")).to_have_text("100.0%")
    expect(page.locator("#kpi-wrong-ship")).to_have_text("100.0%")  # the Hangzhou parcel the PDA scanned
    scan(page, numbers["third"])
    expect(page.locator("#scan-result")).to_contain_text("开始拣货")
    shoot(page, "warehouse-portal.png", screenshots)

    conflicts = page.locator("#scan-conflicts tbody tr")
    expect(conflicts).to_have_count(2)
    wrong = conflicts.filter(has_text="本仓无此包裹")
    expect(wrong).to_contain_text("PH_")
    frozen = conflicts.filter(has_text=f"{held}-1")
    expect(frozen).to_contain_text("订单已冻结")
    expect(frozen).to_contain_text("已挂起（客户来电核对地址）")
    expect(frozen).not_to_contain_text("is on hold")  # the reader's half of the bilingual message
    frozen.get_by_text("处理", exact=True).click()
    frozen.get_by_label("备注").fill("地址已核对，挂起解除，包裹当时已拣完")
    page.locator("#scan-conflicts").scroll_into_view_if_needed()
    shoot(page, "scan-conflicts.png", screenshots)
    frozen.get_by_role("button", name="执行扫描").click()
    expect(page.locator("#conflict-resolved")).to_contain_text("已执行")
    expect(page.locator(f"#waiting tr:has-text('{held}-1')")).to_contain_text("已拣货")
    expect(conflicts).to_have_count(1)

    wrong = page.locator("#scan-conflicts tbody tr").first
    wrong.get_by_text("处理", exact=True).click()
    wrong.get_by_role("button", name="忽略").click()  # without a note the browser keeps the form open
    expect(wrong.get_by_label("备注")).to_be_focused()
    expect(page.locator("#conflict-resolved")).not_to_contain_text("已忽略")
    wrong.get_by_label("备注").fill("PDA 误扫了杭州仓的包裹，未发出")
    wrong.get_by_role("button", name="忽略").click()
    expect(page.locator("#conflict-resolved")).to_contain_text("已忽略")
    expect(page.locator("#scan-conflicts")).to_contain_text("没有待处理的扫描冲突")

    page.locator("#scan-conflicts").get_by_role("link", name="已处理").click()
    settled = page.locator("#scan-conflicts tbody tr")
    expect(settled).to_have_count(2)
    expect(settled.filter(has_text="PDA 误扫了杭州仓的包裹")).to_contain_text("gz-lina")
    page.goto(f"{live_console}/console/warehouse?warehouse=WH-HZ")
    expect(page.locator(".error-page")).to_contain_text("403")

    page.goto(f"{live_console}/console/warehouse?lang=en")
    expect(page.get_by_role("heading", name=re.compile("Warehouse work"))).to_be_visible()
    expect(page.locator("#daily-report")).to_contain_text("Photo compliance")
    shoot(page, "warehouse-portal-en.png", screenshots)
