"""Simulated 快手电商 open API: `/kuaishou/<method path>`, order objects, modelled order messages.

Serves `open.order.cursor.list` (window ≤ 7 days, `pageSize` ≤ 100, cursor paging ending in
"nomore"; `queryType` 1 by creation, 2 by update), `open.order.detail`, `open.seller.order.goods.deliver`,
`open.item.sku.stock.update` and `open.order.decrypt.batch`. Parameters from the query string (GET) or
a form body (POST). Answers `{"result": 1, "error_msg", "code", "msg", "data"}`; errors 26 unknown
appkey, 28 bad sign, 24 bad access_token, 22 bad parameter, 30 refused by the business rules.
Money in fen, times in epoch milliseconds, contact data encrypted. Under the type-drift fault
`orderBaseInfo.totalFee` arrives as a yuan string.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from orderhub.channels import signing
from orderhub.channels.platforms.base import IDEMPOTENCY_HEADER, from_epoch_ms
from orderhub.channels.platforms.kuaishou import CARRIER_CODES, END_CURSOR
from orderhub.simulators.platforms.gateway import injected_fault, too_many_requests, unavailable
from orderhub.simulators.platforms.model import (
    Order,
    OutgoingPush,
    PushEvent,
    ShipOutcome,
    SimulatedShop,
    Stage,
    cipher_text,
)
from orderhub.simulators.platforms.wire import dump_json, json_response, request_params, unix_ms, yuan

if TYPE_CHECKING:
    from orderhub.simulators.platforms.state import SimulatorState

CHANNELS = ("kuaishou",)
LONGEST_WINDOW = timedelta(days=7)
MAX_PAGE_SIZE = 100
STATUS = {Stage.PENDING_PAYMENT: 10, Stage.PAID: 30, Stage.SHIPPED: 40, Stage.FINISHED: 70,
          Stage.CANCELLED: 80, Stage.REFUNDED: 80}
OUR_CARRIER = {code: ours for ours, code in CARRIER_CODES.items()}


class KuaishouFault(Exception):
    def __init__(self, result: int, message: str) -> None:
        super().__init__(message)
        self.body = {"result": result, "error_msg": message, "code": str(result), "msg": message}


def render(shop: SimulatedShop, order: Order) -> dict[str, Any]:
    """One order as `open.order.detail` and `open.order.cursor.list` return it."""
    line = order.lines[0]
    receiver = order.receiver
    shipped = bool(order.waybill_no)
    return {
        "orderBaseInfo": {
            "oid": int(order.order_id), "status": STATUS[order.stage], "createTime": unix_ms(order.created_at),
            "payTime": unix_ms(order.paid_at), "updateTime": unix_ms(order.modified_at),
            "sendTime": unix_ms(order.shipped_at), "recvTime": unix_ms(order.finished_at),
            "refundTime": unix_ms(order.closed_at) if order.stage is Stage.REFUNDED else 0,
            "totalFee": yuan(order.paid_fen) if shop.faults.type_drift else order.paid_fen,
            "expressFee": order.shipping_fee_fen, "discountFee": order.seller_discount_fen + line.discount_fen,
            "buyerNick": order.buyer_nick[:2] + "***", "buyerOpenId": order.buyer_id, "buyerImage": "",
            "sellerNick": shop.seller_nick, "sellerOpenId": f"f1{shop.platform_shop_id}", "remark": order.buyer_memo,
            "payType": 1, "payChannel": "微信支付", "preSale": 0, "cpsType": 1, "coType": 0, "activityType": 0,
            "orderLabels": [], "channel": "快手小店", "riskCode": 0, "commentStatus": 0,
            "validPromiseShipmentTimeStamp": unix_ms(order.paid_at) + 48 * 3600 * 1000 if order.paid_at else 0,
        },
        "orderItemInfo": {
            "orderItemId": line.line_id, "itemId": line.listing.item_id, "skuId": line.listing.platform_sku_id,
            "relItemId": 0, "relSkuId": 0, "skuNick": line.listing.sku_code, "itemTitle": line.listing.title,
            "skuDesc": line.listing.spec, "num": line.qty, "price": line.unit_price_fen,
            "originalPrice": line.unit_price_fen, "discountFee": line.discount_fen, "itemType": 1,
            "itemPicUrl": f"https://ali2.a.kwimgs.com/ufile/atlas/{line.listing.item_id}.jpg",
            "goodsCode": "", "warehouseCode": "",
        },
        "orderRefundList": [{"refundId": int(order.order_id) + 7, "refundStatus": 22, "handlingWay": 1,
                             "specialRefundType": 0}] if order.stage is Stage.REFUNDED else [],
        "orderLogisticsInfo": [{"logisticsId": int(order.order_id) % 10**9, "expressNo": order.waybill_no,
                                "expressCode": CARRIER_CODES.get(order.carrier_code, 0)}] if shipped else [],
        "orderAddress": {
            "province": receiver.province, "city": receiver.city, "district": receiver.district,
            "town": receiver.town, "provinceCode": int(receiver.adcode[:2]) * 10000,
            "cityCode": int(receiver.adcode[:4]) * 100,
            "districtCode": int(receiver.adcode) if receiver.district else 0,
            "townCode": 0,
            "encryptedConsignee": cipher_text(shop, order.order_id, "name"),
            "encryptedMobile": cipher_text(shop, order.order_id, "phone"),
            "encryptedAddress": cipher_text(shop, order.order_id, "detail"),
            "desensitiseConsignee": receiver.name[0] + "**", "desensitiseMobile": receiver.phone[:3] + "****" +
            receiver.phone[-4:], "desensitiseAddress": receiver.detail[:4] + "****",
        },
        "orderDeliveryInfo": {"splitDeliveryOrder": False, "deliveryNum": 1 if shipped else 0,
                              "deliveryStatus": 1 if shipped else 0, "packageNum": 1 if shipped else 0,
                              "totalPackageNum": 1 if shipped else 0},
    }


def _number(business: dict[str, Any], name: str, default: int | None = None) -> int:
    value = business.get(name, default)
    if value is None or isinstance(value, bool):
        raise KuaishouFault(22, f"参数错误: {name} 必填")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise KuaishouFault(22, f"参数错误: {name} 必须是数字") from None


def _cursor_list(state: SimulatorState, shop: SimulatedShop, business: dict[str, Any], key: str) -> Any:
    start, end = from_epoch_ms(_number(business, "beginTime")), from_epoch_ms(_number(business, "endTime"))
    size = _number(business, "pageSize", 10)
    if end <= start or end - start > LONGEST_WINDOW:
        raise KuaishouFault(22, "参数错误: 查询时间范围不能超过7天")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise KuaishouFault(22, "参数错误: pageSize 取值 1-100")
    cursor = str(business.get("cursor") or "0")
    if not cursor.isdigit():
        raise KuaishouFault(22, "参数错误: cursor 无效")
    offset = int(cursor)
    if business.get("queryType") == 1:
        with state.lock:
            found = sorted((order for order in shop.orders.values() if start <= order.created_at < end),
                           key=lambda order: (order.created_at, order.order_id))
    else:
        found = state.orders_modified(shop, start, end)
    if business.get("sort") == 2:
        found.reverse()
    chosen = found[offset:offset + size]
    following = offset + size
    return {"cursor": str(following) if following < len(found) else END_CURSOR, "pageSize": size,
            "beginTime": unix_ms(start), "endTime": unix_ms(end),
            "orderList": [state.render(shop, order) for order in chosen]}


def _detail(state: SimulatorState, shop: SimulatedShop, business: dict[str, Any], key: str) -> Any:
    order = state.order(shop, str(_number(business, "oid")))
    if order is None:
        raise KuaishouFault(30, "订单不存在")
    return state.render(shop, order)


def _deliver(state: SimulatorState, shop: SimulatedShop, business: dict[str, Any], key: str) -> Any:
    express_code = _number(business, "expressCode")
    if express_code not in OUR_CARRIER:
        raise KuaishouFault(22, f"参数错误: 快递公司编码 {express_code} 不存在")
    outcome = state.ship(shop, str(_number(business, "orderId")), carrier_code=OUR_CARRIER[express_code],
                         waybill_no=str(business.get("expressNo", "")), idempotency_key=key,
                         raw={"expressCode": express_code})
    if outcome is ShipOutcome.NOT_FOUND:
        raise KuaishouFault(30, "订单不存在")
    if outcome is ShipOutcome.NOT_SHIPPABLE:
        raise KuaishouFault(30, "订单状态不允许发货")
    return None


def _stock(state: SimulatorState, shop: SimulatedShop, business: dict[str, Any], key: str) -> Any:
    sku_id, quantity = _number(business, "skuId"), _number(business, "skuChangeStock")
    if not state.update_stock(shop, sku_id, quantity, idempotency_key=key,
                              raw={"changeType": business.get("changeType")}):
        raise KuaishouFault(30, f"SKU {sku_id} 不存在")
    return None


def _decrypt(state: SimulatorState, shop: SimulatedShop, business: dict[str, Any], key: str) -> Any:
    entries = []
    for wanted in business.get("batchDecryptList") or []:
        text = str(wanted.get("encryptedData", ""))
        plain = state.decrypt(shop, text)
        known = plain is not None
        entries.append({"encryptedData": text, "decryptedData": plain or "", "errorCode": 0 if known else 1,
                        "errorMsg": "" if known else "解密失败"})
    return {"decryptList": entries}


Handler = Callable[["SimulatorState", SimulatedShop, dict[str, Any], str], Any]
METHODS: dict[str, Handler] = {
    "open.order.cursor.list": _cursor_list,
    "open.order.detail": _detail,
    "open.seller.order.goods.deliver": _deliver,
    "open.item.sku.stock.update": _stock,
    "open.order.decrypt.batch": _decrypt,
}


async def handle(state: SimulatorState, path: str, params: dict[str, str], key: str) -> Response:
    shops = state.shops_with_app_key("kuaishou", params.get("appkey", ""))
    if not shops:
        return json_response(KuaishouFault(26, "appkey不存在").body)
    shop = next((each for each in shops if each.access_token == params.get("access_token")), shops[0])
    fault = await injected_fault(state, shop)
    if fault == "error":
        return unavailable()
    if fault == "rate_limited":
        return too_many_requests(KuaishouFault(802, "调用频率超过限制").body)
    if not signing.verify_kuaishou(params, shop.app_secret):
        return json_response(KuaishouFault(28, "签名错误").body)
    if params.get("access_token") != shop.access_token:
        return json_response(KuaishouFault(24, "access_token无效或已过期").body)
    method = params.get("method", "")
    if method not in METHODS or method.replace(".", "/") != path:
        return json_response(KuaishouFault(22, f"参数错误: 不存在的方法 {method}").body)
    try:
        business = json.loads(params.get("param") or "{}")
        data = METHODS[method](state, shop, business, key)
    except ValueError:
        return json_response(KuaishouFault(22, "参数错误: param 不是 JSON").body)
    except KuaishouFault as refused:
        return json_response(refused.body)
    return json_response({"result": 1, "error_msg": "", "code": "0", "msg": "success", "data": data})


def mount(app: FastAPI, state: SimulatorState) -> None:
    async def open_api(path: str, request: Request) -> Response:
        params = await request_params(request)
        return await handle(state, path, params, request.headers.get(IDEMPOTENCY_HEADER, ""))

    app.add_api_route("/kuaishou/{path:path}", open_api, methods=["GET", "POST"], include_in_schema=False)


def pushes(shop: SimulatedShop, events: Sequence[PushEvent], secret: str) -> list[OutgoingPush]:
    outgoing = []
    for event in events:
        order = event.order
        info = {"oid": int(order.order_id), "sellerId": shop.platform_shop_id, "status": STATUS[order.stage],
                "updateTime": unix_ms(order.modified_at)}
        message = {"eventId": f"evt_{event.message_id}", "msgId": event.message_id, "bizId": int(order.order_id),
                   "userId": shop.platform_shop_id, "openId": f"f1{shop.platform_shop_id}", "appKey": shop.app_key,
                   "event": "kwaishop_order_statusChange", "info": dump_json(info), "status": 0,
                   "createTime": unix_ms(order.modified_at), "updateTime": unix_ms(order.modified_at), "test": False}
        body = dump_json(message).encode()
        headers = {"Content-Type": "application/json", "X-Notice-App-Key": shop.app_key,
                   "X-Notice-Sign": signing.notice_sign(secret, body)}
        outgoing.append(OutgoingPush(headers=headers, body=body, events=(event,)))
    return outgoing
