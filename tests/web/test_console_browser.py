"""An operator's day in a real browser: log in, key in a phone order, find it, move it, read its timeline.

Screenshots of each page are written to docs/screenshots/ from the SQLite run only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from orderhub.auth import service as auth
from orderhub.core.actor import Actor
from orderhub.orders import intake
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.schemas import OrderCreate
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.web.screenshots import shoot

pytestmark = pytest.mark.usefixtures("merchant")

PASSWORD = "correct-horse-9"
SEED_ACTOR = Actor("陈静", "console", frozenset({"orders.approve_large"}))


def seed_orders(runtime: Runtime) -> None:
    """A few orders in different states, so the list looks like a working day."""
    people = [("王芳", "13911112222", "北京市", "北京市", "朝阳区", "建国路88号SOHO现代城A座1203"),
              ("刘洋", "0755-26781234", "广东省", "深圳市", "南山区", "科技园南区高新南一道9号"),
              ("赵磊", "13822223333", "四川省", "成都市", "武侯区", "天府大道北段1700号"),
              ("孙丽", "15033334444", "江苏省", "南京市", "鼓楼区", "中山北路30号")]
    for index, (name, phone, province, city, district, address) in enumerate(people):
        body = OrderCreate.model_validate({
            "channel": "phone", "shop": "hq", "source_type": "电话订单",
            "receiver": {"name": name, "phone": phone, "province": province, "city": city, "district": district,
                         "address": address},
            "lines": [{"sku": "SKU-002", "qty": index + 1, "unit_price": "399.00"}],
            "paid_amount": f"{399 * (index + 1)}.00",
            "payment": {"method": "wechat", "paid_at": "2026-11-20T09:00:00+08:00"},
        })
        order = orders.create_manual_order(runtime.uow(), draft=body.to_draft(), actor=SEED_ACTOR,
                                           policy=runtime.policy)
        for target in [OrderStatus.APPROVED, OrderStatus.ALLOCATED, OrderStatus.PICKING][:index]:
            orders.transition_order(runtime.uow(), order_no=order.order_no, target=target, reason="",
                                    actor=SEED_ACTOR, policy=runtime.policy)
    held = OrderDraft(
        channel="douyin", shop="dy-flagship", channel_order_id="6921837465019283746",
        receiver=Receiver(name="周杰", phone="13800000000-1234", province="广东省", city="广州市", district="",
                          address="天河路385号太古汇"),
        lines=[DraftLine(sku="SKU-003", qty=1, unit_price_fen=12900)], paid_amount_fen=12900,
        channel_status="WAIT_SELLER_SEND_GOODS", status="paid",
        platform_modified_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
    )
    intake.accept_channel_order(runtime.uow(), draft=held, actor=Actor("douyin", "channel"), policy=runtime.policy)


def field_error(page: Page, slot: str) -> Locator:
    return page.locator(f"#err-{slot}")


def test_an_operator_keys_in_an_order_finds_it_and_moves_it_forward(
        runtime: Runtime, live_console: str, browser: Browser) -> None:
    auth.create_user(runtime.uow(), username="chenjing", password=PASSWORD, role="ops_supervisor")
    seed_orders(runtime)
    screenshots = runtime.engine.dialect.name == "sqlite"
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN",
                            timezone_id="Asia/Shanghai")
    page.set_default_timeout(15_000)

    # Log in: the console sends a visitor to the login page, then back.
    page.goto(f"{live_console}/console/orders/new")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    shoot(page, "login.png", screenshots)
    page.get_by_label("用户名").fill("chenjing")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_console}/console/orders/new")
    expect(page.locator(".session .user")).to_contain_text("运营主管")

    # The form: a bad phone is flagged inline, then fixed.
    page.select_option("#f-source", "电话订单")
    page.fill("#f-name", "张三")
    page.fill("#f-phone", "12345")
    page.fill("#f-province", "浙江省")
    expect(field_error(page, "receiver-phone")).to_contain_text("不是有效的手机号")
    page.fill("#f-city", "杭州市")
    page.fill("#f-district", "西湖区")
    page.fill("#f-address", "文三路90号 华星科技大厦5楼")
    page.fill("#f-phone", "138 0013 8000")
    page.press("#f-phone", "Tab")
    expect(field_error(page, "receiver-phone")).to_be_empty()
    page.select_option("select[name='lines[0].sku']", "SKU-001")
    expect(page.locator("input[name='lines[0].unit_price']")).to_have_value("99.00")
    page.fill("input[name='lines[0].qty']", "2")
    page.get_by_role("button", name="+ 添加商品").click()
    page.select_option("select[name='lines[1].sku']", "SKU-003")
    expect(page.locator("input[name='lines[1].unit_price']")).to_have_value("129.00")
    expect(page.locator("#paid-hint")).to_contain_text("¥327.00")
    page.locator("tr", has=page.locator("select[name='lines[1].sku']")).get_by_role(
        "button", name="删除此行").click()
    expect(page.locator("#paid-hint")).to_contain_text("¥198.00")
    page.fill("#f-paid", "198.00")
    page.select_option("#f-method", "wechat")
    page.fill("#f-paid-at", "2026-11-20T10:00")
    page.fill("#f-seller-memo", "客户要求顺丰发货，下午送达")
    page.locator("#f-buyer-memo").click()
    expect(page.locator("#form-status")).to_contain_text("检查通过")
    shoot(page, "order-new.png", screenshots)

    # The confirmation step repeats the key fields; confirming creates the order.
    page.get_by_role("button", name="下一步：核对").click()
    expect(page.get_by_role("heading", name="核对订单")).to_be_visible()
    key = page.locator(".confirm-key")
    expect(key).to_contain_text("13800138000")
    expect(key).to_contain_text("浙江省 杭州市 西湖区 文三路90号 华星科技大厦5楼")
    expect(page.locator("main")).to_contain_text("电话订单")
    shoot(page, "order-confirm.png", screenshots)
    page.get_by_role("button", name="确认创建").click()
    expect(page.locator(".alert.ok")).to_contain_text("订单已创建")
    order_no = page.locator(".detail-head h1 .mono").inner_text()
    assert re.fullmatch(r"PH_20261120_[0-9a-f]{6}", order_no)

    # The list: everything first, then the new order by its number (HTMX swap, URL pushed).
    page.get_by_role("link", name="订单", exact=True).click()
    expect(page.locator("table.orders tbody tr")).to_have_count(6)
    shoot(page, "order-list.png", screenshots)
    page.fill("#filter-q", order_no)
    expect(page.locator("table.orders tbody tr")).to_have_count(1)
    expect(page).to_have_url(f"{live_console}/console/orders?q={order_no}")
    page.get_by_role("link", name=order_no).click()

    # Two moves: paid → approved → allocated, each redrawn in place with the timeline.
    for label in ("已审", "已分仓"):
        page.locator("summary", has_text=label).click()
        page.locator("details[open] input[name='reason']").fill(f"电话核实无误，{label}")
        page.locator("details[open] button[type=submit]").click()
        expect(page.locator(".detail-head .badge")).to_have_text(label)
        expect(page.locator(".alert.ok")).to_contain_text(f"状态已变更为“{label}”")
    timeline = page.locator("table.timeline tbody tr")
    expect(timeline).to_have_count(3)
    expect(timeline.nth(1)).to_contain_text("待审 → 已审")
    expect(timeline.nth(2)).to_contain_text("已审 → 已分仓")
    expect(timeline.nth(2)).to_contain_text("chenjing")
    shoot(page, "order-detail.png", screenshots)

    # Someone else moves the order meanwhile: this page's next move is refused, as a toast.
    orders.transition_order(runtime.uow(), order_no=order_no, target=OrderStatus.PICKING, reason="",
                            actor=Actor("warehouse", "console", frozenset()), policy=runtime.policy)
    page.locator("summary", has_text="挂起").click()
    page.locator("details[open] input[name='reason']").fill("客户来电要求改地址")
    page.locator("details[open] button[type=submit]").click()
    expect(page.locator("#toasts .toast.error")).to_contain_text("订单已被他人修改")
    expect(page.locator(".detail-head .badge")).to_have_text("已分仓")

    # English, once: the switch sticks for the next page.
    page.get_by_role("link", name="English").click()
    expect(page.locator(".detail-head .badge")).to_have_text("Picking")
    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.locator(".status-tabs")).to_contain_text("Pending payment")
    expect(page.locator("table.orders")).to_contain_text(order_no)
    shoot(page, "order-list-en.png", screenshots)
