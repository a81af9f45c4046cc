"""A customer in a real browser, on a phone-sized screen: looks an order up by the platform's number and the
phone's last four digits, sees its progress and parcel track, mistypes the phone and is told so; in English too.

Screenshots are written to docs/screenshots/ from the SQLite run only.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from orderhub.runtime import Runtime
from tests.integration.lookup.test_lookup import WAYBILL, shipped_douyin_order
from tests.web.screenshots import shoot

pytestmark = pytest.mark.usefixtures("merchant")
PHONE = {"width": 414, "height": 860}


def test_a_customer_looks_up_an_order_and_follows_its_parcel(runtime: Runtime, live_console: str,
                                                               browser: Browser) -> None:
    order_no = shipped_douyin_order(runtime)
    screenshots = runtime.engine.dialect.name == "sqlite"
    page = browser.new_page(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    page.set_default_timeout(15_000)

    page.goto(f"{live_console}/lookup")
    expect(page.get_by_role("heading", name="订单查询")).to_be_visible()
    page.get_by_label("订单号").fill("6930000000001")
    page.get_by_label("手机号后 4 位").fill("1234")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_role("alert")).to_contain_text("没有找到与该订单号和手机号匹配的订单")

    page.get_by_label("手机号后 4 位").fill("5678")
    page.get_by_role("button", name="查询").click()
    order = page.locator(f'article[data-order-no="{order_no}"]')
    expect(order.get_by_role("heading", level=2)).to_contain_text("已签收")
    expect(order.locator(".steps li.reached")).to_have_count(5)
    parcel = order.locator(f'section[data-waybill="{WAYBILL}"]')
    expect(parcel).to_contain_text("圆通速递")
    expect(parcel.locator(".track li")).to_have_count(4)
    expect(parcel.locator(".track li.newest")).to_contain_text("已签收，签收人：本人")
    expect(order).to_contain_text("李** 139****5678")
    expect(order).not_to_contain_text("科技园南路")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page).to_have_url(f"{live_console}/lookup")  # the answer came in place, the phone is in no URL
    shoot(page, "lookup.png", screenshots)

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Track your order")).to_be_visible()
    page.get_by_label("Order number").fill(order_no)
    page.get_by_label("Last 4 digits of the phone").fill("5678")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator(f'article[data-order-no="{order_no}"] .parcel')).to_contain_text("Delivered")
    shoot(page, "lookup-en.png", screenshots)
