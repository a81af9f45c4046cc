"""Douyin shop (抖店开放平台): `openapi-fxg.jinritemai.com/<method path>` and its message push.

Followed: shared/formats.md §4 and §11 and `minibear2021/doudian` (core.py): system parameters in
the query string (`app_key`, `method`, `access_token`, `timestamp` in Beijing local time without a
zone, `v=2`, `sign`, `sign_method=hmac-sha256`), business parameters as the JSON body, signed as
`param_json` (keys sorted, no spaces). Answers: `{"code": 10000, "msg", "sub_code", "sub_msg",
"log_id", "data"}`. Orders are listed with `/order/searchList` by update time (`page` 0-based,
`size` ≤ 100, `total`) and read with `/order/orderDetail`. Money is integer fen, times unix seconds.
Contact data arrives encrypted (`encrypt_post_receiver`, `encrypt_post_tel`, `post_addr.encrypt_detail`);
`decrypt` asks `/order/batchDecrypt` for the plaintext.

The push (消息推送): headers `app-id` and `event-sign` = md5(app_key + raw body + app_secret); the body is
an array of `{"tag", "msg_id", "data"}` with `data` a JSON string holding `p_id` (the order id, a
number above 2^53) and `update_time`. Assumed: the tag map (100 created, 101 paid, 102 shipped,
103 finished, 105 address changed, 106 cancelled, 200-series after-sales), the error codes (30001
unknown app_key, 30002 invalid access_token, 30005 invalid sign; `isp.*` sub codes are platform trouble)
and the `/order/batchDecrypt` reply shape `data.decrypt_infos[{auth_id, cipher_text, decrypt_text, err_no}]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orderhub.channels import signing
from orderhub.channels.platforms.base import (
    IDEMPOTENCY_HEADER,
    CredentialsRejected,
    HttpClientBase,
    InvalidSignature,
    OrderPage,
    PlatformError,
    PushItem,
    ShopCredentials,
    beijing_text,
    carrier_for,
    header,
    load_push_json,
    order_id_text,
    read_json,
    require_utc,
    send,
)

SUCCESS = 10000
CREDENTIAL_CODES = {30001, 30002, 30005}
ORDER_TAGS = {"100", "101", "102", "103", "105", "106", "200", "201", "202", "206", "207"}
# OrderHub's carrier codes → Douyin logistics company codes (Douyin uses kuaidi100-style codes).
CARRIER_CODES = {
    "shunfeng": "shunfeng", "zhongtong": "zhongtong", "yuantong": "yuantong", "yunda": "yunda",
    "shentong": "shentong", "jtexpress": "jtexpress", "ems": "ems", "jd": "jd",
}


class DouyinClient(HttpClientBase):
    default_page_size = 100

    def call(self, method: str, business: Mapping[str, Any], idempotency_key: str | None = None) -> Any:
        param_json = signing.douyin_param_json(business)
        timestamp = beijing_text(datetime.now(UTC))
        query = {
            "app_key": self.credentials.app_key, "method": method, "access_token": self.credentials.access_token,
            "timestamp": timestamp, "v": "2", "sign_method": "hmac-sha256",
            "sign": signing.douyin_sign(app_key=self.credentials.app_key, app_secret=self.credentials.app_secret,
                                        method=method, param_json=param_json, timestamp=timestamp),
        }
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        path = "/" + method.replace(".", "/")
        response = send(self.http, "POST", self.url(path), params=query, content=param_json.encode(), headers=headers)
        payload = read_json(response)
        if not isinstance(payload, dict):
            raise PlatformError("bad_response", f"{method}: not a JSON object", retryable=True)
        code = int(payload.get("code", payload.get("err_no", -1)))
        if code not in (SUCCESS, 0):
            raise douyin_error(payload)
        return payload.get("data")

    def list_modified(self, start: datetime, end: datetime, page: str | None = None) -> OrderPage:
        page_no = int(page or 0)
        data = self.call("order.searchList", {
            "update_time_start": int(require_utc(start).timestamp()),
            "update_time_end": int(require_utc(end).timestamp()),
            "page": page_no, "size": self.page_size, "order_by": "update_time", "order_asc": True,
        })
        orders = list(data.get("shop_order_list") or [])
        more = (page_no + 1) * self.page_size < int(data.get("total", 0))
        return OrderPage(orders=orders, next_page=str(page_no + 1) if more else None)

    def fetch_order(self, channel_order_id: str) -> dict[str, Any]:
        data = self.call("order.orderDetail", {"shop_order_id": channel_order_id})
        order = data.get("shop_order_detail") if isinstance(data, dict) else None
        if not isinstance(order, dict):
            raise PlatformError("bad_response", "orderDetail without shop_order_detail", retryable=True)
        return order

    def ship(self, *, channel_order_id: str, carrier_code: str, waybill_no: str, idempotency_key: str) -> None:
        company = carrier_for(CARRIER_CODES, carrier_code, self.channel)
        self.call("order.logisticsAdd", {"order_id": channel_order_id, "company_code": company,
                                         "logistics_code": waybill_no}, idempotency_key)

    def update_stock(self, *, platform_sku: str, quantity: int, idempotency_key: str) -> None:
        self.call("sku.syncStock", {"sku_id": int(platform_sku), "stock_num": quantity, "incremental": False},
                  idempotency_key)

    def decrypt(self, order: dict[str, Any]) -> dict[str, str]:
        """The receiver's plaintext `{"name", "phone", "detail"}` (each decryption is counted by Douyin)."""
        order_id = order_id_text(order["order_id"])
        ciphers = {
            "name": order.get("encrypt_post_receiver", ""),
            "phone": order.get("encrypt_post_tel", ""),
            "detail": (order.get("post_addr") or {}).get("encrypt_detail", ""),
        }
        wanted = [{"auth_id": order_id, "cipher_text": text} for text in ciphers.values() if text]
        if not wanted:
            return {}
        data = self.call("order.batchDecrypt", {"cipher_infos": wanted})
        plain: dict[str, str] = {}
        for info in data.get("decrypt_infos") or []:
            if int(info.get("err_no", 0)) != 0:
                raise PlatformError("douyin.decrypt_failed", str(info.get("err_msg") or info))
            plain[info["cipher_text"]] = info["decrypt_text"]
        return {field: plain[text] for field, text in ciphers.items() if text in plain}


def douyin_error(payload: Mapping[str, Any]) -> PlatformError:
    code = int(payload.get("code", payload.get("err_no", -1)))
    sub_code = str(payload.get("sub_code", ""))
    message = " ".join(str(part) for part in (payload.get("msg") or payload.get("message", ""),
                                              sub_code, payload.get("sub_msg", "")) if part)
    if code in CREDENTIAL_CODES:
        return CredentialsRejected(str(code), message)
    return PlatformError(sub_code or f"douyin.{code}", message, retryable=sub_code.startswith("isp."))


def parse_push(credentials: ShopCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> list[PushItem]:
    if header(headers, "app-id") != credentials.app_key:
        raise InvalidSignature("app-id is not this shop's app key")
    event_sign = header(headers, "event-sign")
    if not signing.verify_douyin_event(credentials.app_key, body, credentials.app_secret, event_sign):
        raise InvalidSignature("event-sign does not match")
    items = []
    for message in load_push_json(body):
        if str(message["tag"]) not in ORDER_TAGS:
            continue
        data = load_push_json(message["data"])
        order_id = data.get("p_id") or data.get("shop_order_id")
        updated = data.get("update_time")
        items.append(PushItem(
            channel_order_id=order_id_text(order_id), order=None, message_id=str(message["msg_id"]),
            modified_at=datetime.fromtimestamp(int(updated), UTC) if updated else None,
        ))
    return items
