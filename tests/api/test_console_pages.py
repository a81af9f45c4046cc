"""The staff console over HTTP: sign-in, CSRF, permissions, the order list, detail and manual entry."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy import select

from orderhub.auth import service as auth
from orderhub.auth.deps import SESSION_COOKIE
from orderhub.channels import service as channels
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.orders import pages as order_pages
from orderhub.orders import service as orders
from orderhub.orders.model import Order
from orderhub.orders.schemas import OrderCreate
from orderhub.runtime import Runtime

pytestmark = pytest.mark.usefixtures("merchant")

PASSWORD = "correct-horse-9"
WEB = Path(order_pages.__file__).parents[1] / "web"
ORDER: dict[str, Any] = {
    "channel": "phone", "shop": "hq", "source_type": "电话订单",
    "receiver": {"name": "张三", "phone": "13800138000", "province": "浙江省", "city": "杭州市",
                 "district": "西湖区", "address": "文三路90号"},
    "lines": [{"sku": "SKU-001", "qty": 2, "unit_price": "99.00"}],
    "paid_amount": "198.00", "payment": {"method": "wechat", "paid_at": "2026-11-20T10:00:00+08:00"},
}
FORM: dict[str, str] = {
    "channel": "phone", "shop": "hq", "source_type": "电话订单", "receiver.name": "李四",
    "receiver.phone": "13900139000", "receiver.province": "浙江省", "receiver.city": "杭州市",
    "receiver.district": "西湖区", "receiver.address": "文三路90号", "id_card": "",
    "lines[0].sku": "SKU-002", "lines[0].qty": "1", "lines[0].unit_price": "399.00", "lines[0].discount": "0.00",
    "shipping_fee": "10.00", "discount": "9.00", "paid_amount": "400.00", "payment.method": "alipay",
    "payment.paid_at": "2026-11-20T09:30", "invoice.type": "none", "invoice.title": "", "invoice.tax_id": "",
    "buyer_memo": "", "seller_memo": "",
}
HTMX = {"HX-Request": "true"}


def user(runtime: Runtime, role: str) -> str:
    username = f"{role}-console"
    auth.create_user(runtime.uow(), username=username, password=PASSWORD, role=role)
    return username


def login_token(client: TestClient, path: str = "/console/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    return match[1]


def log_in(client: TestClient, runtime: Runtime, role: str) -> str:
    """Sign in as a new user of `role`; return the session's CSRF token."""
    username = user(runtime, role)
    response = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                   "csrf_token": login_token(client)}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get("/console/orders")
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert match is not None
    return match[1]


def place_order(runtime: Runtime, **changes: Any) -> Order:
    body = OrderCreate.model_validate({**ORDER, **changes})
    return orders.create_manual_order(runtime.uow(), draft=body.to_draft(), actor=Actor("seed", "cli"),
                                      policy=runtime.policy)


def listed(html: str) -> list[str]:
    return re.findall(r'<a class="mono" href="/console/orders/([^"]+)"', html)


# ------------------------------------------------------------------------------------------------
# Signing in and out
# ------------------------------------------------------------------------------------------------


def test_logging_in_sets_a_strict_session_cookie_and_returns_to_the_page_asked_for(
        client: TestClient, runtime: Runtime) -> None:
    username = user(runtime, "ops")
    token = login_token(client, "/console/login?next=/console/orders/new")
    response = client.post("/console/login", follow_redirects=False, data={
        "username": username, "password": PASSWORD, "csrf_token": token, "next": "/console/orders/new"})
    assert response.status_code == 303 and response.headers["location"] == "/console/orders/new"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert client.get("/console/orders/new").status_code == 200


def test_session_cookies_are_secure_where_the_settings_say_https(client: TestClient, runtime: Runtime) -> None:
    runtime.settings.secure_cookies = True
    username = user(runtime, "ops")
    page = client.get("/console/login")
    assert "Secure" in page.headers["set-cookie"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    client.cookies.set("orderhub_login_csrf", token[1])  # httpx keeps Secure cookies off http://
    response = client.post("/console/login", follow_redirects=False,
                           data={"username": username, "password": PASSWORD, "csrf_token": token[1]})
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_a_wrong_password_shows_the_form_again_with_a_bilingual_message(client: TestClient, runtime: Runtime) -> None:
    username = user(runtime, "ops")
    response = client.post("/console/login", data={"username": username, "password": "wrong-horse-9",
                                                   "csrf_token": login_token(client)})
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text and "Wrong username or password" in response.text
    assert f'value="{username}"' in response.text and SESSION_COOKIE not in response.cookies
    nul = client.post("/console/login", data={"username": "ops\x00", "password": PASSWORD,
                                              "csrf_token": login_token(client)})
    assert nul.status_code == 401


def test_a_login_whose_csrf_token_does_not_match_its_cookie_is_refused(client: TestClient, runtime: Runtime) -> None:
    username = user(runtime, "ops")
    login_token(client)
    response = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                   "csrf_token": "forged-by-another-site"})
    assert response.status_code == 403 and "登录表单已过期" in response.text
    assert SESSION_COOKIE not in response.cookies
    client.cookies.clear()
    no_cookie = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                                    "csrf_token": "anything"})
    assert no_cookie.status_code == 403


@pytest.mark.parametrize("target", ["https://evil.example/console", "//evil.example/console/orders",
                                    "/\\evil.example", "/api/v1/orders"])
def test_login_only_returns_to_pages_of_the_console(client: TestClient, runtime: Runtime, target: str) -> None:
    username = user(runtime, "ops")
    response = client.post("/console/login", follow_redirects=False, data={
        "username": username, "password": PASSWORD, "csrf_token": login_token(client), "next": target})
    assert response.headers["location"] == "/console/orders"


def test_logging_out_ends_the_session(client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    secret = client.cookies[SESSION_COOKIE]
    response = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/login"
    client.cookies.set(SESSION_COOKIE, secret)
    assert client.get("/console/orders", follow_redirects=False).status_code == 303


# ------------------------------------------------------------------------------------------------
# Without a session, without a CSRF token, without the permission
# ------------------------------------------------------------------------------------------------


def test_pages_send_a_visitor_without_a_session_to_the_login_page(client: TestClient) -> None:
    response = client.get("/console/orders?status=paid", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Forders%3Fstatus%3Dpaid"
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/login"
    htmx = client.get("/console/orders", headers={**HTMX, "HX-Current-URL": "http://testserver/console/orders/X"},
                      follow_redirects=False)
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/console/login?next=%2Fconsole%2Forders%2FX"
    plain_post = client.post("/console/orders/X/transitions", data={"to": "approved"})
    assert plain_post.status_code == 401 and "/console/login" in plain_post.text


def test_a_write_without_the_csrf_token_is_refused_with_403(client: TestClient, runtime: Runtime) -> None:
    log_in(client, runtime, "ops")
    order = place_order(runtime)
    plain = client.post(f"/console/orders/{order.order_no}/transitions", data={"to": "approved"})
    assert plain.status_code == 403 and "表单已失效" in plain.text
    htmx = client.post(f"/console/orders/{order.order_no}/transitions", data={"to": "approved"},
                       headers={**HTMX, "X-CSRF-Token": "stolen"})
    assert htmx.status_code == 403 and htmx.headers["hx-retarget"] == "#toasts"
    assert client.post("/console/orders/new", data=FORM).status_code == 403
    assert client.post("/console/logout").status_code == 403
    with runtime.reading() as session:
        assert orders.get_order(session, order.order_no).status == "paid"


def test_a_viewer_can_read_but_not_open_the_order_form_nor_move_an_order(
        client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "viewer")
    order = place_order(runtime)
    detail = client.get(f"/console/orders/{order.order_no}")
    assert detail.status_code == 200 and "transitions" not in detail.text
    assert "/console/orders/new" not in detail.text
    assert client.get("/console/orders/new").status_code == 403
    assert client.post("/console/orders/new/validate", data={**FORM, "csrf_token": csrf}).status_code == 403
    moved = client.post(f"/console/orders/{order.order_no}/transitions", data={"to": "approved", "csrf_token": csrf})
    assert moved.status_code == 403 and "当前角色无此权限" in moved.text


# ------------------------------------------------------------------------------------------------
# Order list
# ------------------------------------------------------------------------------------------------


def test_the_list_filters_by_status_channel_shop_search_and_business_day(
        client: TestClient, runtime: Runtime, clock: FixedClock) -> None:
    paid = place_order(runtime)
    pending = place_order(runtime, receiver={**ORDER["receiver"], "name": "王五", "phone": "13700137000"},
                          payment={"method": "", "paid_at": None})
    clock.advance(timedelta(hours=15))  # 2026-11-20 17:00 UTC is already the 21st in Shanghai
    late = place_order(runtime, channel="manual", shop="bonded", id_card="11010519491231002X")
    log_in(client, runtime, "ops")

    everything = client.get("/console/orders").text
    assert listed(everything) == [late.order_no, pending.order_no, paid.order_no]
    assert re.search(r"全部 <span class=\"count\">3</span>", everything)
    assert re.search(r"待付款 <span class=\"count\">1</span>", everything)

    assert listed(client.get("/console/orders?status=pending_payment").text) == [pending.order_no]
    assert listed(client.get("/console/orders?channel=manual").text) == [late.order_no]
    with runtime.reading() as session:
        hq = next(shop.id for shop in channels.list_shops(session) if shop.code == "hq")
    assert listed(client.get(f"/console/orders?shop={hq}").text) == [pending.order_no, paid.order_no]
    assert listed(client.get(f"/console/orders?q={paid.order_no}").text) == [paid.order_no]
    assert listed(client.get("/console/orders?q=13700137000").text) == [pending.order_no]
    assert listed(client.get("/console/orders?q=王五").text) == [pending.order_no]
    day = client.get("/console/orders?created_from=2026-11-20&created_to=2026-11-20").text
    assert listed(day) == [pending.order_no, paid.order_no]
    assert listed(client.get("/console/orders?created_from=2026-11-21").text) == [late.order_no]


def test_htmx_filtering_returns_only_the_results_and_pushes_a_clean_url(client: TestClient, runtime: Runtime) -> None:
    log_in(client, runtime, "ops")
    order = place_order(runtime)
    response = client.get("/console/orders", params={"status": "paid", "channel": "", "q": ""}, headers=HTMX)
    assert response.status_code == 200 and "<html" not in response.text
    assert listed(response.text) == [order.order_no]
    assert response.headers["hx-push-url"] == "/console/orders?status=paid"


def test_the_list_pages_by_cursor_with_a_link_back_to_the_first_page(
        client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(order_pages, "PAGE_SIZE", 2)
    log_in(client, runtime, "ops")
    placed = [place_order(runtime).order_no for _ in range(3)]
    first = client.get("/console/orders?status=paid").text
    assert listed(first) == placed[:0:-1] and "第一页" not in first
    next_url = re.search(r'<a href="([^"]+)" hx-get="[^"]+">下一页', first)
    assert next_url is not None and "status=paid" in next_url[1]
    second = client.get(next_url[1].replace("&amp;", "&")).text
    assert listed(second) == [placed[0]] and "下一页" not in second
    assert 'href="/console/orders?status=paid"' in second


def test_bad_filter_values_show_an_error_page_not_a_crash(client: TestClient, runtime: Runtime) -> None:
    log_in(client, runtime, "ops")
    for query in ("status=lost", "created_from=20-11-2026", "channel=ebay", "cursor=garbage", "shop=hq"):
        response = client.get(f"/console/orders?{query}")
        assert response.status_code in (400, 422), (query, response.status_code)
        assert "<html" in response.text and "error-page" in response.text


# ------------------------------------------------------------------------------------------------
# Detail and transitions
# ------------------------------------------------------------------------------------------------


def test_the_detail_shows_amounts_receiver_and_a_timeline_and_offers_the_allowed_moves(
        client: TestClient, runtime: Runtime) -> None:
    log_in(client, runtime, "ops")
    order = place_order(runtime, receiver={**ORDER["receiver"], "phone": "0571-88886666"}, shipping_fee="10.00",
                        paid_amount="208.00")
    page = client.get(f"/console/orders/{order.order_no}").text
    assert "¥208.00" in page and "¥198.00" in page and "¥10.00" in page
    assert "浙江省 杭州市 西湖区 文三路90号" in page and "0571-88886666" in page and "座机" in page
    assert "2026-11-20 10:00" in page  # created at 02:00 UTC, shown in Shanghai time
    offered = set(re.findall(r'name="to" value="([a-z_]+)"', page))
    assert offered == {"approved", "cancelled", "refunding", "on_hold"}
    assert "创建订单" in page and "电话订单" in page
    assert f'href="/lookup?order={order.order_no}"' in page  # what the customer sees, to send as a link


def test_a_move_over_htmx_redraws_the_detail_with_the_new_status_and_timeline(
        client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    order = place_order(runtime)
    headers = {**HTMX, "X-CSRF-Token": csrf}
    response = client.post(f"/console/orders/{order.order_no}/transitions", headers=headers,
                           data={"to": "approved", "reason": "核对无误", "version": str(order.version)})
    assert response.status_code == 200 and response.text.startswith('<div id="order-detail"')
    assert "状态已变更为“已审”" in response.text and "核对无误" in response.text
    with runtime.reading() as session:
        assert [e.to_status for e in orders.order_timeline(session, order.order_no)] == ["paid", "approved"]


def test_an_illegal_move_a_hold_without_reason_and_a_stale_page_come_back_as_toasts(
        client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    order = place_order(runtime)
    headers = {**HTMX, "X-CSRF-Token": csrf}
    url = f"/console/orders/{order.order_no}/transitions"
    illegal = client.post(url, headers=headers, data={"to": "shipped"})
    assert illegal.status_code == 409 and illegal.headers["hx-retarget"] == "#toasts"
    assert illegal.headers["hx-reswap"] == "beforeend" and 'class="toast error"' in illegal.text
    unreadable = client.post(url, headers=headers, data={"to": "teleported", "reason": "x" * 501})
    assert unreadable.status_code == 422 and unreadable.headers["hx-retarget"] == "#toasts"
    assert "最多 500 个字符" in unreadable.text
    hold = client.post(url, headers=headers, data={"to": "on_hold", "reason": "  "})
    assert hold.status_code == 422 and "挂起订单必须填写原因" in hold.text and hold.headers["hx-retarget"] == "#toasts"
    assert client.post(url, headers=headers, data={"to": "approved", "version": "1"}).status_code == 200
    stale = client.post(url, headers=headers, data={"to": "allocated", "version": "1"})
    assert stale.status_code == 409 and "订单已被他人修改" in stale.text


def test_a_large_order_approved_by_ops_waits_for_a_supervisor(client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    order = place_order(runtime, lines=[{"sku": "SKU-002", "qty": 20, "unit_price": "399.00"}],
                        paid_amount="7980.00")
    response = client.post(f"/console/orders/{order.order_no}/transitions", data={"to": "approved"},
                           headers={**HTMX, "X-CSRF-Token": csrf})
    assert response.status_code == 200 and "已提交主管审批" in response.text
    assert "等待主管审批" in response.text
    english = client.get(f"/console/orders/{order.order_no}?lang=en").text
    assert "Waiting for a supervisor's approval" in english


# ------------------------------------------------------------------------------------------------
# Manual order form
# ------------------------------------------------------------------------------------------------


def errors_of(html: str) -> dict[str, str]:
    return {slot: re.sub(r"<[^>]+>", "", text)
            for slot, text in re.findall(r'class="field-error" id="([^"]+)"[^>]*>(.*?)</div>', html) if text}


def test_inline_validation_marks_a_bad_phone_and_a_missing_district_next_to_their_fields(
        client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    form = {**FORM, "receiver.phone": "12345", "receiver.district": "", "csrf_token": csrf,
            "touched": "receiver.phone,receiver.district"}
    response = client.post("/console/orders/new/validate", data=form, headers=HTMX)
    assert response.status_code == 200
    errors = errors_of(response.text)
    assert set(errors) == {"err-receiver-phone", "err-receiver-district"}
    assert "12345" in errors["err-receiver-phone"] and "缺少区县" in errors["err-receiver-district"]
    assert 'id="err-receiver-name" hx-swap-oob="true"></div>' in response.text  # cleared, not left stale
    assert "还有 2 处需要修改" in response.text
    fixed = client.post("/console/orders/new/validate", data={**form, "receiver.phone": "13900139000",
                                                              "receiver.district": "西湖区"}, headers=HTMX)
    assert errors_of(fixed.text) == {} and "检查通过" in fixed.text
    assert "¥399.00" in fixed.text and "¥400.00" in fixed.text  # goods and amount due, live


def test_inline_validation_speaks_only_about_fields_already_touched(client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    form = {**FORM, "receiver.phone": "12345", "receiver.name": "", "csrf_token": csrf, "touched": "receiver.phone"}
    response = client.post("/console/orders/new/validate", data=form, headers=HTMX)
    assert set(errors_of(response.text)) == {"err-receiver-phone"}
    assert "检查通过" not in response.text
    review = client.post("/console/orders/new", data=form)
    assert {"err-receiver-phone", "err-receiver-name"} <= set(errors_of(review.text))


def test_money_and_number_typos_become_field_errors_with_the_other_checks_still_run(
        client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    form = {**FORM, "csrf_token": csrf, "lines[0].qty": "两", "paid_amount": "1.234", "shipping_fee": "abc",
            "payment.paid_at": "yesterday", "receiver.phone": "1", "lines[3].sku": "NOPE", "lines[3].qty": "1",
            "lines[3].unit_price": "1", "seller_memo": "nul\x00byte"}
    response = client.post("/console/orders/new", data=form)
    assert response.status_code == 422
    errors = errors_of(response.text)
    assert {"err-lines-0-qty", "err-paid-amount", "err-shipping-fee", "err-payment-paid-at", "err-receiver-phone",
            "err-lines-3-sku", "err-seller-memo"} == set(errors)
    assert "整数" in errors["err-lines-0-qty"] and "199.00" in errors["err-paid-amount"]
    assert 'value="两"' in response.text and 'value="1.234"' in response.text  # the typed text is kept


def test_submitting_shows_a_confirmation_step_and_only_confirming_creates_the_order(
        client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    form = {**FORM, "csrf_token": csrf, "receiver.phone": "139 0013 9000"}
    review = client.post("/console/orders/new", data=form)
    assert review.status_code == 200 and "核对订单" in review.text
    assert "13900139000" in review.text and "浙江省 杭州市 西湖区 文三路90号" in review.text
    assert "茶叶礼盒" in review.text and "¥400.00" in review.text and "电话订单" in review.text
    with runtime.reading() as session:
        assert session.scalar(select(Order.id)) is None
    back = client.post("/console/orders/new", data={**form, "action": "edit"})
    assert back.status_code == 200 and 'value="139 0013 9000"' in back.text and "status-bad" not in back.text
    created = client.post("/console/orders/new", data={**form, "action": "confirm"}, follow_redirects=False)
    assert created.status_code == 303
    detail = client.get(created.headers["location"])
    assert "订单已创建" in detail.text and "李四" in detail.text
    with runtime.reading() as session:
        order = session.scalars(select(Order)).one()
        assert order.status == "paid" and order.paid_amount_fen == 40000 and order.receiver_phone == "13900139000"


def test_removed_line_rows_leave_gaps_that_errors_still_point_at(client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    form = {key: value for key, value in FORM.items() if not key.startswith("lines[0]")}
    form |= {"csrf_token": csrf, "lines[2].sku": "SKU-002", "lines[2].qty": "1", "lines[2].unit_price": "399.00",
             "lines[5].sku": "SKU-001", "lines[5].qty": "0", "lines[5].unit_price": "99.00", "touched": "lines[5].qty"}
    errors = errors_of(client.post("/console/orders/new/validate", data=form, headers=HTMX).text)
    assert set(errors) == {"err-lines-5-qty"}
    row = client.get("/console/orders/new/line?index=6")
    assert 'name="lines[6].sku"' in row.text and 'hx-get="/console/orders/new/line?index=7"' in row.text


def test_memos_with_markup_and_sql_are_stored_verbatim_and_rendered_escaped(
        client: TestClient, runtime: Runtime) -> None:
    csrf = log_in(client, runtime, "ops")
    script, sql = "<script>alert(1)</script>", "' OR 1=1 --"
    form = {**FORM, "csrf_token": csrf, "buyer_memo": script, "seller_memo": sql, "action": "confirm"}
    created = client.post("/console/orders/new", data=form, follow_redirects=False)
    assert created.status_code == 303
    with runtime.reading() as session:
        order = session.scalars(select(Order)).one()
        assert (order.buyer_memo, order.seller_memo) == (script, sql)
    page = client.get(created.headers["location"]).text
    assert script not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#39; OR 1=1 --" in page
    found = client.get("/console/orders", params={"q": sql})
    assert found.status_code == 200 and listed(found.text) == []


# ------------------------------------------------------------------------------------------------
# Languages
# ------------------------------------------------------------------------------------------------


def test_the_language_switch_sticks_in_a_cookie(client: TestClient, runtime: Runtime) -> None:
    log_in(client, runtime, "ops")
    place_order(runtime)
    chinese = client.get("/console/orders").text
    assert '<html lang="zh-CN">' in chinese and "待审" in chinese and "¥198.00" in chinese
    english = client.get("/console/orders?lang=en")
    assert english.cookies.get("orderhub_lang") == "en"
    assert '<html lang="en">' in english.text and 'Paid <span class="count">' in english.text
    assert "New order" in english.text
    assert "Ops" in client.get("/console/orders").text  # the cookie keeps English without the query
    assert "订单中心" in client.get("/console/orders?lang=zh-CN").text


def test_every_message_of_the_console_templates_has_a_chinese_translation() -> None:
    extracted = {message if isinstance(message, str) else message[0]
                 for _, _, message, _, _ in extract_from_dir(
                     WEB / "templates", method_map=[("**.html", "jinja2")],
                     options_map={"**.html": {"extensions": "jinja2.ext.i18n"}})}
    with (WEB / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source)
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string and not m.fuzzy}
    assert extracted - translated == set()
    assert translated - extracted == set(), "translations no template uses any more"


def test_an_unknown_console_page_is_a_page_not_json(client: TestClient, runtime: Runtime) -> None:
    log_in(client, runtime, "viewer")
    response = client.get("/console/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html") and "页面不存在" in response.text
    assert client.get("/api/v1/no-such-thing").json()["error"]["code"] == "not_found"
