"""Simulated PDD gateway: `/pdd/api/router`, `order_info` objects, modelled 多多云 messages.

Serves `pdd.order.number.list.increment.get` (window ≤ 30 minutes by `updated_at`, `page_size` ≤ 100,
`has_next`), `pdd.order.information.get`, `pdd.logistics.online.send` and `pdd.goods.quantity.update`.
Accepts the token as `access_token` or `session`. Errors: 10016 unknown client_id, 10017 bad sign,
10019 bad access_token (`{"error_response": {"error_code", "error_msg", "sub_code", "sub_msg",
"request_id"}}`). Amounts are yuan JSON numbers printed like a Java `Double` (149.8, 199.0), or strings
for about a quarter of the orders (the TS SDK's typing) and for every order under the type-drift fault.
The receiver's phone is masked (`1387677****`) once an order is no longer 待发货.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from orderhub.channels import signing
from orderhub.channels.platforms.base import IDEMPOTENCY_HEADER
from orderhub.channels.platforms.pdd import CARRIER_CODES
from orderhub.simulators.platforms.gateway import injected_fault, request_id, too_many_requests, unavailable
from orderhub.simulators.platforms.model import (
    Change,
    Order,
    OutgoingPush,
    PushEvent,
    ShipOutcome,
    SimulatedShop,
    Stage,
)
from orderhub.simulators.platforms.wire import (
    beijing,
    dump_json,
    json_response,
    request_params,
    yuan,
    yuan_number,
)

if TYPE_CHECKING:
    from orderhub.simulators.platforms.state import SimulatorState

CHANNELS = ("pdd",)
LONGEST_WINDOW = timedelta(minutes=30)
MAX_PAGE_SIZE = 100
# Stage → (order_status, refund_status, after_sales_status)
STATUS = {
    Stage.PENDING_PAYMENT: (1, 1, 0), Stage.PAID: (1, 1, 0), Stage.SHIPPED: (2, 1, 0), Stage.FINISHED: (3, 1, 0),
    Stage.CANCELLED: (1, 4, 10), Stage.REFUNDED: (2, 4, 10),
}
TOPICS = {Change.CREATED: "pdd_trade_TradeConfirmed", Change.PAID: "pdd_trade_TradeConfirmed",
          Change.SHIPPED: "pdd_trade_TradeSellerShip", Change.FINISHED: "pdd_trade_TradeSuccess",
          Change.CANCELLED: "pdd_refund_RefundAgreeAgreement", Change.REFUNDED: "pdd_refund_RefundAgreeAgreement"}
OUR_CARRIER = {str(code): ours for ours, code in CARRIER_CODES.items()}


class PddFault(Exception):
    def __init__(self, code: int, message: str, sub_msg: str = "") -> None:
        super().__init__(message)
        self.body = {"error_code": code, "error_msg": message, "sub_code": str(code), "sub_msg": sub_msg,
                     "request_id": request_id()}


def render(shop: SimulatedShop, order: Order) -> dict[str, Any]:
    """The `order_info` object of `pdd.order.information.get`."""
    as_text = order.money_as_text or shop.faults.type_drift

    def money(fen: int) -> Decimal | str:
        return yuan(fen) if as_text else yuan_number(fen)

    order_status, refund_status, after_sales = STATUS[order.stage]
    receiver = order.receiver
    phone = receiver.phone if order_status == 1 and refund_status == 1 else receiver.phone[:7] + "****"
    line = order.lines[0]
    seller_discount = order.line_discount_fen + order.seller_discount_fen
    return {
        "order_sn": order.order_id, "order_status": order_status, "refund_status": refund_status,
        "after_sales_status": after_sales, "confirm_status": 1, "group_status": 1, "trade_type": 0,
        "goods_amount": money(order.goods_fen), "discount_amount": money(order.discount_fen),
        "platform_discount": money(order.platform_discount_fen), "seller_discount": money(seller_discount),
        "capital_free_discount": money(0), "postage": money(order.shipping_fee_fen),
        "pay_amount": money(order.paid_fen),
        "receiver_name": receiver.name, "receiver_phone": phone, "receiver_address": receiver.detail,
        "address": f"{receiver.province}{receiver.city}{receiver.district}{receiver.town}{receiver.detail}",
        "receiver_name_mask": receiver.name[0] + "*" * (len(receiver.name) - 1),
        "receiver_phone_mask": receiver.phone[:3] + "****" + receiver.phone[-4:],
        "address_mask": f"{receiver.province}{receiver.city}{receiver.district}****",
        "country": "中国", "country_id": 0, "province": receiver.province, "city": receiver.city,
        "town": receiver.district, "province_id": int(receiver.adcode[:2]), "city_id": int(receiver.adcode[:4]),
        "town_id": int(receiver.adcode),
        "created_time": beijing(order.created_at), "confirm_time": beijing(order.paid_at),
        "pay_time": beijing(order.paid_at), "shipping_time": beijing(order.shipped_at),
        "receive_time": beijing(order.finished_at), "updated_at": beijing(order.modified_at),
        "last_ship_time": beijing(order.paid_at + timedelta(hours=48)) if order.paid_at else "",
        "remark": order.seller_memo, "remark_tag": 1 if order.seller_memo else 0, "buyer_memo": order.buyer_memo,
        "tracking_number": order.waybill_no, "logistics_id": CARRIER_CODES.get(order.carrier_code, 0),
        "pay_type": "WEIXIN", "pay_no": order.payment_no, "is_lucky_flag": 1, "is_presale": 0,
        "item_list": [{
            "goods_id": line.listing.item_id, "sku_id": line.listing.platform_sku_id, "outer_id": line.listing.sku_code,
            "outer_goods_id": line.listing.sku_code, "goods_name": line.listing.title,
            "goods_price": money(line.unit_price_fen), "goods_count": line.qty, "goods_spec": line.listing.spec,
            "goods_img": f"https://img.pddpic.com/goods/{line.listing.item_id}.jpeg",
        }],
    }


def _increment(state: SimulatorState, shop: SimulatedShop, params: dict[str, str], key: str) -> dict[str, Any]:
    try:
        start = datetime.fromtimestamp(int(params["start_updated_at"]), UTC)
        end = datetime.fromtimestamp(int(params["end_updated_at"]), UTC)
        page, page_size = int(params.get("page", "1")), int(params.get("page_size", "100"))
    except (KeyError, ValueError):
        raise PddFault(10000, "参数错误", "start_updated_at、end_updated_at 必填，为秒级时间戳") from None
    if end <= start or end - start > LONGEST_WINDOW:
        raise PddFault(10000, "参数错误", "start_updated_at 到 end_updated_at 的时间间隔不能超过30分钟")
    if not 1 <= page_size <= MAX_PAGE_SIZE or page < 1:
        raise PddFault(10000, "参数错误", "page_size 取值 1-100")
    found = state.orders_modified(shop, start, end)
    chosen = found[(page - 1) * page_size:page * page_size]
    return {"order_sn_increment_get_response": {
        "total_count": len(found), "has_next": page * page_size < len(found),
        "order_sn_list": [state.render(shop, order) for order in chosen], "request_id": request_id()}}


def _information(state: SimulatorState, shop: SimulatedShop, params: dict[str, str], key: str) -> dict[str, Any]:
    order = state.order(shop, params.get("order_sn", ""))
    if order is None:
        raise PddFault(50001, "订单不存在", params.get("order_sn", ""))
    return {"order_info_get_response": {"order_info": state.render(shop, order), "request_id": request_id()}}


def _online_send(state: SimulatorState, shop: SimulatedShop, params: dict[str, str], key: str) -> dict[str, Any]:
    logistics_id = params.get("logistics_id", "")
    if logistics_id not in OUR_CARRIER:
        raise PddFault(10000, "参数错误", f"logistics_id {logistics_id} 不存在")
    outcome = state.ship(shop, params.get("order_sn", ""), carrier_code=OUR_CARRIER[logistics_id],
                         waybill_no=params.get("tracking_number", ""), idempotency_key=key,
                         raw={"logistics_id": logistics_id})
    if outcome is ShipOutcome.NOT_FOUND:
        raise PddFault(50001, "订单不存在")
    if outcome is ShipOutcome.NOT_SHIPPABLE:
        raise PddFault(50002, "订单状态不可发货")
    return {"logistics_online_send_response": {"is_success": True, "request_id": request_id()}}


def _quantity(state: SimulatorState, shop: SimulatedShop, params: dict[str, str], key: str) -> dict[str, Any]:
    sku_id, quantity = params.get("sku_id", ""), params.get("quantity", "")
    if not sku_id.isdigit() or not quantity.isdigit():
        raise PddFault(10000, "参数错误", "sku_id、quantity 必填")
    if not state.update_stock(shop, int(sku_id), int(quantity), idempotency_key=key,
                              raw={"update_type": params.get("update_type", "1")}):
        raise PddFault(50001, "商品不存在", f"sku_id {sku_id}")
    return {"goods_quantity_update_response": {"is_success": True, "request_id": request_id()}}


Handler = Callable[["SimulatorState", SimulatedShop, dict[str, str], str], dict[str, Any]]
METHODS: dict[str, Handler] = {
    "pdd.order.number.list.increment.get": _increment,
    "pdd.order.information.get": _information,
    "pdd.logistics.online.send": _online_send,
    "pdd.goods.quantity.update": _quantity,
}


async def handle(state: SimulatorState, params: dict[str, str], idempotency_key: str) -> Response:
    shops = state.shops_with_app_key("pdd", params.get("client_id", ""))
    if not shops:
        return json_response({"error_response": PddFault(10016, "client_id不存在或已下线").body})
    token = params.get("access_token") or params.get("session", "")
    shop = next((each for each in shops if each.access_token == token), shops[0])
    fault = await injected_fault(state, shop)
    if fault == "error":
        return unavailable()
    if fault == "rate_limited":
        return too_many_requests({"error_response": PddFault(70031, "调用过于频繁，请调整调用频率").body})
    if not signing.verify_pdd(params, shop.app_secret):
        return json_response({"error_response": PddFault(10017, "签名错误").body})
    if token != shop.access_token:
        return json_response({"error_response": PddFault(10019, "access_token已过期").body})
    api = params.get("type", "")
    if api not in METHODS:
        return json_response({"error_response": PddFault(10001, "接口不存在", api).body})
    try:
        return json_response(METHODS[api](state, shop, params, idempotency_key))
    except PddFault as refused:
        return json_response({"error_response": refused.body})


def mount(app: FastAPI, state: SimulatorState) -> None:
    async def router(request: Request) -> Response:
        params = await request_params(request)
        return await handle(state, params, request.headers.get(IDEMPOTENCY_HEADER, ""))

    app.add_api_route("/pdd/api/router", router, methods=["GET", "POST"], include_in_schema=False)


def pushes(shop: SimulatedShop, events: Sequence[PushEvent], secret: str) -> list[OutgoingPush]:
    outgoing = []
    for event in events:
        order = event.order
        content = {"tid": order.order_id, "mall_id": shop.platform_shop_id, "updated_at": beijing(order.modified_at)}
        message = {"id": event.message_id, "type": TOPICS[event.change], "mall_id": shop.platform_shop_id,
                   "time": beijing(order.modified_at), "content": dump_json(content)}
        body = dump_json(message).encode()
        headers = {"Content-Type": "application/json", "X-Notice-App-Key": shop.app_key,
                   "X-Notice-Sign": signing.notice_sign(secret, body)}
        outgoing.append(OutgoingPush(headers=headers, body=body, events=(event,)))
    return outgoing
