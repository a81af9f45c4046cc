"""Taobao and Tmall: the TOP API (`/router/rest`) and trade messages.

Followed: the official TOP SDKs as summarised in shared/formats.md §1 and §11 (PHP `TopClient`,
Java `DefaultTopClient`): every parameter in a form-encoded POST, `timestamp` in Beijing time,
`sign_method=md5`, a `partner_id`. Orders are listed with `taobao.trades.sold.increment.get`
(`use_has_next`, windows of at most one day — the platform's limit) and read in full with
`taobao.trade.fullinfo.get`: the list omits receiver and line fields, so each trade is fetched.
`tid` is a JSON number above 2^53; it is parsed as an exact integer, and `tid_str` sits beside it.

Errors (`error_response.code`): 7 App Call Limited (rate limit; the ban length is in `sub_msg`),
25 Invalid Signature, 26/27 missing/invalid session, 28/29 missing/invalid app key (credentials),
10 and 15 with an `isp.*` sub code (platform trouble: retryable), anything else not retryable.

Assumed: TMC (淘宝消息服务) is a WebSocket channel whose messages carry no signature. OrderHub models
a message as an HTTP POST of `{"id", "topic", "pub_time", "pub_app_key", "user_nick", "content"}`
(content: the TMC JSON string with `tid` and `status`) signed with the relay notice signature
(`X-Notice-App-Key`, `X-Notice-Sign`, see `signing.notice_sign`). `taobao.item.quantity.update` is sent
with `sku_id` and `type=1` (full quantity) without `num_iid`, which the real API also wants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from orderhub.channels import signing
from orderhub.channels.platforms.base import (
    IDEMPOTENCY_HEADER,
    CredentialsRejected,
    HttpClientBase,
    OrderPage,
    PlatformError,
    PushItem,
    RateLimited,
    ShopCredentials,
    beijing_text,
    carrier_for,
    from_beijing_text,
    load_push_json,
    order_id_text,
    page_token,
    read_json,
    read_page_token,
    relayed_messages,
    send,
    windows,
)

LONGEST_WINDOW = timedelta(days=1)
PARTNER_ID = "top-sdk-java-20240101"
CREDENTIAL_CODES = {25, 26, 27, 28, 29}
RETRYABLE_CODES = {10}
LIST_FIELDS = "tid,tid_str,status,modified,payment,type"
FULLINFO_FIELDS = (
    "tid,tid_str,status,type,buyer_nick,buyer_open_uid,seller_nick,created,pay_time,modified,consign_time,end_time,"
    "receiver_name,receiver_mobile,receiver_phone,receiver_state,receiver_city,receiver_district,receiver_town,"
    "receiver_address,receiver_zip,total_fee,discount_fee,adjust_fee,post_fee,payment,received_payment,num,num_iid,"
    "seller_memo,seller_flag,buyer_message,step_trade_status,step_paid_fee,orders"
)
# OrderHub's carrier codes (kuaidi100's) → TOP logistics company codes. JTSD for J&T is assumed.
CARRIER_CODES = {
    "shunfeng": "SF", "zhongtong": "ZTO", "yuantong": "YTO", "yunda": "YUNDA", "shentong": "STO",
    "jtexpress": "JTSD", "ems": "EMS", "jd": "JD",
}
_BAN_SECONDS = re.compile(r"(\d+)\s*more seconds")


def response_key(method: str) -> str:
    """`taobao.trade.fullinfo.get` answers under `trade_fullinfo_get_response`."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


class TaobaoClient(HttpClientBase):
    default_page_size = 100

    def call(self, method: str, business: Mapping[str, str], idempotency_key: str | None = None) -> dict[str, Any]:
        params = {
            "method": method, "app_key": self.credentials.app_key, "session": self.credentials.access_token,
            "timestamp": beijing_text(datetime.now(UTC)), "format": "json", "v": "2.0", "sign_method": "md5",
            "partner_id": PARTNER_ID, "simplify": "false", **business,
        }
        params["sign"] = signing.top_sign(params, self.credentials.app_secret, "md5")
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        payload = read_json(send(self.http, "POST", self.url("/router/rest"), data=params, headers=headers))
        if not isinstance(payload, dict):
            raise PlatformError("bad_response", f"{method}: not a JSON object", retryable=True)
        if "error_response" in payload:
            raise top_error(payload["error_response"])
        body = payload.get(response_key(method))
        if not isinstance(body, dict):
            raise PlatformError("bad_response", f"{method}: no {response_key(method)} in the answer", retryable=True)
        return body

    def list_modified(self, start: datetime, end: datetime, page: str | None = None) -> OrderPage:
        cuts = windows(start, end, LONGEST_WINDOW)
        index, position = read_page_token(page)
        if index >= len(cuts):
            return OrderPage(orders=[], next_page=None)
        page_no = int(position or 1)
        window_start, window_end = cuts[index]
        body = self.call("taobao.trades.sold.increment.get", {
            "fields": LIST_FIELDS, "start_modified": beijing_text(window_start),
            "end_modified": beijing_text(window_end), "page_no": str(page_no), "page_size": str(self.page_size),
            "use_has_next": "true",
        })
        listed = body.get("trades", {}).get("trade", [])
        trades = [trade if _is_full(trade) else self.fetch_order(_tid(trade)) for trade in listed]
        if body.get("has_next"):
            next_page: str | None = page_token(index, page_no + 1)
        elif index + 1 < len(cuts):
            next_page = page_token(index + 1, 1)
        else:
            next_page = None
        return OrderPage(orders=trades, next_page=next_page)

    def fetch_order(self, channel_order_id: str) -> dict[str, Any]:
        body = self.call("taobao.trade.fullinfo.get", {"fields": FULLINFO_FIELDS, "tid": channel_order_id})
        trade = body.get("trade")
        if not isinstance(trade, dict):
            raise PlatformError("bad_response", "trade_fullinfo_get_response without a trade", retryable=True)
        return trade

    def ship(self, *, channel_order_id: str, carrier_code: str, waybill_no: str, idempotency_key: str) -> None:
        company = carrier_for(CARRIER_CODES, carrier_code, self.channel)
        body = self.call("taobao.logistics.offline.send",
                         {"tid": channel_order_id, "out_sid": waybill_no, "company_code": company}, idempotency_key)
        if not body.get("shipping", {}).get("is_success"):
            raise PlatformError("logistics.not_success", f"offline.send for {channel_order_id} not successful")

    def update_stock(self, *, platform_sku: str, quantity: int, idempotency_key: str) -> None:
        self.call("taobao.item.quantity.update",
                  {"sku_id": platform_sku, "quantity": str(quantity), "type": "1"}, idempotency_key)


def top_error(error: Mapping[str, Any]) -> PlatformError:
    code = int(error.get("code", 0) or 0)
    sub_code = str(error.get("sub_code", ""))
    message = " ".join(str(part) for part in (error.get("msg", ""), sub_code, error.get("sub_msg", "")) if part)
    if code == 7:
        ban = _BAN_SECONDS.search(str(error.get("sub_msg", "")))
        return RateLimited("7", message, retry_after=float(ban.group(1)) if ban else None)
    if code in CREDENTIAL_CODES:
        return CredentialsRejected(str(code), message)
    retryable = code in RETRYABLE_CODES or sub_code.startswith("isp.")
    return PlatformError(sub_code or str(code), message, retryable=retryable)


def _is_full(trade: Mapping[str, Any]) -> bool:
    return "orders" in trade and "receiver_name" in trade


def _tid(trade: Mapping[str, Any]) -> str:
    return str(trade.get("tid_str") or order_id_text(trade["tid"]))


def parse_push(credentials: ShopCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> list[PushItem]:
    """A relayed TMC trade message (one object or a list of them), signed with the notice signature."""
    messages = relayed_messages(credentials, headers, body)
    items = []
    for message in messages:
        content = load_push_json(message["content"])
        pub_time = message.get("pub_time")
        items.append(PushItem(
            channel_order_id=order_id_text(content["tid"]), order=None, message_id=str(message["id"]),
            modified_at=from_beijing_text(pub_time) if pub_time else None,
        ))
    return items
