"""Simulated TOP gateway for Taobao and Tmall: `/{taobao,tmall}/router/rest`, trades, TMC-style messages.

Serves `taobao.trades.sold.increment.get` (window ≤ 1 day, `page_size` ≤ 100, `use_has_next`; the list
answers only the summary fields `tid, tid_str, status, type, modified, payment, created` — receivers and
lines need `taobao.trade.fullinfo.get`), `taobao.trade.fullinfo.get`, `taobao.logistics.offline.send`
and `taobao.item.quantity.update`. Checks app key (29), signature md5/hmac/hmac-sha256 (25) and
session (26/27) like the real gateway; `timestamp` may be Beijing text or epoch ms. Windows are
half-open `[start, end)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from orderhub.channels import signing
from orderhub.channels.platforms.base import IDEMPOTENCY_HEADER
from orderhub.channels.platforms.taobao import CARRIER_CODES, response_key
from orderhub.simulators.platforms.gateway import injected_fault, request_id, unavailable
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
from orderhub.simulators.platforms.wire import (
    allocate,
    beijing,
    dump_json,
    json_response,
    parse_beijing,
    request_params,
    yuan,
)

if TYPE_CHECKING:
    from orderhub.simulators.platforms.state import SimulatorState

CHANNELS = ("taobao", "tmall")
LONGEST_WINDOW = timedelta(days=1)
MAX_PAGE_SIZE = 100
LIST_FIELDS = {"tid", "tid_str", "status", "type", "modified", "payment", "created"}
TRADE_STATUS = {
    Stage.PENDING_PAYMENT: "WAIT_BUYER_PAY", Stage.PAID: "WAIT_SELLER_SEND_GOODS",
    Stage.SHIPPED: "WAIT_BUYER_CONFIRM_GOODS", Stage.FINISHED: "TRADE_FINISHED",
    Stage.CANCELLED: "TRADE_CLOSED_BY_TAOBAO", Stage.REFUNDED: "TRADE_CLOSED",
}
TOPICS = {
    Change.CREATED: "taobao_trade_TradeCreate", Change.PAID: "taobao_trade_TradeBuyerPay",
    Change.SHIPPED: "taobao_trade_TradeSellerShip", Change.FINISHED: "taobao_trade_TradeSuccess",
    Change.CANCELLED: "taobao_trade_TradeClose", Change.REFUNDED: "taobao_refund_RefundSuccess",
}
COMPANY_NAMES = {"SF": "顺丰速运", "ZTO": "中通快递", "YTO": "圆通速递", "YUNDA": "韵达快递", "STO": "申通快递",
                 "JTSD": "极兔速递", "EMS": "EMS", "JD": "京东物流"}
OUR_CARRIER = {code: ours for ours, code in CARRIER_CODES.items()}


class TopFault(Exception):
    def __init__(self, code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> None:
        super().__init__(msg)
        self.body = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg, "request_id": request_id()}


def masked_nick(nick: str) -> str:
    return f"{nick[0]}**{nick[-1]}"


def _province(name: str) -> str:
    """TOP writes municipalities without 市 in `receiver_state` (北京, 上海)."""
    return name.removesuffix("市") if name in MUNICIPALITIES else name


def render(shop: SimulatedShop, order: Order) -> dict[str, Any]:
    """The `trade` object of `taobao.trade.fullinfo.get`."""
    drift = shop.faults.type_drift
    status = TRADE_STATUS[order.stage]
    company = CARRIER_CODES.get(order.carrier_code, "")
    lines = []
    shares = allocate(order.seller_discount_fen, [line.amount_fen for line in order.lines])
    for line, share in zip(order.lines, shares, strict=True):
        lines.append({
            "oid": line.line_id, "oid_str": str(line.line_id), "title": f"{line.listing.title} {shop.seller_nick}",
            "num_iid": line.listing.item_id, "sku_id": str(line.listing.platform_sku_id),
            "outer_iid": line.listing.sku_code, "outer_sku_id": line.listing.sku_code,
            "sku_properties_name": line.listing.spec, "price": yuan(line.unit_price_fen), "num": line.qty,
            "total_fee": yuan(line.amount_fen), "payment": yuan(line.amount_fen - share),
            "divide_order_fee": yuan(line.amount_fen - share), "part_mjz_discount": yuan(share),
            "discount_fee": yuan(line.discount_fen), "adjust_fee": "0.00", "status": status,
            "refund_status": "SUCCESS" if order.stage is Stage.REFUNDED else "NO_REFUND",
            "invoice_no": order.waybill_no, "logistics_company": COMPANY_NAMES.get(company, ""),
            "consign_time": beijing(order.shipped_at), "end_time": beijing(order.finished_at or order.closed_at),
        })
    payment = yuan(order.paid_fen)
    trade: dict[str, Any] = {
        "tid": int(order.order_id), "tid_str": order.order_id, "status": status,
        "type": "step" if order.presale else "fixed", "buyer_nick": masked_nick(order.buyer_nick),
        "buyer_open_uid": "AAH" + order.buyer_id, "seller_nick": shop.seller_nick,
        "created": beijing(order.created_at), "pay_time": beijing(order.paid_at),
        "modified": beijing(order.modified_at),
        "consign_time": beijing(order.shipped_at), "end_time": beijing(order.finished_at or order.closed_at),
        "receiver_name": order.receiver.name, "receiver_mobile": order.receiver.phone, "receiver_phone": "",
        "receiver_state": _province(order.receiver.province), "receiver_city": order.receiver.city,
        "receiver_district": order.receiver.district, "receiver_town": order.receiver.town,
        "receiver_address": order.receiver.detail, "receiver_zip": order.receiver.zip,
        "total_fee": yuan(order.goods_fen), "discount_fee": yuan(order.line_discount_fen + order.seller_discount_fen),
        "adjust_fee": "0.00", "post_fee": yuan(order.shipping_fee_fen), "payment": payment,
        "received_payment": payment if order.stage is Stage.FINISHED else "0.00",
        "num": sum(line.qty for line in order.lines), "num_iid": order.lines[0].listing.item_id,
        "seller_memo": order.seller_memo, "seller_flag": 1 if order.seller_memo else 0,
        "buyer_message": order.buyer_memo, "orders": {"order": lines},
    }
    if order.presale:
        trade["step_trade_status"] = ("FRONT_PAID_FINAL_NOPAID" if order.stage is Stage.PENDING_PAYMENT
                                      else "FRONT_PAID_FINAL_PAID")
        trade["step_paid_fee"] = yuan(order.paid_fen // 5)
    if drift:
        # Type drift: amounts as JSON numbers instead of the documented strings.
        trade["payment"], trade["post_fee"] = Decimal(payment), Decimal(yuan(order.shipping_fee_fen))
    return trade


def _fields(trade: dict[str, Any], requested: str, allowed: set[str] | None = None) -> dict[str, Any]:
    wanted = {name.strip().split(".")[0] for name in requested.split(",") if name.strip()}
    if allowed is not None:
        wanted &= allowed
    return {key: value for key, value in trade.items() if key in wanted}


def _window(params: dict[str, str]) -> tuple[Any, Any]:
    try:
        start, end = parse_beijing(params["start_modified"]), parse_beijing(params["end_modified"])
    except (KeyError, ValueError):
        raise TopFault(41, "Invalid arguments", "isv.missing-parameter:start_modified",
                       "start_modified and end_modified are required (yyyy-MM-dd HH:mm:ss)") from None
    if end <= start or end - start > LONGEST_WINDOW:
        raise TopFault(41, "Invalid arguments", "isv.invalid-parameter:start_modified",
                       "开始时间和结束时间不能超过一天，且结束时间必须大于开始时间")
    return start, end


def _increment(state: SimulatorState, shop: SimulatedShop, params: dict[str, str], key: str) -> dict[str, Any]:
    start, end = _window(params)
    page_no, page_size = int(params.get("page_no", "1")), int(params.get("page_size", "40"))
    if page_size > MAX_PAGE_SIZE or page_no < 1:
        raise TopFault(41, "Invalid arguments", "isv.invalid-parameter:page_size", "page_size 最大为 100")
    found = state.orders_modified(shop, start, end)
    chosen = found[(page_no - 1) * page_size:page_no * page_size]
    requested = params.get("fields", "tid")
    trades = [_fields(state.render(shop, order), requested, LIST_FIELDS) for order in chosen]
    body: dict[str, Any] = ({"has_next": page_no * page_size < len(found)}
                            if params.get("use_has_next") == "true" else {"total_results": len(found)})
    if trades:
        body["trades"] = {"trade": trades}
    return body


def _order(state: SimulatorState, shop: SimulatedShop, tid: str) -> Order:
    order = state.order(shop, tid)
    if order is None:
        raise TopFault(15, "Remote service error", "isv.trade-not-exist", f"交易{tid}不存在")
    return order


def _fullinfo(state: SimulatorState, shop: SimulatedShop, params: dict[str, str], key: str) -> dict[str, Any]:
    trade = state.render(shop, _order(state, shop, params.get("tid", "")))
    return {"trade": _fields(trade, params.get("fields", "tid"))}


def _offline_send(state: SimulatorState, shop: SimulatedShop, params: dict[str, str], key: str) -> dict[str, Any]:
    company = params.get("company_code", "")
    if company not in OUR_CARRIER:
        raise TopFault(15, "Remote service error", "isv.logistics-company-not-exist", f"物流公司{company}不存在")
    outcome = state.ship(shop, params.get("tid", ""), carrier_code=OUR_CARRIER[company],
                         waybill_no=params.get("out_sid", ""), idempotency_key=key, raw={"company_code": company})
    if outcome is ShipOutcome.NOT_FOUND:
        raise TopFault(15, "Remote service error", "isv.trade-not-exist", "交易不存在")
    if outcome is ShipOutcome.NOT_SHIPPABLE:
        raise TopFault(15, "Remote service error", "isv.logistics-offline-send-error", "当前订单状态不支持发货")
    return {"shipping": {"is_success": True}}


def _quantity_update(state: SimulatorState, shop: SimulatedShop, params: dict[str, str], key: str) -> dict[str, Any]:
    sku_id, quantity = params.get("sku_id", ""), params.get("quantity", "")
    if not sku_id.isdigit() or not quantity.isdigit():
        raise TopFault(41, "Invalid arguments", "isv.invalid-parameter", "sku_id and quantity must be numbers")
    if not state.update_stock(shop, int(sku_id), int(quantity), idempotency_key=key,
                              raw={"type": params.get("type", "1")}):
        raise TopFault(15, "Remote service error", "isv.item-not-exist", f"SKU {sku_id} 不存在")
    with state.lock:
        listing = shop.listing_by_platform_sku(int(sku_id))
    return {"item": {"num_iid": listing.item_id if listing else 0, "num": int(quantity),
                     "modified": beijing(state.now())}}


Handler = Callable[["SimulatorState", SimulatedShop, dict[str, str], str], dict[str, Any]]
METHODS: dict[str, Handler] = {
    "taobao.trades.sold.increment.get": _increment,
    "taobao.trade.fullinfo.get": _fullinfo,
    "taobao.logistics.offline.send": _offline_send,
    "taobao.item.quantity.update": _quantity_update,
}


def _error(fault: TopFault) -> Response:
    return json_response({"error_response": fault.body})


async def handle(state: SimulatorState, channel: str, params: dict[str, str], idempotency_key: str) -> Response:
    shops = state.shops_with_app_key(channel, params.get("app_key", ""))
    if not shops:
        return _error(TopFault(29, "Invalid app Key", "isv.appkey-not-exists"))
    shop = next((each for each in shops if each.access_token == params.get("session")), shops[0])
    fault = await injected_fault(state, shop)
    if fault == "error":
        return unavailable()
    if fault == "rate_limited":
        return _error(TopFault(7, "App Call Limited", "accesscontrol.limited-by-app-access-count",
                               "This ban will last for 1 more seconds"))
    if not signing.verify_top(params, shop.app_secret):
        return _error(TopFault(25, "Invalid signature"))
    if not params.get("session"):
        return _error(TopFault(26, "Missing session"))
    if shop.access_token != params["session"]:
        return _error(TopFault(27, "Invalid session", "invalid-sessionkey"))
    method = params.get("method", "")
    if method not in METHODS:
        return _error(TopFault(22, "Invalid method"))
    try:
        body = METHODS[method](state, shop, params, idempotency_key)
    except TopFault as refused:
        return _error(refused)
    return json_response({response_key(method): {**body, "request_id": request_id()}})


def _router_rest(state: SimulatorState, channel: str) -> Callable[[Request], Any]:
    async def router_rest(request: Request) -> Response:
        params = await request_params(request)
        return await handle(state, channel, params, request.headers.get(IDEMPOTENCY_HEADER, ""))

    return router_rest


def mount(app: FastAPI, state: SimulatorState) -> None:
    for channel in CHANNELS:
        app.add_api_route(f"/{channel}/router/rest", _router_rest(state, channel), methods=["GET", "POST"],
                          include_in_schema=False)


def pushes(shop: SimulatedShop, events: Sequence[PushEvent], secret: str) -> list[OutgoingPush]:
    """One TMC-style message per change, relayed as a signed HTTP POST."""
    outgoing = []
    for event in events:
        order = event.order
        content = {"buyer_nick": masked_nick(order.buyer_nick), "payment": yuan(order.paid_fen),
                   "oid": order.lines[0].line_id, "tid": int(order.order_id), "type": "guarantee_trade",
                   "status": TRADE_STATUS[order.stage], "seller_nick": shop.seller_nick}
        message = {"id": int(event.message_id), "topic": TOPICS[event.change], "pub_app_key": "12497914",
                   "pub_time": beijing(order.modified_at), "user_id": shop.platform_shop_id,
                   "user_nick": shop.seller_nick, "content": dump_json(content)}
        body = dump_json(message).encode()
        headers = {"Content-Type": "application/json", "X-Notice-App-Key": shop.app_key,
                   "X-Notice-Sign": signing.notice_sign(secret, body)}
        outgoing.append(OutgoingPush(headers=headers, body=body, events=(event,)))
    return outgoing
