"""Kuaishou shop (快手电商开放平台): `openapi.kwaixiaodian.com/<method path>` and order messages.

shared/formats.md does not cover Kuaishou; this follows the open-platform SDK as ported in
`crywolfx/kuaishou-merchant-open-api` (`KsMerchantClient.execute`, 2022) and the order models of a
public Go SDK (`open.order.cursor.list` docs link, `OrderDetail`). Requests: GET for reads, form POST
for writes, to `/` + method with dots as slashes; parameters `appkey`, `method`, `version=1`,
`access_token`, `timestamp` (epoch ms), `signMethod`, `param` (business JSON, keys sorted, compact),
`sign` = MD5 of the sorted `k=v&…&signSecret=…` (or base64 HMAC-SHA256). Kuaishou issues a separate
*sign secret* per app; OrderHub keeps it as the shop's `app_secret`. Answers: `{"result": 1,
"error_msg", "code", "msg", "data"}`. Orders are listed with `open.order.cursor.list` by update time
(`queryType=2`, `sort=1`, cursor paging, window ≤ 7 days, end cursor `"nomore"`) and read with
`open.order.detail`; an order is `{orderBaseInfo, orderItemInfo, orderRefundList, orderLogisticsInfo,
orderAddress, orderDeliveryInfo}`: money in fen, times in epoch milliseconds, contact data encrypted
(`encryptedConsignee`, `encryptedMobile`, `encryptedAddress`) beside desensitised copies.

Assumed: `orderViewStatus=1` means every status; `orderBaseInfo.status` 10 待付款, 30 已付款,
40 已发货, 50 已收货, 70 交易成功, 80 交易关闭; error results 24 invalid access_token, 26 unknown appkey,
28 invalid sign; `open.seller.order.goods.deliver` (orderId, expressNo, expressCode) ships,
`open.item.sku.stock.update` with `changeType=3` sets a SKU's stock, `open.order.decrypt.batch`
decrypts; the carrier codes below. The real message push is AES-encrypted with a message secret;
OrderHub models it as an HTTP POST of the decrypted message `{"eventId", "msgId", "bizId", "event",
"info", "createTime", …}` signed with the relay notice signature (`X-Notice-App-Key`, `X-Notice-Sign`).
"""

from __future__ import annotations

import json
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
    ShopCredentials,
    carrier_for,
    from_epoch_ms,
    load_push_json,
    order_id_text,
    page_token,
    read_json,
    read_page_token,
    relayed_messages,
    send,
    windows,
)

LONGEST_WINDOW = timedelta(days=7)
END_CURSOR = "nomore"
CREDENTIAL_RESULTS = {24, 26, 28}
# OrderHub's carrier codes → Kuaishou express codes (assumed values).
CARRIER_CODES = {
    "shunfeng": 4, "zhongtong": 5, "yuantong": 3, "yunda": 2, "shentong": 1,
    "jtexpress": 91, "ems": 6, "jd": 10,
}


def param_text(business: Mapping[str, Any]) -> str:
    """The `param` value as the SDK builds it: keys sorted, `JSON.stringify` (compact)."""
    return json.dumps(business, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp()) * 1000


class KuaishouClient(HttpClientBase):
    default_page_size = 100

    def call(self, method: str, business: Mapping[str, Any], *, write: bool = False,
             idempotency_key: str | None = None) -> Any:
        params = {
            "appkey": self.credentials.app_key, "method": method, "version": "1",
            "access_token": self.credentials.access_token, "timestamp": str(int(datetime.now(UTC).timestamp() * 1000)),
            "signMethod": "MD5", "param": param_text(business),
        }
        params["sign"] = signing.kuaishou_sign(params, self.credentials.app_secret, "MD5")
        url = self.url("/" + method.replace(".", "/"))
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        if write:
            response = send(self.http, "POST", url, data=params, headers=headers)
        else:
            response = send(self.http, "GET", url, params=params, headers=headers)
        payload = read_json(response)
        if not isinstance(payload, dict):
            raise PlatformError("bad_response", f"{method}: not a JSON object", retryable=True)
        result = int(payload.get("result", 0))
        if result != 1:
            message = str(payload.get("error_msg") or payload.get("msg") or payload)
            if result in CREDENTIAL_RESULTS:
                raise CredentialsRejected(str(result), message)
            raise PlatformError(f"kuaishou.{result}", message, retryable=False)
        return payload.get("data")

    def list_modified(self, start: datetime, end: datetime, page: str | None = None) -> OrderPage:
        cuts = windows(start, end, LONGEST_WINDOW)
        index, cursor = read_page_token(page)
        if index >= len(cuts):
            return OrderPage(orders=[], next_page=None)
        window_start, window_end = cuts[index]
        data = self.call("open.order.cursor.list", {
            "orderViewStatus": 1, "pageSize": self.page_size, "sort": 1, "queryType": 2, "cpsType": 0,
            "beginTime": epoch_ms(window_start), "endTime": epoch_ms(window_end), "cursor": cursor,
        })
        orders = list(data.get("orderList") or [])
        next_cursor = str(data.get("cursor") or END_CURSOR)
        if next_cursor != END_CURSOR:
            next_page: str | None = page_token(index, next_cursor)
        elif index + 1 < len(cuts):
            next_page = page_token(index + 1, "")
        else:
            next_page = None
        return OrderPage(orders=orders, next_page=next_page)

    def fetch_order(self, channel_order_id: str) -> dict[str, Any]:
        data = self.call("open.order.detail", {"oid": int(channel_order_id)})
        if not isinstance(data, dict) or "orderBaseInfo" not in data:
            raise PlatformError("bad_response", "open.order.detail without an order", retryable=True)
        return data

    def ship(self, *, channel_order_id: str, carrier_code: str, waybill_no: str, idempotency_key: str) -> None:
        express_code = carrier_for(CARRIER_CODES, carrier_code, self.channel)
        self.call("open.seller.order.goods.deliver", {
            "orderId": int(channel_order_id), "expressNo": waybill_no, "expressCode": express_code,
        }, write=True, idempotency_key=idempotency_key)

    def update_stock(self, *, platform_sku: str, quantity: int, idempotency_key: str) -> None:
        self.call("open.item.sku.stock.update", {"skuId": int(platform_sku), "skuChangeStock": quantity,
                                                 "changeType": 3}, write=True, idempotency_key=idempotency_key)

    def decrypt(self, order: dict[str, Any]) -> dict[str, str]:
        """The receiver's plaintext `{"name", "phone", "detail"}` from `open.order.decrypt.batch`."""
        address = order.get("orderAddress") or {}
        ciphers = {"name": address.get("encryptedConsignee", ""), "phone": address.get("encryptedMobile", ""),
                   "detail": address.get("encryptedAddress", "")}
        wanted = [{"encryptedData": text} for text in ciphers.values() if text]
        if not wanted:
            return {}
        data = self.call("open.order.decrypt.batch", {"batchDecryptList": wanted})
        plain: dict[str, str] = {}
        for entry in data.get("decryptList") or []:
            if int(entry.get("errorCode", 0)) != 0:
                raise PlatformError("kuaishou.decrypt_failed", str(entry.get("errorMsg") or entry))
            plain[entry["encryptedData"]] = entry["decryptedData"]
        return {field: plain[text] for field, text in ciphers.items() if text in plain}


def parse_push(credentials: ShopCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> list[PushItem]:
    """A relayed (decrypted) Kuaishou order message, signed with the notice signature."""
    messages = relayed_messages(credentials, headers, body)
    items = []
    for message in messages:
        info = load_push_json(message["info"]) if message.get("info") else {}
        updated = info.get("updateTime")
        items.append(PushItem(
            channel_order_id=order_id_text(info.get("oid") or message["bizId"]), order=None,
            message_id=str(message["msgId"]),
            modified_at=from_epoch_ms(int(updated)) if updated else None,
        ))
    return items
