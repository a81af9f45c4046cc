"""JD (京东 JOS): `/routerjson` and order status messages.

Followed: shared/formats.md §2 and §11 — what the JOS SDK sends: every parameter in the query string
of a POST with an empty body, `timestamp` as `yyyy-MM-dd HH:mm:ss.000+0800`, `360buy_param_json` not
compact and not sorted (signed as sent), `v=2.0`, the md5 signature. Answers sit under
`<method with _>_responce` (sic). Orders are listed with `jingdong.pop.order.search` (full `orderInfo`
objects, `page`/`page_size`, `orderTotal`) and read with `jingdong.pop.order.get`.

Errors: `error_response.code` "19" invalid access_token and "21" invalid app_key (seen in public
integrations), "14" invalid signature (assumed); HTTP 429/5xx from the gateway.
Assumed: `dateType=0` selects the modified time and a search window spans at most 30 days;
`jingdong.stock.write.updateSkuStock` sets a SKU's stock; the carrier ids below. The JD message
service (JMQ) is not public; OrderHub models a message as an HTTP POST of
`{"id", "topic", "venderId", "content": {"orderId", "orderState", "modified"}}` signed with the relay
notice signature (`X-Notice-App-Key`, `X-Notice-Sign`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from orderhub.channels import signing
from orderhub.channels.platforms.base import (
    BEIJING,
    IDEMPOTENCY_HEADER,
    CredentialsRejected,
    HttpClientBase,
    OrderPage,
    PlatformError,
    PushItem,
    ShopCredentials,
    beijing_text,
    carrier_for,
    from_beijing_text,
    order_id_text,
    page_token,
    read_json,
    read_page_token,
    relayed_messages,
    send,
    windows,
)

LONGEST_WINDOW = timedelta(days=30)
CREDENTIAL_CODES = {"14", "19", "21"}
ORDER_STATES = (
    "WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM,WAIT_SELLER_DELIVERY,SEND_TO_DISTRIBUTION_CENER,"
    "DISTRIBUTION_CENTER_RECEIVED,RECEIPTS_CONFIRM,POP_ORDER_PAUSE,PAUSE,FINISHED_L,TRADE_CANCELED,LOCKED,"
    "WAIT_SEND_CODE"
)
OPTIONAL_FIELDS = (
    "orderId,venderId,orderType,payType,orderTotalPrice,orderSellerPrice,orderPayment,freightPrice,sellerDiscount,"
    "balanceUsed,orderState,orderStateRemark,deliveryType,invoiceInfo,orderRemark,venderRemark,orderStartTime,"
    "orderEndTime,modified,paymentConfirmTime,consigneeInfo,itemInfoList,couponDetailList,waybill,logisticsId,"
    "pin,open_id_buyer,returnOrder"
)
# OrderHub's carrier codes → JD logistics company ids (assumed values).
CARRIER_CODES = {
    "shunfeng": 467, "zhongtong": 1499, "yuantong": 463, "yunda": 1327, "shentong": 470,
    "jtexpress": 3046, "ems": 465, "jd": 2087,
}


def jd_timestamp(value: datetime) -> str:
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S.000+0800")


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_responce"


class JdClient(HttpClientBase):
    default_page_size = 100

    def call(self, method: str, business: Mapping[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        params = {
            "method": method, "app_key": self.credentials.app_key, "access_token": self.credentials.access_token,
            "timestamp": jd_timestamp(datetime.now(UTC)), "v": "2.0",
            "360buy_param_json": json.dumps(business, ensure_ascii=False),
        }
        params["sign"] = signing.jd_sign(params, self.credentials.app_secret)
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        payload = read_json(send(self.http, "POST", self.url("/routerjson"), params=params, headers=headers))
        if not isinstance(payload, dict):
            raise PlatformError("bad_response", f"{method}: not a JSON object", retryable=True)
        if "error_response" in payload:
            raise jd_error(payload["error_response"])
        body = payload.get(response_key(method))
        if not isinstance(body, dict):
            raise PlatformError("bad_response", f"{method}: no {response_key(method)}", retryable=True)
        if str(body.get("code", "0")) != "0":
            raise PlatformError(f"jd.{body.get('code')}", str(body.get("zh_desc") or body), retryable=False)
        return body

    def list_modified(self, start: datetime, end: datetime, page: str | None = None) -> OrderPage:
        cuts = windows(start, end, LONGEST_WINDOW)
        index, position = read_page_token(page)
        if index >= len(cuts):
            return OrderPage(orders=[], next_page=None)
        page_no = int(position or 1)
        window_start, window_end = cuts[index]
        body = self.call("jingdong.pop.order.search", {
            "start_date": beijing_text(window_start), "end_date": beijing_text(window_end),
            "order_state": ORDER_STATES, "optional_fields": OPTIONAL_FIELDS, "page": str(page_no),
            "page_size": str(self.page_size), "sortType": 0, "dateType": 0,
        })
        result = _api_result(body, "searchorderinfo_result")
        orders = list(result.get("orderInfoList") or [])
        if page_no * self.page_size < int(result.get("orderTotal", 0)):
            next_page: str | None = page_token(index, page_no + 1)
        elif index + 1 < len(cuts):
            next_page = page_token(index + 1, 1)
        else:
            next_page = None
        return OrderPage(orders=orders, next_page=next_page)

    def fetch_order(self, channel_order_id: str) -> dict[str, Any]:
        body = self.call("jingdong.pop.order.get", {
            "order_state": ORDER_STATES, "optional_fields": OPTIONAL_FIELDS, "order_id": channel_order_id,
        })
        order = _api_result(body, "orderDetailInfo").get("orderInfo")
        if not isinstance(order, dict):
            raise PlatformError("order.not_found", f"JD has no order {channel_order_id}")
        return order

    def ship(self, *, channel_order_id: str, carrier_code: str, waybill_no: str, idempotency_key: str) -> None:
        logistics_id = carrier_for(CARRIER_CODES, carrier_code, self.channel)
        body = self.call("jingdong.pop.order.shipment", {
            "order_id": channel_order_id, "logistics_id": str(logistics_id), "waybill": waybill_no,
        }, idempotency_key)
        result = body.get("sopjosshipment_result", {})
        if not result.get("success"):
            raise PlatformError("jd.shipment_refused", str(result.get("chineseErr") or result))

    def update_stock(self, *, platform_sku: str, quantity: int, idempotency_key: str) -> None:
        body = self.call("jingdong.stock.write.updateSkuStock",
                         {"skuId": int(platform_sku), "stockNum": quantity}, idempotency_key)
        if not body.get("success"):
            raise PlatformError("jd.stock_refused", str(body))


def _api_result(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    result = body.get(key)
    if not isinstance(result, dict):
        raise PlatformError("bad_response", f"no {key} in the answer", retryable=True)
    api_result = result.get("apiResult", {})
    if not api_result.get("success", False):
        raise PlatformError(f"jd.{api_result.get('resultCode') or 'failed'}",
                            str(api_result.get("chineseErr") or api_result.get("englishErr") or api_result))
    return result


def jd_error(error: Mapping[str, Any]) -> PlatformError:
    code = str(error.get("code", ""))
    message = str(error.get("zh_desc") or error.get("en_desc") or error)
    if code in CREDENTIAL_CODES:
        return CredentialsRejected(code, message)
    return PlatformError(f"jd.{code}", message, retryable=False)


def parse_push(credentials: ShopCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> list[PushItem]:
    """A relayed JD order message (one object or a list), signed with the notice signature."""
    messages = relayed_messages(credentials, headers, body)
    items = []
    for message in messages:
        content = message["content"]
        modified = content.get("modified")
        items.append(PushItem(
            channel_order_id=order_id_text(content["orderId"]), order=None, message_id=str(message["id"]),
            modified_at=from_beijing_text(modified) if modified else None,
        ))
    return items
