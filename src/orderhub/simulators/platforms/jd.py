"""Simulated JOS gateway for JD: `/jd/routerjson`, `orderInfo` objects, modelled order messages.

Serves `jingdong.pop.order.search` (window ≤ 30 days by `modified`, `page_size` ≤ 100, `orderTotal`),
`jingdong.pop.order.get`, `jingdong.pop.order.shipment` and `jingdong.stock.write.updateSkuStock`.
Parameters are read from the query string (as JD's SDK sends them) or a form body; the signature is
checked over `360buy_param_json` exactly as received. Errors: "21" unknown app_key, "14" bad sign,
"19" bad access_token, "15" unknown method; business failures sit in `apiResult`. For municipalities
JD's address tree puts the district in `city` (北京 / 海淀区); provinces have no 省 suffix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from orderhub.channels import signing
from orderhub.channels.platforms.base import IDEMPOTENCY_HEADER
from orderhub.channels.platforms.jd import CARRIER_CODES, response_key
from orderhub.simulators.platforms.gateway import injected_fault, too_many_requests, unavailable
from orderhub.simulators.platforms.model import (
    Change,
    Order,
    OutgoingPush,
    PushEvent,
    ShipOutcome,
    SimulatedShop,
    Stage,
)
from orderhub.simulators.platforms.reference import MUNICIPALITIES
from orderhub.simulators.platforms.wire import beijing, dump_json, json_response, parse_beijing, request_params, yuan

if TYPE_CHECKING:
    from orderhub.simulators.platforms.state import SimulatorState

CHANNELS = ("jd",)
LONGEST_WINDOW = timedelta(days=30)
MAX_PAGE_SIZE = 100
ORDER_STATE = {
    Stage.PENDING_PAYMENT: "WAIT_SELLER_STOCK_OUT", Stage.PAID: "WAIT_SELLER_STOCK_OUT",
    Stage.SHIPPED: "WAIT_GOODS_RECEIVE_CONFIRM", Stage.FINISHED: "FINISHED_L",
    Stage.CANCELLED: "TRADE_CANCELED", Stage.REFUNDED: "TRADE_CANCELED",
}
STATE_REMARK = {"WAIT_SELLER_STOCK_OUT": "等待出库", "WAIT_GOODS_RECEIVE_CONFIRM": "等待确认收货",
                "FINISHED_L": "完成", "TRADE_CANCELED": "取消"}
TOPICS = {Change.CREATED: "pop_order_create", Change.PAID: "pop_order_pay", Change.SHIPPED: "pop_order_out",
          Change.FINISHED: "pop_order_finish", Change.CANCELLED: "pop_order_cancel",
          Change.REFUNDED: "pop_order_refund"}
NONE_TIME = "0001-01-01 00:00:00"
OUR_CARRIER = {str(code): ours for ours, code in CARRIER_CODES.items()}
API_OK = {"success": True, "resultCode": "0", "chineseErr": "", "englishErr": "", "numberCode": 10100000}


class JosRefusal(Exception):
    """A failure JD reports inside `apiResult` (HTTP 200, `code` "0")."""

    def __init__(self, chinese: str, result_code: str = "100") -> None:
        super().__init__(chinese)
        self.api_result = {"success": False, "resultCode": result_code, "chineseErr": chinese,
                           "englishErr": "", "numberCode": 10100001}


def render(shop: SimulatedShop, order: Order) -> dict[str, Any]:
    """The `orderInfo` object of `jingdong.pop.order.get`."""
    receiver = order.receiver
    province = receiver.province.removesuffix("省").removesuffix("市")
    if receiver.province in MUNICIPALITIES:
        city, county = receiver.district, ""
    else:
        city, county = receiver.city, receiver.district
    state = ORDER_STATE[order.stage]
    coupons = [{"skuId": str(line.listing.platform_sku_id), "couponType": "30-单品促销优惠",
                "couponPrice": yuan(line.discount_fen)} for line in order.lines if line.discount_fen]
    if order.seller_discount_fen:
        coupons.append({"skuId": "", "couponType": "100-店铺优惠", "couponPrice": yuan(order.seller_discount_fen)})
    discounts = order.line_discount_fen + order.seller_discount_fen
    info: dict[str, Any] = {
        "orderId": order.order_id, "venderId": str(shop.platform_shop_id), "orderType": "22",
        "payType": "1-货到付款" if order.cod else "4-在线支付",
        "orderTotalPrice": yuan(order.goods_fen), "orderSellerPrice": yuan(order.goods_fen - discounts),
        "sellerDiscount": yuan(discounts), "freightPrice": yuan(order.shipping_fee_fen),
        "orderPayment": yuan(order.paid_fen), "balanceUsed": "0.00",
        "orderState": state, "orderStateRemark": STATE_REMARK[state], "deliveryType": "任意时间",
        "invoiceInfo": "不需要开具发票", "orderRemark": order.buyer_memo,
        "orderStartTime": beijing(order.created_at),
        "paymentConfirmTime": beijing(order.paid_at) if order.paid_at and not order.cod else NONE_TIME,
        "orderEndTime": beijing(order.finished_at or order.closed_at), "modified": beijing(order.modified_at),
        "consigneeInfo": {
            "fullname": receiver.name, "telephone": "", "mobile": receiver.phone,
            "fullAddress": f"{province}{city}{county}{receiver.town}{receiver.detail}",
            "province": province, "city": city, "county": county, "town": receiver.town,
            "provinceId": receiver.adcode[:2], "cityId": receiver.adcode[:4], "countyId": receiver.adcode,
            "townId": "",
        },
        "itemInfoList": [{
            "skuId": str(line.listing.platform_sku_id), "outerSkuId": line.listing.sku_code,
            "skuName": f"{line.listing.title} {line.listing.spec.replace(';', ' ')}",
            "jdPrice": yuan(line.unit_price_fen),
            "itemTotal": line.qty if shop.faults.type_drift else str(line.qty),
            "wareId": str(line.listing.item_id), "productNo": "", "giftPoint": "0", "newStoreId": "0",
        } for line in order.lines],
        "couponDetailList": coupons, "waybill": order.waybill_no,
        "logisticsId": str(CARRIER_CODES.get(order.carrier_code, "")), "pin": f"jd_{order.buyer_nick[-6:]}***",
        "open_id_buyer": order.buyer_id, "returnOrder": "0",
    }
    if order.seller_memo:
        info["venderRemark"] = order.seller_memo
    return info


def _search(state: SimulatorState, shop: SimulatedShop, business: dict[str, Any], key: str) -> dict[str, Any]:
    try:
        start, end = parse_beijing(business["start_date"]), parse_beijing(business["end_date"])
        page, page_size = int(business.get("page", 1)), int(business.get("page_size", 20))
    except (KeyError, ValueError):
        raise JosRefusal("start_date、end_date、page、page_size 参数格式错误") from None
    if end <= start or end - start > LONGEST_WINDOW:
        raise JosRefusal("查询时间跨度不能超过30天")
    if not 1 <= page_size <= MAX_PAGE_SIZE or page < 1:
        raise JosRefusal("page_size 取值范围 1-100")
    wanted = {state_name for state_name in str(business.get("order_state", "")).split(",") if state_name}
    found = [order for order in state.orders_modified(shop, start, end)
             if not wanted or ORDER_STATE[order.stage] in wanted]
    chosen = found[(page - 1) * page_size:page * page_size]
    return {"searchorderinfo_result": {"apiResult": API_OK, "orderTotal": len(found),
                                       "orderInfoList": [state.render(shop, order) for order in chosen]}}


def _get(state: SimulatorState, shop: SimulatedShop, business: dict[str, Any], key: str) -> dict[str, Any]:
    order = state.order(shop, str(business.get("order_id", "")))
    if order is None:
        raise JosRefusal("订单不存在")
    return {"orderDetailInfo": {"apiResult": API_OK, "orderInfo": state.render(shop, order)}}


def _shipment(state: SimulatorState, shop: SimulatedShop, business: dict[str, Any], key: str) -> dict[str, Any]:
    logistics_id = str(business.get("logistics_id", ""))
    refused = {"success": False, "englishErr": ""}
    if logistics_id not in OUR_CARRIER:
        return {"sopjosshipment_result": {**refused, "chineseErr": f"物流公司ID {logistics_id} 不存在"}}
    outcome = state.ship(shop, str(business.get("order_id", "")), carrier_code=OUR_CARRIER[logistics_id],
                         waybill_no=str(business.get("waybill", "")), idempotency_key=key,
                         raw={"logistics_id": logistics_id})
    if outcome is ShipOutcome.NOT_FOUND:
        return {"sopjosshipment_result": {**refused, "chineseErr": "订单不存在"}}
    if outcome is ShipOutcome.NOT_SHIPPABLE:
        return {"sopjosshipment_result": {**refused, "chineseErr": "订单状态不是等待出库，不能出库"}}
    return {"sopjosshipment_result": {"success": True, "chineseErr": "", "englishErr": ""}}


def _stock(state: SimulatorState, shop: SimulatedShop, business: dict[str, Any], key: str) -> dict[str, Any]:
    try:
        sku_id, quantity = int(business["skuId"]), int(business["stockNum"])
    except (KeyError, ValueError):
        return {"success": False, "message": "skuId、stockNum 必填"}
    if not state.update_stock(shop, sku_id, quantity, idempotency_key=key, raw={}):
        return {"success": False, "message": f"SKU {sku_id} 不存在"}
    return {"success": True, "message": ""}


Handler = Callable[["SimulatorState", SimulatedShop, dict[str, Any], str], dict[str, Any]]
METHODS: dict[str, Handler] = {
    "jingdong.pop.order.search": _search,
    "jingdong.pop.order.get": _get,
    "jingdong.pop.order.shipment": _shipment,
    "jingdong.stock.write.updateSkuStock": _stock,
}
API_RESULT_KEY = {"jingdong.pop.order.search": "searchorderinfo_result", "jingdong.pop.order.get": "orderDetailInfo"}


def _error(code: str, zh: str, en: str) -> Response:
    return json_response({"error_response": {"code": code, "zh_desc": zh, "en_desc": en}})


async def handle(state: SimulatorState, params: dict[str, str], idempotency_key: str) -> Response:
    shops = state.shops_with_app_key("jd", params.get("app_key", ""))
    if not shops:
        return _error("21", f"key={params.get('app_key', '')} 信息无效", "Invalid app_key")
    shop = next((each for each in shops if each.access_token == params.get("access_token")), shops[0])
    fault = await injected_fault(state, shop)
    if fault == "error":
        return unavailable()
    if fault == "rate_limited":
        limited = {"code": "66", "zh_desc": "调用频率超限", "en_desc": "Call limited"}
        return too_many_requests({"error_response": limited})
    if not signing.verify_jd(params, shop.app_secret):
        return _error("14", "签名无效", "Invalid signature")
    if params.get("access_token") != shop.access_token:
        return _error("19", "无效access_token", "Invalid access_token")
    method = params.get("method", "")
    if method not in METHODS:
        return _error("15", "不存在的方法名", "Invalid Method")
    try:
        business = json.loads(params.get("360buy_param_json") or "{}")
        body = METHODS[method](state, shop, business, idempotency_key)
    except ValueError:
        return _error("60", "360buy_param_json 不是合法的 JSON", "Invalid 360buy_param_json")
    except JosRefusal as refusal:
        body = {API_RESULT_KEY.get(method, "result"): {"apiResult": refusal.api_result}}
    return json_response({response_key(method): {"code": "0", **body}})


def mount(app: FastAPI, state: SimulatorState) -> None:
    async def routerjson(request: Request) -> Response:
        params = await request_params(request)
        return await handle(state, params, request.headers.get(IDEMPOTENCY_HEADER, ""))

    app.add_api_route("/jd/routerjson", routerjson, methods=["GET", "POST"], include_in_schema=False)


def pushes(shop: SimulatedShop, events: Sequence[PushEvent], secret: str) -> list[OutgoingPush]:
    outgoing = []
    for event in events:
        order = event.order
        message = {"id": event.message_id, "topic": TOPICS[event.change], "venderId": shop.platform_shop_id,
                   "time": beijing(order.modified_at),
                   "content": {"orderId": order.order_id, "orderState": ORDER_STATE[order.stage],
                               "modified": beijing(order.modified_at)}}
        body = dump_json(message).encode()
        headers = {"Content-Type": "application/json", "X-Notice-App-Key": shop.app_key,
                   "X-Notice-Sign": signing.notice_sign(secret, body)}
        outgoing.append(OutgoingPush(headers=headers, body=body, events=(event,)))
    return outgoing
