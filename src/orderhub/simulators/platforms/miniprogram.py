"""Simulated mini-program backend: the generic JSON contract of docs/channels/miniprogram.md.

Serves `GET /miniprogram/api/v1/orders` (by `updated_at`, `limit` ≤ 100, `next_cursor`), `GET …/orders/{id}`,
`POST …/orders/{id}/shipments` and `PUT …/stock/{sku}`. Every request must carry the bearer token,
`X-OrderHub-App-Key` and a valid `X-OrderHub-Signature` within 5 minutes of the wall clock; errors are
`{"error": {"code", "message"}}`. Pushes post `{"event_id", "event", "occurred_at", "order"}` signed
over `f"{timestamp}.{body}"`. Under the type-drift fault `paid_amount` arrives as a JSON number.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.responses import Response

from orderhub.channels import signing
from orderhub.channels.platforms.base import IDEMPOTENCY_HEADER
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
from orderhub.simulators.platforms.reference import CARRIERS
from orderhub.simulators.platforms.wire import dump_json, iso_beijing, json_response, yuan

if TYPE_CHECKING:
    from orderhub.simulators.platforms.state import SimulatorState

CHANNELS = ("miniprogram",)
MOUNT = "/miniprogram"
API_ROOT = "/api/v1"
MAX_LIMIT = 100
STATUS = {Stage.PENDING_PAYMENT: "pending_payment", Stage.PAID: "paid", Stage.SHIPPED: "shipped",
          Stage.FINISHED: "completed", Stage.CANCELLED: "cancelled", Stage.REFUNDED: "refunded"}
EVENTS = {Change.CREATED: "order.created", Change.PAID: "order.paid", Change.SHIPPED: "order.shipped",
          Change.FINISHED: "order.completed", Change.CANCELLED: "order.cancelled", Change.REFUNDED: "order.refunded"}


def _error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status=status)


def render(shop: SimulatedShop, order: Order) -> dict[str, Any]:
    """The order JSON of the mini-program contract (docs/channels/miniprogram.md)."""
    receiver = order.receiver
    discount = order.seller_discount_fen + order.platform_discount_fen
    paid = yuan(order.paid_fen)
    return {
        "order_id": order.order_id, "status": STATUS[order.stage],
        "created_at": iso_beijing(order.created_at), "updated_at": iso_beijing(order.modified_at),
        "paid_at": iso_beijing(order.paid_at), "shipped_at": iso_beijing(order.shipped_at),
        "completed_at": iso_beijing(order.finished_at), "closed_at": iso_beijing(order.closed_at),
        "buyer": {"openid": "o6_" + order.buyer_id, "nickname": order.buyer_nick},
        "receiver": {"name": receiver.name, "phone": receiver.phone, "province": receiver.province,
                     "city": receiver.city, "district": receiver.district, "town": receiver.town,
                     "address": receiver.detail, "zip": receiver.zip},
        "lines": [{"line_id": str(line.line_id), "sku": line.listing.sku_code, "product_id": f"P{line.listing.item_id}",
                   "title": line.listing.title, "spec": line.listing.spec, "qty": line.qty,
                   "unit_price": yuan(line.unit_price_fen), "discount": yuan(line.discount_fen),
                   "amount": yuan(line.amount_fen)} for line in order.lines],
        "goods_amount": yuan(order.goods_fen - order.line_discount_fen), "shipping_fee": yuan(order.shipping_fee_fen),
        "discount": yuan(discount), "paid_amount": Decimal(paid) if shop.faults.type_drift else paid,
        "currency": "CNY",
        "payment": {"method": "wechat", "transaction_id": order.payment_no,
                    "paid_at": iso_beijing(order.paid_at)} if order.paid_at else None,
        "shipment": {"carrier_code": order.carrier_code, "waybill_no": order.waybill_no,
                     "shipped_at": iso_beijing(order.shipped_at)} if order.waybill_no else None,
        "refund": {"amount": paid, "refunded_at": iso_beijing(order.closed_at)}
        if order.stage is Stage.REFUNDED else None,
        "buyer_memo": order.buyer_memo, "seller_memo": order.seller_memo,
    }


def _cursor(filters: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(filters, separators=(",", ":")).encode()).decode().rstrip("=")


def _list(state: SimulatorState, shop: SimulatedShop, request: Request) -> Response:
    query = dict(request.query_params)
    try:
        if query.get("cursor"):
            token = query["cursor"]
            filters = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        else:
            filters = {"from": query["updated_from"], "to": query["updated_to"], "offset": 0}
        start = datetime.fromisoformat(filters["from"]).astimezone(UTC)
        end = datetime.fromisoformat(filters["to"]).astimezone(UTC)
        limit, offset = int(query.get("limit", "50")), int(filters["offset"])
    except (KeyError, ValueError, TypeError):
        return _error(422, "request.invalid", "updated_from and updated_to (ISO 8601) or a cursor are required")
    if not 1 <= limit <= MAX_LIMIT:
        return _error(422, "request.invalid", "limit must be between 1 and 100")
    found = state.orders_modified(shop, start, end)
    chosen = found[offset:offset + limit]
    following = offset + limit
    next_cursor = _cursor({**filters, "offset": following}) if following < len(found) else None
    return json_response({"items": [state.render(shop, order) for order in chosen], "next_cursor": next_cursor})


async def _ship(state: SimulatorState, shop: SimulatedShop, order_id: str, request: Request) -> Response:
    try:
        body = await request.json()
        carrier, waybill = str(body["carrier_code"]), str(body["waybill_no"])
    except (ValueError, KeyError, TypeError):
        return _error(422, "request.invalid", "carrier_code and waybill_no are required")
    if carrier not in CARRIERS:
        return _error(422, "shipment.unknown_carrier", f"unknown carrier {carrier!r}")
    outcome = state.ship(shop, order_id, carrier_code=carrier, waybill_no=waybill,
                         idempotency_key=request.headers.get(IDEMPOTENCY_HEADER, ""), raw={})
    if outcome is ShipOutcome.NOT_FOUND:
        return _error(404, "order.not_found", f"no order {order_id}")
    if outcome is ShipOutcome.NOT_SHIPPABLE:
        return _error(409, "order.not_shippable", f"order {order_id} cannot be shipped in its status")
    return json_response({"order_id": order_id, "status": "shipped"},
                         status=201 if outcome is ShipOutcome.RECORDED else 200)


async def _stock(state: SimulatorState, shop: SimulatedShop, sku: str, request: Request) -> Response:
    try:
        quantity = int((await request.json())["quantity"])
    except (ValueError, KeyError, TypeError):
        return _error(422, "request.invalid", "quantity (an integer) is required")
    with state.lock:
        listing = shop.catalog.get(sku)
    if listing is None or not state.update_stock(shop, listing.platform_sku_id, quantity,
                                                 idempotency_key=request.headers.get(IDEMPOTENCY_HEADER, ""),
                                                 raw={"sku": sku}):
        return _error(404, "sku.not_found", f"no SKU {sku}")
    return json_response({"sku": sku, "quantity": quantity})


def _authentic(shop: SimulatedShop, request: Request, body: bytes) -> bool:
    target = request.url.path.removeprefix(MOUNT) + (f"?{request.url.query}" if request.url.query else "")
    payload = signing.miniprogram_request_payload(request.method, target, body)
    return signing.verify_miniprogram(shop.app_secret, request.headers.get("X-OrderHub-Timestamp", ""),
                                      request.headers.get("X-OrderHub-Signature", ""), payload, datetime.now(UTC))


def mount(app: FastAPI, state: SimulatorState) -> None:
    async def api(path: str, request: Request) -> Response:
        shops = state.shops_with_app_key("miniprogram", request.headers.get("X-OrderHub-App-Key", ""))
        if not shops:
            return _error(401, "auth.unknown_app", "unknown X-OrderHub-App-Key")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        shop = next((each for each in shops if each.access_token == token), shops[0])
        fault = await injected_fault(state, shop)
        if fault == "error":
            return unavailable()
        if fault == "rate_limited":
            return too_many_requests({"error": {"code": "rate_limited", "message": "too many requests"}})
        if not _authentic(shop, request, await request.body()):
            return _error(401, "auth.invalid_signature", "X-OrderHub-Signature does not match or has expired")
        if token != shop.access_token:
            return _error(401, "auth.invalid_token", "the bearer token is not valid")
        parts = [unquote(part) for part in path.split("/")]
        if request.method == "GET" and parts == ["orders"]:
            return _list(state, shop, request)
        if request.method == "GET" and len(parts) == 2 and parts[0] == "orders":
            order = state.order(shop, parts[1])
            return json_response(state.render(shop, order)) if order else _error(404, "order.not_found", parts[1])
        if request.method == "POST" and len(parts) == 3 and parts[0] == "orders" and parts[2] == "shipments":
            return await _ship(state, shop, parts[1], request)
        if request.method == "PUT" and len(parts) == 2 and parts[0] == "stock":
            return await _stock(state, shop, parts[1], request)
        return _error(404, "not_found", f"no route {request.method} {path}")

    app.add_api_route(MOUNT + API_ROOT + "/{path:path}", api, methods=["GET", "POST", "PUT"], include_in_schema=False)


def pushes(shop: SimulatedShop, events: Sequence[PushEvent], secret: str) -> list[OutgoingPush]:
    """One signed POST per change with the full order; the timestamp is the wall clock at signing."""
    outgoing = []
    for event in events:
        body = dump_json({"event_id": event.message_id, "event": EVENTS[event.change],
                          "occurred_at": iso_beijing(event.order.modified_at),
                          "order": render(shop, event.order)}).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-OrderHub-Event": EVENTS[event.change],
                   "X-OrderHub-Timestamp": timestamp,
                   "X-OrderHub-Signature": signing.miniprogram_signature(secret, timestamp, body)}
        outgoing.append(OutgoingPush(headers=headers, body=body, events=(event,)))
    return outgoing
