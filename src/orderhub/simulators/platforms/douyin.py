"""Simulated 抖店 open API: `/douyin/<method path>`, `shop_order` objects, the signed message push.

Serves `/order/searchList` (by update time, `page` 0-based, `size` ≤ 100), `/order/orderDetail`,
`/order/logisticsAdd`, `/sku/syncStock` and `/order/batchDecrypt`. System parameters come in the query
string, business parameters as the JSON body; the signature is checked over the body re-serialised
with sorted keys and no spaces (or over the raw body, as sent). Envelope `{"code": 10000, "msg",
"sub_code", "sub_msg", "log_id", "data"}`; errors 30001 unknown app_key, 30002 bad access_token,
30005 bad sign, 40004 bad parameter, 50002 refused by the business rules. Contact data is encrypted
(`$…$` phones, `#…#` names and addresses) with the plaintext behind `/order/batchDecrypt`.
Under the type-drift fault `order_amount` and `pay_amount` arrive as yuan strings ("199.00").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from orderhub.channels import signing
from orderhub.channels.platforms.base import IDEMPOTENCY_HEADER
from orderhub.channels.platforms.douyin import CARRIER_CODES
from orderhub.simulators.platforms.gateway import injected_fault, request_id, too_many_requests, unavailable
from orderhub.simulators.platforms.model import (
    Change,
    Order,
    OutgoingPush,
    PushEvent,
    ShipOutcome,
    SimulatedShop,
    Stage,
    cipher_text,
)
from orderhub.simulators.platforms.wire import allocate, dump_json, json_response, unix, yuan

if TYPE_CHECKING:
    from orderhub.simulators.platforms.state import SimulatorState

CHANNELS = ("douyin",)
MAX_PAGE_SIZE = 100
STATUS = {
    Stage.PENDING_PAYMENT: (1, "待支付"), Stage.PAID: (2, "备货中"), Stage.SHIPPED: (3, "已发货"),
    Stage.FINISHED: (5, "已完成"), Stage.CANCELLED: (4, "已取消"), Stage.REFUNDED: (4, "已取消"),
}
TAGS = {Change.CREATED: "100", Change.PAID: "101", Change.SHIPPED: "102", Change.FINISHED: "103",
        Change.CANCELLED: "106", Change.REFUNDED: "207"}
COMPANY_NAMES = {"shunfeng": "顺丰速运", "zhongtong": "中通快递", "yuantong": "圆通速递", "yunda": "韵达快递",
                 "shentong": "申通快递", "jtexpress": "极兔速递", "ems": "邮政EMS", "jd": "京东物流"}
OUR_CARRIER = {code: ours for ours, code in CARRIER_CODES.items()}


class DouyinFault(Exception):
    def __init__(self, code: int, msg: str, sub_code: str, sub_msg: str = "") -> None:
        super().__init__(msg)
        self.body = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg or msg,
                     "log_id": request_id(), "data": {}}


def _spec(spec: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, _, value in (part.partition(":") for part in spec.split(";"))]


def _status(order: Order) -> tuple[int, str]:
    if order.stage is Stage.PAID and int(order.order_id) % 3 == 0:
        return 105, "已支付"
    return STATUS[order.stage]


def render(shop: SimulatedShop, order: Order) -> dict[str, Any]:
    """A `shop_order_detail` (and `shop_order_list` entry)."""
    status, status_desc = _status(order)
    receiver = order.receiver

    def amount(fen: int) -> int | str:
        return yuan(fen) if shop.faults.type_drift else fen

    refunded = order.stage is Stage.REFUNDED
    shares = allocate(order.seller_discount_fen + order.platform_discount_fen,
                      [line.amount_fen for line in order.lines])
    lines = [{
        "order_id": str(line.line_id), "parent_order_id": order.order_id, "order_level": 3,
        "product_id": str(line.listing.item_id), "product_name": line.listing.title,
        "product_pic": f"https://p3-aio.ecombdimg.com/obj/ecom-shop-material/{line.listing.item_id}.jpg",
        "sku_id": line.listing.platform_sku_id, "code": line.listing.sku_code,
        # The SDK types these "number or string": both occur.
        "out_sku_id": line.listing.platform_sku_id % 10**6 if line.line_id % 2 else str(line.listing.item_id % 10**6),
        "out_product_id": str(line.listing.item_id % 10**6),
        "origin_amount": line.unit_price_fen, "item_num": line.qty, "sum_amount": line.qty * line.unit_price_fen,
        "order_amount": line.amount_fen, "pay_amount": line.amount_fen - share,
        "promotion_amount": line.discount_fen + share, "order_status": status, "order_status_desc": status_desc,
        "spec": _spec(line.listing.spec),
        "after_sale_info": {"after_sale_status": 12 if refunded else 0, "after_sale_type": 2 if refunded else 0,
                            "refund_status": 3 if refunded else 0},
        "create_time": unix(order.created_at), "pay_time": unix(order.paid_at), "update_time": unix(order.modified_at),
    } for line, share in zip(order.lines, shares, strict=True)]
    address = {
        "province": {"id": receiver.adcode[:2], "name": receiver.province},
        "city": {"id": receiver.adcode[:4], "name": receiver.city},
        "town": {"id": receiver.adcode if receiver.district else "", "name": receiver.district},
        "street": {"id": "", "name": receiver.town},
    }
    shipped = [{
        "tracking_no": order.waybill_no, "company": order.carrier_code,
        "company_name": COMPANY_NAMES.get(order.carrier_code, ""), "ship_time": unix(order.shipped_at),
        "delivery_id": "", "product_info": [{"sku_order_id": str(line.line_id), "product_name": line.listing.title,
                                             "product_count": line.qty} for line in order.lines],
    }] if order.waybill_no else []
    return {
        "order_id": order.order_id, "order_level": 2, "order_status": status, "order_status_desc": status_desc,
        "main_status": status, "main_status_desc": status_desc, "order_type": 0, "order_type_desc": "普通实物订单",
        "biz": 2, "biz_desc": "小店", "shop_id": shop.platform_shop_id, "shop_name": shop.seller_nick,
        "create_time": unix(order.created_at), "pay_time": unix(order.paid_at), "update_time": unix(order.modified_at),
        "finish_time": unix(order.finished_at or order.closed_at), "ship_time": unix(order.shipped_at),
        "exp_ship_time": unix(order.paid_at) + 48 * 3600 if order.paid_at else 0,
        "order_amount": amount(order.paid_fen), "pay_amount": amount(order.paid_fen),
        "post_amount": order.shipping_fee_fen, "post_origin_amount": order.shipping_fee_fen,
        "post_promotion_amount": 0, "promotion_amount": order.discount_fen,
        "promotion_shop_amount": order.line_discount_fen + order.seller_discount_fen,
        "promotion_platform_amount": order.platform_discount_fen, "promotion_talent_amount": 0,
        "promotion_pay_amount": 0, "modify_amount": 0, "pay_type": 1, "channel_payment_no": order.payment_no,
        "buyer_words": order.buyer_memo, "seller_words": order.seller_memo,
        "seller_remark_stars": 1 if order.seller_memo else 0,
        "cancel_reason": "用户申请退款" if order.stage is Stage.REFUNDED else (
            "超时未支付" if order.stage is Stage.CANCELLED else ""),
        "doudian_open_id": "1@#" + order.buyer_id,
        "encrypt_post_receiver": cipher_text(shop, order.order_id, "name"),
        "encrypt_post_tel": cipher_text(shop, order.order_id, "phone"),
        "mask_post_receiver": receiver.name[0] + "*" * (len(receiver.name) - 1),
        "mask_post_tel": receiver.phone[:3] + "****" + receiver.phone[-4:],
        "mask_post_addr": {**address, "detail": receiver.detail[:4] + "****"},
        "post_addr": {**address, "encrypt_detail": cipher_text(shop, order.order_id, "detail")},
        "logistics_info": shipped, "sku_order_list": lines,
    }


def _int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or value is None:
        raise DouyinFault(40004, "参数错误", "isv.parameter-invalid", f"{name} 必填")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DouyinFault(40004, "参数错误", "isv.parameter-invalid", f"{name} 必须是整数") from None


def _search_list(state: SimulatorState, shop: SimulatedShop, params: dict[str, Any], key: str) -> dict[str, Any]:
    start = datetime.fromtimestamp(_int(params, "update_time_start"), UTC)
    end = datetime.fromtimestamp(_int(params, "update_time_end"), UTC)
    page, size = _int(params, "page", 0), _int(params, "size", 10)
    if not 1 <= size <= MAX_PAGE_SIZE or page < 0 or end <= start:
        raise DouyinFault(40004, "参数错误", "isv.parameter-invalid", "size 取值 1-100，page 从 0 开始")
    found = state.orders_modified(shop, start, end)
    chosen = found[page * size:(page + 1) * size]
    return {"shop_order_list": [state.render(shop, order) for order in chosen], "total": len(found),
            "page": page, "size": size}


def _order_detail(state: SimulatorState, shop: SimulatedShop, params: dict[str, Any], key: str) -> dict[str, Any]:
    order = state.order(shop, str(params.get("shop_order_id", "")))
    if order is None:
        raise DouyinFault(50002, "业务处理失败", "isv.business-failed:order_not_exist", "订单不存在")
    return {"shop_order_detail": state.render(shop, order)}


def _logistics_add(state: SimulatorState, shop: SimulatedShop, params: dict[str, Any], key: str) -> dict[str, Any]:
    company = str(params.get("company_code", ""))
    if company not in OUR_CARRIER:
        raise DouyinFault(40004, "参数错误", "isv.parameter-invalid", f"物流公司 {company} 不存在")
    outcome = state.ship(shop, str(params.get("order_id", "")), carrier_code=OUR_CARRIER[company],
                         waybill_no=str(params.get("logistics_code", "")), idempotency_key=key,
                         raw={"company_code": company})
    if outcome is ShipOutcome.NOT_FOUND:
        raise DouyinFault(50002, "业务处理失败", "isv.business-failed:order_not_exist", "订单不存在")
    if outcome is ShipOutcome.NOT_SHIPPABLE:
        raise DouyinFault(50002, "业务处理失败", "isv.business-failed:order_status", "订单状态不允许发货")
    return {}


def _sync_stock(state: SimulatorState, shop: SimulatedShop, params: dict[str, Any], key: str) -> dict[str, Any]:
    sku_id, quantity = _int(params, "sku_id"), _int(params, "stock_num")
    if not state.update_stock(shop, sku_id, quantity, idempotency_key=key,
                              raw={"incremental": bool(params.get("incremental", False))}):
        raise DouyinFault(50002, "业务处理失败", "isv.business-failed:sku_not_exist", f"SKU {sku_id} 不存在")
    return {}


def _batch_decrypt(state: SimulatorState, shop: SimulatedShop, params: dict[str, Any], key: str) -> dict[str, Any]:
    infos = []
    for wanted in params.get("cipher_infos") or []:
        plain = state.decrypt(shop, str(wanted.get("cipher_text", "")))
        infos.append({"auth_id": wanted.get("auth_id", ""), "cipher_text": wanted.get("cipher_text", ""),
                      "decrypt_text": plain or "", "err_no": 0 if plain is not None else 300008,
                      "err_msg": "" if plain is not None else "解密失败"})
    return {"decrypt_infos": infos, "custom_err": {"err_code": 0, "err_msg": ""}}


Handler = Callable[["SimulatorState", SimulatedShop, dict[str, Any], str], dict[str, Any]]
METHODS: dict[str, Handler] = {
    "order.searchList": _search_list,
    "order.orderDetail": _order_detail,
    "order.logisticsAdd": _logistics_add,
    "sku.syncStock": _sync_stock,
    "order.batchDecrypt": _batch_decrypt,
}


def _signed(shop: SimulatedShop, query: dict[str, str], raw: str, business: dict[str, Any]) -> bool:
    common = {"app_key": shop.app_key, "app_secret": shop.app_secret, "method": query.get("method", ""),
              "timestamp": query.get("timestamp", ""), "v": query.get("v", "2"),
              "sign_method": query.get("sign_method", "md5"), "sign": query.get("sign", "")}
    return any(signing.verify_douyin(param_json=text, **common)
               for text in (signing.douyin_param_json(business), raw))


async def handle(state: SimulatorState, path: str, query: dict[str, str], raw: bytes, key: str) -> Response:
    shops = state.shops_with_app_key("douyin", query.get("app_key", ""))
    if not shops:
        return json_response(DouyinFault(30001, "app_key不存在", "isv.app-key-not-exist").body)
    shop = next((each for each in shops if each.access_token == query.get("access_token")), shops[0])
    fault = await injected_fault(state, shop)
    if fault == "error":
        return unavailable()
    if fault == "rate_limited":
        return too_many_requests(DouyinFault(40100, "请求过于频繁", "isp.rate-limited").body)
    text = raw.decode("utf-8", "replace") or "{}"
    try:
        business = json.loads(text, parse_float=Decimal)
    except ValueError:
        return json_response(DouyinFault(40004, "参数错误", "isv.parameter-invalid", "param_json 不是 JSON").body)
    if not isinstance(business, dict) or not _signed(shop, query, text, business):
        return json_response(DouyinFault(30005, "签名校验失败", "isv.sign-invalid").body)
    if query.get("access_token") != shop.access_token:
        return json_response(DouyinFault(30002, "access_token已过期", "isv.access-token-no-existed").body)
    method = query.get("method", "")
    if method not in METHODS or method.replace(".", "/") != path:
        return json_response(DouyinFault(40004, "参数错误", "isv.method-invalid", f"不存在的接口 {method}").body)
    try:
        data = METHODS[method](state, shop, business, key)
    except DouyinFault as refused:
        return json_response(refused.body)
    return json_response({"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "", "log_id": request_id(),
                          "data": data})


def mount(app: FastAPI, state: SimulatorState) -> None:
    async def open_api(path: str, request: Request) -> Response:
        return await handle(state, path, dict(request.query_params), await request.body(),
                            request.headers.get(IDEMPOTENCY_HEADER, ""))

    app.add_api_route("/douyin/{path:path}", open_api, methods=["POST"], include_in_schema=False)


def pushes(shop: SimulatedShop, events: Sequence[PushEvent], secret: str) -> list[OutgoingPush]:
    """One POST carrying every event as an array, as Douyin batches its messages."""
    if not events:
        return []
    messages = []
    for event in events:
        order = event.order
        status, _ = _status(order)
        data = {"p_id": int(order.order_id), "s_ids": [line.line_id for line in order.lines],
                "shop_id": shop.platform_shop_id, "order_status": status, "order_type": 0, "biz": 2,
                "update_time": unix(order.modified_at), "create_time": unix(order.created_at)}
        messages.append({"tag": TAGS[event.change], "msg_id": event.message_id, "data": dump_json(data)})
    body = dump_json(messages).encode()
    headers = {"Content-Type": "application/json", "app-id": shop.app_key,
               "event-sign": signing.douyin_event_sign(shop.app_key, body, secret)}
    return [OutgoingPush(headers=headers, body=body, events=tuple(events))]
