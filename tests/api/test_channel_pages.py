"""The channels console over HTTP: shop health, and 补单 — dead letters listed, corrected, replayed, discarded."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from orderhub.channels import deadletters
from orderhub.channels import service as channels
from orderhub.channels.ingest import DEAD_LETTERED, Incoming, ingest, shop_ref
from orderhub.channels.model import Channel, ChannelCall, DeadLetter, PullCursor, Shop
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.orders.model import Order
from orderhub.runtime import Runtime
from tests.api.test_console_pages import HTMX, log_in
from tests.integration.channels.test_ingest import trade

pytestmark = pytest.mark.usefixtures("merchant")

PLATFORM = Actor("taobao", "channel")


@pytest.fixture
def taobao(runtime: Runtime) -> Shop:
    return channels.create_shop(runtime.uow(), channel=Channel.TAOBAO, code="tb-flagship", name="淘宝旗舰店")


def shop_named(runtime: Runtime, code: str) -> Shop:
    with runtime.reading() as session:
        return next(shop for shop in channels.list_shops(session) if shop.code == code)


def dead_letter(runtime: Runtime, shop: Shop, payload: dict[str, Any] | str) -> int:
    """A payload ingestion cannot read, dead-lettered the way a push would be."""
    raw = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    (outcome,) = ingest(runtime.uow(), shop=shop_ref(shop), items=[Incoming(raw=raw, source="push")],
                        policy=runtime.policy, actor=PLATFORM)
    assert outcome.result == DEAD_LETTERED and outcome.dead_letter_id is not None
    return outcome.dead_letter_id


def stored_letter(runtime: Runtime, shop: Shop, raw: str, *, status: str = "open", reason_code: str = "mapping",
                  reason: str = "unknown status 'NEW' (mapping fixed since)") -> int:
    """A letter written as the platform code left it, e.g. before a mapping fix or a refused signature."""
    with runtime.uow() as uow:
        letter = DeadLetter(channel=shop.channel, shop_id=shop.id, source="pull", reason_code=reason_code,
                            reason=reason, raw_body=raw, received_at=uow.now(), status=status)
        uow.session.add(letter)
        uow.commit()
        return letter.id


def letter_ids(html: str) -> list[int]:
    return [int(number) for number in re.findall(r'<a class="mono" href="/console/dead-letters/(\d+)"', html)]


def row_of(html: str, text: str) -> str:
    rows = [row for row in re.findall(r"<tr[ >].*?</tr>", html, flags=re.S) if text in row]
    assert len(rows) == 1, (text, rows)
    return rows[0]


def letter(runtime: Runtime, letter_id: int) -> DeadLetter:
    with runtime.reading() as session:
        return deadletters.get_dead_letter(session, letter_id)


# ------------------------------------------------------------------------------------------------
# Channel health
# ------------------------------------------------------------------------------------------------


def test_the_health_page_shows_each_shop_with_its_last_hour(
        client: TestClient, runtime: Runtime, clock: FixedClock, taobao: Shop) -> None:
    douyin = shop_named(runtime, "dy-flagship")
    now = clock.now()
    with runtime.uow() as uow:
        for number in range(10):
            uow.session.add(ChannelCall(shop_id=taobao.id, kind="pull", at=now - timedelta(minutes=number + 1),
                                        ok=number >= 2, error_code="" if number >= 2 else "http_503"))
        uow.session.add(ChannelCall(shop_id=taobao.id, kind="pull", at=now - timedelta(hours=2), ok=False))
        uow.session.add(ChannelCall(shop_id=douyin.id, kind="push", at=now - timedelta(minutes=5), ok=True))
        uow.session.add(PullCursor(shop_id=taobao.id, modified_until=now - timedelta(minutes=3),
                                   last_error="platform answered 503 <busy>"))
        uow.session.add(PullCursor(shop_id=douyin.id, modified_until=now - timedelta(hours=2, minutes=10)))
        uow.commit()
    dead_letter(runtime, taobao, "not even json")
    stored_letter(runtime, taobao, "{}", status="rejected", reason_code="signature", reason="signature did not verify")
    log_in(client, runtime, "viewer")

    page = client.get("/console/channels")
    assert page.status_code == 200 and 'hx-trigger="every 30s"' in page.text
    tb = row_of(page.text, "淘宝旗舰店")
    cells = re.findall(r'<td class="num">\s*(.*?)\s*</td>', tb, flags=re.S)
    assert [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells] == ["10", "2", "20.0%", "3 分钟", "1", "1"]
    assert 'class="rate-bad"' in tb and 'class="unhealthy"' in tb
    assert f'href="/console/dead-letters?shop={taobao.id}"' in tb
    assert "2026-11-20 09:57" in tb  # the last success, three minutes before 02:00 UTC, in Shanghai time
    assert "platform answered 503 &lt;busy&gt;" in tb
    dy = row_of(page.text, "抖音旗舰店")
    assert "2 小时" in dy and "rate-bad" not in dy and 'class="late"' in dy
    phone = row_of(page.text, "总部电话")
    assert "该店铺未开启拉单" in phone and "dead-letters?shop" not in phone

    refresh = client.get("/console/channels", headers=HTMX)
    assert refresh.text.startswith('<div id="channel-health"') and "<html" not in refresh.text
    english = client.get("/console/channels?lang=en").text
    assert "3 minutes" in english and "2 hours" in english and "Unsigned pushes refused / h" in english


# ------------------------------------------------------------------------------------------------
# Dead-letter list
# ------------------------------------------------------------------------------------------------


def test_dead_letters_are_listed_newest_first_and_filter_by_status_channel_shop_and_reason(
        client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    douyin = shop_named(runtime, "dy-flagship")
    unreadable = dead_letter(runtime, taobao, "not even json")
    unmapped = dead_letter(runtime, taobao, trade(status="NEW_STATUS_2027"))
    other_shop = dead_letter(runtime, douyin, "{")
    rejected = stored_letter(runtime, taobao, "{}", status="rejected", reason_code="signature",
                             reason="signature did not verify")
    log_in(client, runtime, "ops")

    page = client.get("/console/dead-letters")
    assert page.status_code == 200
    assert letter_ids(page.text) == [other_shop, unmapped, unreadable]
    assert re.search(r'待处理 <span class="count">3</span>', page.text)
    assert re.search(r'已拒收 <span class="count">1</span>', page.text)
    row = row_of(page.text, f"#{unmapped}<")
    assert "字段映射失败" in row and "NEW_STATUS_2027" in row and "淘宝旗舰店" in row and "推送" in row
    assert f'name="ids" value="{unmapped}"' in row and "重放所选" in page.text

    assert letter_ids(client.get("/console/dead-letters?channel=douyin").text) == [other_shop]
    assert letter_ids(client.get(f"/console/dead-letters?shop={taobao.id}").text) == [unmapped, unreadable]
    assert letter_ids(client.get("/console/dead-letters?reason_code=mapping").text) == [unmapped]
    only_rejected = client.get("/console/dead-letters?status=rejected").text
    assert letter_ids(only_rejected) == [rejected]
    assert 'name="ids"' not in only_rejected and "重放所选" not in only_rejected

    htmx = client.get("/console/dead-letters", params={"status": "open", "channel": "taobao", "shop": ""},
                      headers=HTMX)
    assert "<html" not in htmx.text and letter_ids(htmx.text) == [unmapped, unreadable]
    assert htmx.headers["hx-push-url"] == "/console/dead-letters?channel=taobao"
    assert 'id="letter-tabs" class="status-tabs" hx-swap-oob="true"' in htmx.text


def test_the_list_pages_by_id_with_a_link_back_to_the_first_page(
        client: TestClient, runtime: Runtime, taobao: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    from orderhub.channels import pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    made = [dead_letter(runtime, taobao, f"broken {number}") for number in range(3)]
    log_in(client, runtime, "ops")
    first = client.get("/console/dead-letters?channel=taobao").text
    assert letter_ids(first) == made[:0:-1] and "第一页" not in first
    next_url = re.search(r'<a href="([^"]+)" hx-get="[^"]+"[^>]*>下一页', first)
    assert next_url is not None
    assert next_url[1].replace("&amp;", "&") == f"/console/dead-letters?channel=taobao&before_id={made[1]}"
    second = client.get(next_url[1].replace("&amp;", "&")).text
    assert letter_ids(second) == [made[0]] and "下一页" not in second
    assert 'href="/console/dead-letters?channel=taobao"' in second


def test_bad_filter_values_and_unknown_letters_show_an_error_page(client: TestClient, runtime: Runtime) -> None:
    log_in(client, runtime, "ops")
    for query in ("status=lost", "channel=ebay", "shop=tb", "before_id=x", "reason_code=%3Cb%3E"):
        response = client.get(f"/console/dead-letters?{query}")
        assert response.status_code in (400, 422), (query, response.status_code)
        assert "error-page" in response.text
    for path in ("/console/dead-letters/999", "/console/dead-letters/abc"):
        missing = client.get(path)
        assert missing.status_code == 404 and "error-page" in missing.text


def test_the_navigation_badge_counts_open_dead_letters(client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    log_in(client, runtime, "viewer")
    assert 'hx-get="/console/dead-letters/open-count"' in client.get("/console/orders").text
    assert client.get("/console/dead-letters/open-count").text.strip() == '<span id="open-letters"></span>'
    dead_letter(runtime, taobao, "not even json")
    dead_letter(runtime, taobao, "{")
    badge = client.get("/console/dead-letters/open-count").text
    assert re.search(r'<span id="open-letters"><span class="nav-count"[^>]*>2</span></span>', badge)


# ------------------------------------------------------------------------------------------------
# One dead letter: replay, correct, discard
# ------------------------------------------------------------------------------------------------


def test_replaying_a_corrected_body_from_the_detail_page_creates_the_order_and_an_audit_row(
        client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    letter_id = dead_letter(runtime, taobao, trade(status="NEW_STATUS_2027"))
    csrf = log_in(client, runtime, "ops")
    page = client.get(f"/console/dead-letters/{letter_id}")
    assert page.status_code == 200 and "NEW_STATUS_2027" in page.text and "字段映射失败" in page.text
    textarea = re.search(r'<textarea name="corrected_body"[^>]*>(.*?)</textarea>', page.text, flags=re.S)
    assert textarea is not None
    editable = html.unescape(textarea[1])
    assert '"status": "NEW_STATUS_2027"' in editable
    assert '\n  "tid": 4123456789012345678,' in editable  # pretty-printed, the big id exact

    corrected = editable.replace("NEW_STATUS_2027", "WAIT_SELLER_SEND_GOODS")
    response = client.post(f"/console/dead-letters/{letter_id}/replay", headers={**HTMX, "X-CSRF-Token": csrf},
                           data={"corrected_body": corrected.replace("\n", "\r\n")})
    assert response.status_code == 200 and response.text.startswith('<div id="letter-detail"')
    with runtime.reading() as session:
        order = session.scalars(select(Order)).one()
        (action,) = deadletters.actions_of(session, letter_id)
    assert (action.action, action.actor) == ("remap", "ops-console") and order.order_no in action.outcome
    assert f"重放成功：已创建订单 {order.order_no}。" in response.text
    assert '<div id="toasts" hx-swap-oob="beforeend">' in response.text and "toast ok" in response.text
    assert '<span id="open-letters" hx-swap-oob="true"></span>' in response.text  # the nav badge, now empty
    assert f'href="/console/orders/{order.order_no}"' in response.text and "已重放" in response.text
    assert "修正后重放" in response.text and 'name="corrected_body"' not in response.text  # closed: no more actions
    replayed = letter(runtime, letter_id)
    assert replayed.status == "replayed" and replayed.order_no == order.order_no
    assert replayed.corrected_body is not None and "\r" not in replayed.corrected_body
    assert "WAIT_SELLER_SEND_GOODS" in replayed.corrected_body and "NEW_STATUS_2027" in replayed.raw_body

    again = client.post(f"/console/dead-letters/{letter_id}/replay", headers={**HTMX, "X-CSRF-Token": csrf})
    assert again.status_code == 409 and again.headers["hx-retarget"] == "#toasts" and "已处理" in again.text


def test_a_replay_that_still_fails_says_why_and_keeps_the_letter_open(
        client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    letter_id = dead_letter(runtime, taobao, trade(status="NEW_STATUS_2027"))
    csrf = log_in(client, runtime, "ops")
    response = client.post(f"/console/dead-letters/{letter_id}/replay", headers={**HTMX, "X-CSRF-Token": csrf})
    assert response.status_code == 200 and "toast warn" in response.text
    assert re.search(r"仍然失败：[^<]*NEW_STATUS_2027", response.text)
    still = letter(runtime, letter_id)
    assert still.status == "open" and still.attempts == 1
    empty = client.post(f"/console/dead-letters/{letter_id}/replay", headers={**HTMX, "X-CSRF-Token": csrf},
                        data={"corrected_body": "  "})
    assert empty.status_code == 422 and "修正后的报文为空" in empty.text
    assert letter(runtime, letter_id).raw_body.startswith("{")


def test_bulk_replay_replays_each_selected_letter_and_reports_every_outcome(
        client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    fixed = [stored_letter(runtime, taobao, json.dumps(trade(tid=number))) for number in (11, 12)]
    broken = dead_letter(runtime, taobao, trade(tid=13, status="NEW_STATUS_2027"))
    untouched = dead_letter(runtime, taobao, "not even json")
    csrf = log_in(client, runtime, "ops_supervisor")
    response = client.post("/console/dead-letters/replay?channel=taobao", headers={**HTMX, "X-CSRF-Token": csrf},
                           data={"ids": [str(fixed[0]), str(fixed[1]), str(broken)]})
    assert response.status_code == 200, response.text
    assert "已重放 3 条死信，其中 1 条仍然失败。" in response.text
    assert f"#{fixed[0]} · 重放成功：已创建订单" in response.text and f"#{broken} · 仍然失败：" in response.text
    assert letter_ids(response.text) == [untouched, broken]  # the open list, redrawn under the same filters
    assert re.search(r'已重放 <span class="count">2</span>', response.text)
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 2
    assert [letter(runtime, n).status for n in (*fixed, broken)] == ["replayed", "replayed", "open"]

    nothing = client.post("/console/dead-letters/replay", headers={**HTMX, "X-CSRF-Token": csrf}, data={})
    assert nothing.status_code == 422 and "请先勾选要处理的死信" in nothing.text
    plain = client.post("/console/dead-letters/replay?status=open", data={"ids": str(untouched), "csrf_token": csrf},
                        follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == "/console/dead-letters"


def test_discarding_needs_a_reason_one_by_one_and_in_bulk(client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    first, second, third = (dead_letter(runtime, taobao, f"test push {number}") for number in range(3))
    csrf = log_in(client, runtime, "ops")
    headers = {**HTMX, "X-CSRF-Token": csrf}
    blank = client.post(f"/console/dead-letters/{first}/discard", headers=headers, data={"note": "  "})
    assert blank.headers["hx-retarget"] == "#toasts" and "作废死信必须填写原因" in blank.text
    assert letter(runtime, first).status == "open"

    done = client.post(f"/console/dead-letters/{first}/discard", headers=headers, data={"note": "测试报文"})
    assert done.status_code == 200 and "已作废 1 条死信。" in done.text and "测试报文" in done.text
    assert letter(runtime, first).status == "discarded"

    bulk_blank = client.post("/console/dead-letters/discard", headers=headers, data={"ids": [str(second)]})
    assert "作废死信必须填写原因" in bulk_blank.text
    bulk = client.post("/console/dead-letters/discard", headers=headers,
                       data={"ids": [str(second), str(third)], "note": "已手工录单"})
    assert bulk.status_code == 200 and "已作废 2 条死信。" in bulk.text and letter_ids(bulk.text) == []
    with runtime.reading() as session:
        assert [a.outcome for a in deadletters.actions_of(session, third)] == ["已手工录单"]


# ------------------------------------------------------------------------------------------------
# Who may do what
# ------------------------------------------------------------------------------------------------


def test_a_viewer_sees_no_actions_and_is_refused_when_posting_anyway(
        client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    letter_id = dead_letter(runtime, taobao, trade(status="NEW_STATUS_2027"))
    csrf = log_in(client, runtime, "viewer")
    listing = client.get("/console/dead-letters").text
    assert letter_ids(listing) == [letter_id]
    assert 'name="ids"' not in listing and "重放所选" not in listing and "/discard" not in listing
    detail = client.get(f"/console/dead-letters/{letter_id}").text
    assert "NEW_STATUS_2027" in detail and "/replay" not in detail and "/discard" not in detail
    assert "<textarea" not in detail
    for path, data in [(f"/console/dead-letters/{letter_id}/replay", {}),
                       (f"/console/dead-letters/{letter_id}/replay", {"corrected_body": "{}"}),
                       (f"/console/dead-letters/{letter_id}/discard", {"note": "x"}),
                       ("/console/dead-letters/replay", {"ids": str(letter_id)}),
                       ("/console/dead-letters/discard", {"ids": str(letter_id), "note": "x"})]:
        response = client.post(path, data={**data, "csrf_token": csrf})
        assert response.status_code == 403 and "当前角色无此权限" in response.text, path
    assert letter(runtime, letter_id).status == "open" and letter(runtime, letter_id).attempts == 0


def test_a_rejected_push_is_shown_for_the_audit_but_never_offered_for_replay(
        client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    letter_id = stored_letter(runtime, taobao, json.dumps(trade()), status="rejected", reason_code="signature",
                              reason="signature did not verify")
    csrf = log_in(client, runtime, "admin")
    detail = client.get(f"/console/dead-letters/{letter_id}").text
    assert "签名无效" in detail and "不能重放" in detail
    assert "/replay" not in detail and "<textarea" not in detail and "/discard" not in detail
    refused = client.post(f"/console/dead-letters/{letter_id}/replay", headers={**HTMX, "X-CSRF-Token": csrf})
    assert refused.status_code == 409 and "toast error" in refused.text
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0


def test_writes_without_the_csrf_token_are_refused(client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    letter_id = dead_letter(runtime, taobao, "not even json")
    log_in(client, runtime, "ops")
    for path, data in [(f"/console/dead-letters/{letter_id}/discard", {"note": "x"}),
                       ("/console/dead-letters/discard", {"ids": str(letter_id), "note": "x"}),
                       ("/console/dead-letters/replay", {"ids": str(letter_id)})]:
        plain = client.post(path, data=data)
        assert plain.status_code == 403 and "表单已失效" in plain.text, path
        forged = client.post(path, data=data, headers={**HTMX, "X-CSRF-Token": "stolen"})
        assert forged.status_code == 403 and forged.headers["hx-retarget"] == "#toasts", path
    assert letter(runtime, letter_id).status == "open"


def test_markup_in_a_raw_body_is_rendered_escaped(client: TestClient, runtime: Runtime, taobao: Shop) -> None:
    script = "<script>alert(1)</script>"
    letter_id = dead_letter(runtime, taobao, trade(status=script, buyer_nick="</textarea><img src=x onerror=alert(2)>"))
    garbage = dead_letter(runtime, taobao, f"{script}' OR 1=1 --")
    log_in(client, runtime, "ops")
    for number in (letter_id, garbage):
        page = client.get(f"/console/dead-letters/{number}").text
        assert script not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img src=x" not in page and "</textarea><img" not in page
    listing = client.get("/console/dead-letters").text
    assert script not in listing and "&lt;script&gt;" in listing
