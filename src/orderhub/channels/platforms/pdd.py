"""Pinduoduo (拼多多开放平台): `/api/router` and trade messages.

Followed: shared/formats.md §3 and §11 — `type` names the API, `client_id`, `access_token`,
`timestamp` in unix seconds, `data_type=JSON`, `version=V1`, the md5 signature, parameters in a
form-encoded POST. Orders are listed with `pdd.order.number.list.increment.get` (full `order_info`
objects under `order_sn_list`, `page`/`page_size`, `has_next`) and read with
`pdd.order.information.get`. Money is yuan, typed `Double` in the Java SDK (JSON number) and string in
the TypeScript one: both arrive here as `Decimal` or `str`, never float.

Errors (`error_response.error_code`): 10016 unknown client_id (seen in public integrations); 10017
invalid sign and 10019 access_token expired (assumed); 70031 call frequency limit (assumed);
52001/52002 platform trouble (retryable). Assumed: an increment window spans at most 30 minutes
(the list API by 成交时间 allows 24 h); `pdd.goods.quantity.update` is sent with `sku_id` only
(the real API also wants `goods_id`). The PDD message service (多多云 WebSocket) is modelled as an
HTTP POST of `{"id", "type", "mall_id", "content"}` (content: a JSON string with `tid`, the order_sn,
and `updated_at`) signed with the relay notice signature (`X-Notice-App-Key`, `X-Notice-Sign`).
"""

from __future__ import annotations

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
    carrier_for,
    from_beijing_text,
    load_push_json,
    page_token,
    read_json,
    read_page_token,
    relayed_messages,
    send,
    windows,
)

LONGEST_WINDOW = timedelta(minutes=30)
CREDENTIAL_CODES = {10016, 10017, 10019}
RATE_LIMIT_CODES = {70031}
RETRYABLE_CODES = {52001, 52002}
# OrderHub's carrier codes → PDD logistics company ids (assumed values).
CARRIER_CODES = {
    "shunfeng": 44, "zhongtong": 115, "yuantong": 85, "yunda": 121, "shentong": 1,
    "jtexpress": 384, "ems": 118, "jd": 120,
}


class PddClient(HttpClientBase):
    default_page_size = 100

    def call(self, api: str, business: Mapping[str, str], answer_key: str,
             idempotency_key: str | None = None) -> dict[str, Any]:
        params = {
            "type": api, "client_id": self.credentials.app_key, "access_token": self.credentials.access_token,
            "timestamp": str(int(datetime.now(UTC).timestamp())), "data_type": "JSON", "version": "V1", **business,
        }
        params["sign"] = signing.pdd_sign(params, self.credentials.app_secret)
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        payload = read_json(send(self.http, "POST", self.url("/api/router"), data=params, headers=headers))
        if not isinstance(payload, dict):
            raise PlatformError("bad_response", f"{api}: not a JSON object", retryable=True)
        if "error_response" in payload:
            raise pdd_error(payload["error_response"])
        body = payload.get(answer_key)
        if not isinstance(body, dict):
            raise PlatformError("bad_response", f"{api}: no {answer_key} in the answer", retryable=True)
        return body

    def list_modified(self, start: datetime, end: datetime, page: str | None = None) -> OrderPage:
        cuts = windows(start, end, LONGEST_WINDOW)
        index, position = read_page_token(page)
        if index >= len(cuts):
            return OrderPage(orders=[], next_page=None)
        page_no = int(position or 1)
        window_start, window_end = cuts[index]
        body = self.call("pdd.order.number.list.increment.get", {
            "start_updated_at": str(int(window_start.timestamp())), "end_updated_at": str(int(window_end.timestamp())),
            "is_lucky_flag": "0", "order_status": "5", "refund_status": "5", "page": str(page_no),
            "page_size": str(self.page_size), "use_has_next": "true",
        }, "order_sn_increment_get_response")
        orders = list(body.get("order_sn_list") or [])
        if body.get("has_next"):
            next_page: str | None = page_token(index, page_no + 1)
        elif index + 1 < len(cuts):
            next_page = page_token(index + 1, 1)
        else:
            next_page = None
        return OrderPage(orders=orders, next_page=next_page)

    def fetch_order(self, channel_order_id: str) -> dict[str, Any]:
        body = self.call("pdd.order.information.get", {"order_sn": channel_order_id}, "order_info_get_response")
        order = body.get("order_info")
        if not isinstance(order, dict):
            raise PlatformError("bad_response", "order_info_get_response without order_info", retryable=True)
        return order

    def ship(self, *, channel_order_id: str, carrier_code: str, waybill_no: str, idempotency_key: str) -> None:
        logistics_id = carrier_for(CARRIER_CODES, carrier_code, self.channel)
        body = self.call("pdd.logistics.online.send", {
            "order_sn": channel_order_id, "logistics_id": str(logistics_id), "tracking_number": waybill_no,
        }, "logistics_online_send_response", idempotency_key)
        if not body.get("is_success"):
            raise PlatformError("pdd.ship_refused", str(body))

    def update_stock(self, *, platform_sku: str, quantity: int, idempotency_key: str) -> None:
        body = self.call("pdd.goods.quantity.update",
                         {"sku_id": platform_sku, "quantity": str(quantity), "update_type": "1"},
                         "goods_quantity_update_response", idempotency_key)
        if not body.get("is_success"):
            raise PlatformError("pdd.stock_refused", str(body))


def pdd_error(error: Mapping[str, Any]) -> PlatformError:
    code = int(error.get("error_code", 0) or 0)
    message = " ".join(str(part) for part in (error.get("error_msg", ""), error.get("sub_msg", "")) if part)
    if code in CREDENTIAL_CODES:
        return CredentialsRejected(str(code), message)
    if code in RATE_LIMIT_CODES:
        return RateLimited(str(code), message)
    return PlatformError(f"pdd.{code}", message, retryable=code in RETRYABLE_CODES)


def parse_push(credentials: ShopCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> list[PushItem]:
    """A relayed PDD trade message (one object or a list), signed with the notice signature."""
    messages = relayed_messages(credentials, headers, body)
    items = []
    for message in messages:
        content = load_push_json(message["content"])
        updated = content.get("updated_at")
        items.append(PushItem(
            channel_order_id=str(content["tid"]), order=None, message_id=str(message["id"]),
            modified_at=from_beijing_text(updated) if updated else None,
        ))
    return items
