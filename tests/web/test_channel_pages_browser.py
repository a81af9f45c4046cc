"""补单 in a real browser: check the channels' health, find a dead letter, correct its body, replay it into an order.

Screenshots are written to docs/screenshots/ from the SQLite run only.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect

from orderhub.auth import service as auth
from orderhub.channels import service as channels
from orderhub.channels.ingest import Incoming, ingest, shop_ref
from orderhub.channels.model import Channel, ChannelCall, DeadLetter, PullCursor, Shop
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.runtime import Runtime
from tests.integration.channels.test_ingest import pdd_order, trade
from tests.unit.channels.test_mapping import douyin
from tests.web.screenshots import shoot

pytestmark = pytest.mark.usefixtures("merchant")

PASSWORD = "correct-horse-9"


def shop(runtime: Runtime, code: str) -> Shop:
    with runtime.reading() as session:
        return next(found for found in channels.list_shops(session) if found.code == code)


def arrive(runtime: Runtime, clock: FixedClock, at: Shop, raw: str, source: str = "push") -> None:
    clock.advance(timedelta(minutes=7))
    ingest(runtime.uow(), shop=shop_ref(at), items=[Incoming(raw=raw, source=source)], policy=runtime.policy,
           actor=Actor(at.channel, "channel"))


def seed(runtime: Runtime, clock: FixedClock) -> None:
    """Four platform shops on a busy morning: one failing, one behind, letters waiting."""
    taobao = channels.create_shop(runtime.uow(), channel=Channel.TAOBAO, code="tb-flagship", name="淘宝旗舰店")
    pdd = channels.create_shop(runtime.uow(), channel=Channel.PDD, code="pdd-official", name="拼多多官方店")
    dy = shop(runtime, "dy-flagship")
    arrive(runtime, clock, pdd, json.dumps(pdd_order("13900139000", "2026-11-20 10:03:00", order_status=9)), "pull")
    arrive(runtime, clock, dy, json.dumps({key: value for key, value in douyin().items() if key != "pay_amount"},
                                          ensure_ascii=False))
    arrive(runtime, clock, taobao, json.dumps(trade(tid=4123456789012345001), ensure_ascii=False)[:220])
    arrive(runtime, clock, taobao, json.dumps(trade(status="NEW_STATUS_2027"), ensure_ascii=False))
    now = clock.now()
    with runtime.uow() as uow:
        uow.session.add(DeadLetter(channel="douyin", shop_id=dy.id, source="push", reason_code="signature",
                                   reason="signature did not verify: sign mismatch", raw_body='{"order_id": "1"}',
                                   received_at=now - timedelta(minutes=12), status="rejected"))
        for at, calls, failing in [(taobao, 58, 1), (dy, 40, 14), (pdd, 22, 0)]:
            for number in range(calls):
                uow.session.add(ChannelCall(shop_id=at.id, kind="pull" if at is not dy else "push",
                                            at=now - timedelta(seconds=50 * number + 20), ok=number >= failing,
                                            error_code="" if number >= failing else "http_502"))
        uow.session.add(PullCursor(shop_id=taobao.id, modified_until=now - timedelta(minutes=3)))
        uow.session.add(PullCursor(shop_id=pdd.id, modified_until=now - timedelta(minutes=42),
                                   last_error="rate limited: 限流，请稍后重试 (code 52101)"))
        uow.session.add(PullCursor(shop_id=dy.id, modified_until=now - timedelta(minutes=9),
                                   last_error="HTTP 502 Bad Gateway from the Douyin open platform"))
        uow.commit()


def test_an_operator_corrects_a_dead_letter_and_replays_it_into_an_order(
        runtime: Runtime, clock: FixedClock, live_console: str, browser: Browser) -> None:
    auth.create_user(runtime.uow(), username="wangmin", password=PASSWORD, role="ops")
    seed(runtime, clock)
    screenshots = runtime.engine.dialect.name == "sqlite"
    page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page.set_default_timeout(15_000)

    page.goto(f"{live_console}/console/channels")
    page.get_by_label("用户名").fill("wangmin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_console}/console/channels")

    # Health: the failing shop stands out, and its open letters are one click away.
    health = page.locator("#channel-health")
    expect(health.locator("tbody tr")).to_have_count(5)
    douyin_row = health.locator("tr", has_text="抖音旗舰店")
    expect(douyin_row.get_by_text("35.0%")).to_have_class("rate-bad")
    expect(health.locator("tr", has_text="拼多多官方店")).to_contain_text("42 分钟")
    expect(page.locator(".mainnav .nav-count")).to_have_text("4")
    shoot(page, "channel-health.png", screenshots)

    # The list: open letters newest first, with their reasons.
    page.locator(".mainnav").get_by_role("link", name=re.compile("^补单")).click()
    expect(page).to_have_url(f"{live_console}/console/dead-letters")
    rows = page.locator("table.letters tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("NEW_STATUS_2027")
    expect(page.locator(".status-tabs .tab.active")).to_contain_text("待处理 4")
    page.locator("select[name='channel']").select_option("taobao")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(f"{live_console}/console/dead-letters?channel=taobao")
    page.locator("select[name='channel']").select_option("")
    expect(rows).to_have_count(4)
    select_all = page.get_by_label("全选本页")
    select_all.check()
    expect(page.locator("input[name='ids']:checked")).to_have_count(4)
    select_all.uncheck()
    expect(page.locator("input[name='ids']:checked")).to_have_count(0)
    shoot(page, "dead-letters.png", screenshots)

    # One letter: correct the platform status the mapping does not know, then replay the corrected body.
    rows.first.locator("a.mono").click()
    expect(page.get_by_role("heading", name=re.compile("死信 #"))).to_be_visible()
    expect(page.locator(".letter-reason")).to_contain_text("NEW_STATUS_2027")
    editor = page.get_by_label("修正后的报文")
    expect(editor).to_have_value(re.compile('"status": "NEW_STATUS_2027"'))
    editor.fill(editor.input_value().replace("NEW_STATUS_2027", "WAIT_SELLER_SEND_GOODS"))
    shoot(page, "dead-letter-detail.png", screenshots)
    page.get_by_role("button", name="修正后重放").click()

    toast = page.locator("#toasts .toast.ok")
    expect(toast).to_contain_text("重放成功：已创建订单")
    order_no = re.search(r"订单 (\S+)。", toast.inner_text())
    assert order_no is not None
    expect(page.locator(".detail-head .badge")).to_have_text("已重放")
    expect(page.locator("table.audit tbody tr")).to_contain_text("wangmin")
    expect(page.locator(".mainnav .nav-count")).to_have_text("3")
    order_link = page.locator(".alert.ok a.order-link")
    expect(order_link).to_have_text(order_no[1])
    order_link.click()
    expect(page).to_have_url(f"{live_console}/console/orders/{order_no[1]}")
    expect(page.locator(".detail-head h1 .mono")).to_have_text(order_no[1])
