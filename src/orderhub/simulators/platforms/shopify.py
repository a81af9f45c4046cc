"""Simulated Shopify-style Admin REST API 2024-10 under `/shopify/admin/api/2024-10/`, and order webhooks.

Serves `orders.json` (`status`, `updated_at_min`/`updated_at_max`, `limit` ≤ 250, cursor paging by
`page_info` in the `Link` header; a `page_info` request may carry only `limit`), `orders/{id}.json`,
`orders/{id}/fulfillment_orders.json`, `fulfillments.json`, `variants/{id}.json`, `locations.json` and
`inventory_levels/set.json`. `X-Shopify-Access-Token` picks the shop (401 otherwise); rate limiting is
HTTP 429 with `Retry-After: 2.0`. Orders are the REST Order JSON of a shop in CNY and Asia/Shanghai:
money as decimal strings, times ISO 8601 with +08:00, Chinese receivers with Shopify's English
province names and codes. Under the type-drift fault `total_price` arrives as a JSON number.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from orderhub.channels import signing
from orderhub.channels.platforms.base import IDEMPOTENCY_HEADER
from orderhub.channels.platforms.shopify import API_VERSION, CARRIER_CODES
from orderhub.simulators.platforms.gateway import injected_fault, too_many_requests, unavailable
from orderhub.simulators.platforms.model import (
    Change,
    Listing,
    Order,
    OutgoingPush,
    PushEvent,
    ShipOutcome,
    SimulatedShop,
    Stage,
)
from orderhub.simulators.platforms.wire import dump_json, iso_beijing, json_response, yuan

if TYPE_CHECKING:
    from orderhub.simulators.platforms.state import SimulatorState

CHANNELS = ("shopify",)
PREFIX = f"/shopify/admin/api/{API_VERSION}"
MAX_LIMIT = 250
PROVINCES = {
    "浙江省": ("Zhejiang", "ZJ"), "广东省": ("Guangdong", "GD"), "海南省": ("Hainan", "HI"), "甘肃省": ("Gansu", "GS"),
    "北京市": ("Beijing", "BJ"), "上海市": ("Shanghai", "SH"), "四川省": ("Sichuan", "SC"), "江苏省": ("Jiangsu", "JS"),
    "湖北省": ("Hubei", "HB"), "山东省": ("Shandong", "SD"), "河南省": ("Henan", "HA"), "福建省": ("Fujian", "FJ"),
}
TOPICS = {Change.CREATED: "orders/create", Change.PAID: "orders/paid", Change.SHIPPED: "orders/fulfilled",
          Change.FINISHED: "orders/updated", Change.CANCELLED: "orders/cancelled", Change.REFUNDED: "orders/updated"}
OUR_CARRIER = {name: ours for ours, name in CARRIER_CODES.items()}
UNAUTHORIZED = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def _money_set(fen: int) -> dict[str, Any]:
    amount = {"amount": yuan(fen), "currency_code": "CNY"}
    return {"shop_money": amount, "presentment_money": amount}


def _gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def fulfillment_order_id(order: Order) -> int:
    return int(order.order_id) + 1


def location_id(shop: SimulatedShop) -> int:
    return shop.platform_shop_id * 10 + 1


def render(shop: SimulatedShop, order: Order) -> dict[str, Any]:
    """The REST Order JSON (`GET /orders/{id}.json` → `order`, and every order webhook's body)."""
    receiver = order.receiver
    fulfilled = bool(order.waybill_no)
    never_paid = order.paid_at is None
    financial = {Stage.PENDING_PAYMENT: "pending", Stage.PAID: "paid", Stage.SHIPPED: "paid", Stage.FINISHED: "paid",
                 Stage.CANCELLED: "voided" if never_paid else "refunded", Stage.REFUNDED: "refunded"}[order.stage]
    cancelled = order.stage is Stage.CANCELLED or (order.stage is Stage.REFUNDED and not fulfilled)
    province, province_code = PROVINCES.get(receiver.province, (None, None))
    discounts = order.line_discount_fen + order.seller_discount_fen
    company = CARRIER_CODES.get(order.carrier_code, "")
    line_items = [{
        "id": line.line_id, "admin_graphql_api_id": _gid("LineItem", line.line_id),
        "variant_id": line.listing.platform_sku_id, "product_id": line.listing.item_id, "sku": line.listing.sku_code,
        "title": line.listing.title, "variant_title": " / ".join(part.partition(":")[2]
                                                              for part in line.listing.spec.split(";")),
        "name": f"{line.listing.title} - {line.listing.spec}", "vendor": shop.seller_nick, "quantity": line.qty,
        "price": yuan(line.unit_price_fen), "price_set": _money_set(line.unit_price_fen),
        "total_discount": yuan(line.discount_fen), "fulfillment_status": "fulfilled" if fulfilled else None,
        "fulfillable_quantity": 0 if fulfilled or cancelled else line.qty, "requires_shipping": True,
        "taxable": False, "grams": 500, "gift_card": False,
    } for line in order.lines]
    total = yuan(order.paid_fen)
    rendered: dict[str, Any] = {
        "id": int(order.order_id), "admin_graphql_api_id": _gid("Order", order.order_id),
        "name": f"#{order.number}", "order_number": order.number, "number": order.number - 1000,
        "email": f"{order.buyer_nick}@example.cn", "phone": None, "currency": "CNY", "presentment_currency": "CNY",
        "created_at": iso_beijing(order.created_at), "updated_at": iso_beijing(order.modified_at),
        "processed_at": iso_beijing(order.created_at),
        "cancelled_at": iso_beijing(order.closed_at) if cancelled else None,
        "cancel_reason": "customer" if cancelled else None,
        "closed_at": iso_beijing(order.finished_at or (order.closed_at if cancelled else None)),
        "financial_status": financial, "fulfillment_status": "fulfilled" if fulfilled else None,
        "confirmed": True, "test": False, "taxes_included": False, "source_name": "web",
        "total_line_items_price": yuan(order.goods_fen), "subtotal_price": yuan(order.goods_fen - discounts),
        "total_discounts": yuan(discounts), "total_tax": "0.00",
        "total_price": Decimal(total) if shop.faults.type_drift else total,
        "total_price_set": _money_set(order.paid_fen),
        "current_total_price": "0.00" if financial == "refunded" else total,
        "note": order.buyer_memo or None, "tags": "", "line_items": line_items,
        "shipping_lines": [{"id": line_items[0]["id"] + 7, "title": "标准快递", "code": "Standard",
                            "price": yuan(order.shipping_fee_fen), "source": "shopify"}],
        "shipping_address": {
            "first_name": receiver.name[1:], "last_name": receiver.name[0], "name": receiver.name,
            "address1": f"{receiver.district}{receiver.town}{receiver.detail}", "address2": "",
            "city": receiver.city, "province": province, "province_code": province_code, "zip": receiver.zip,
            "country": "China", "country_code": "CN", "phone": f"+86{receiver.phone}", "company": None,
        },
        "customer": {"id": int(order.buyer_id[:12], 16) % 10**13, "email": f"{order.buyer_nick}@example.cn",
                     "first_name": receiver.name[1:], "last_name": receiver.name[0]},
        "fulfillments": [{
            "id": int(order.order_id) + 3, "order_id": int(order.order_id), "status": "success",
            "tracking_company": company, "tracking_number": order.waybill_no, "tracking_numbers": [order.waybill_no],
            "tracking_url": f"https://www.kuaidi100.com/chaxun?nu={order.waybill_no}",
            "created_at": iso_beijing(order.shipped_at),
        }] if fulfilled else [],
        "refunds": [{
            "id": int(order.order_id) + 5, "order_id": int(order.order_id), "created_at": iso_beijing(order.closed_at),
            "refund_line_items": [{"line_item_id": line.line_id, "quantity": line.qty,
                                   "subtotal": yuan(line.amount_fen)} for line in order.lines],
            "transactions": [{"kind": "refund", "amount": total, "status": "success", "gateway": "wechat_pay"}],
        }] if financial == "refunded" else [],
    }
    return rendered


def _page_info(filters: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(filters, separators=(",", ":")).encode()).decode().rstrip("=")


def _read_page_info(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return decoded


def _status_matches(order: Order, status: str) -> bool:
    if status == "any":
        return True
    if status == "closed":
        return order.stage is Stage.FINISHED
    if status == "cancelled":
        return order.stage in (Stage.CANCELLED, Stage.REFUNDED)
    return not order.stage.terminal


def _list(state: SimulatorState, shop: SimulatedShop, request: Request) -> Response:
    query = dict(request.query_params)
    try:
        limit = int(query.get("limit", "50"))
        if "page_info" in query:
            if set(query) - {"page_info", "limit", "fields"}:
                return json_response({"errors": {"page_info": ["page_info cannot be combined with other filters"]}},
                                     status=400)
            filters = _read_page_info(query["page_info"])
        else:
            filters = {"min": query.get("updated_at_min"), "max": query.get("updated_at_max"),
                       "status": query.get("status", "open"), "offset": 0}
        low = datetime.fromisoformat(filters["min"]).astimezone(UTC) if filters["min"] else datetime.min.replace(
            tzinfo=UTC)
        high = datetime.fromisoformat(filters["max"]).astimezone(UTC) if filters["max"] else datetime.max.replace(
            tzinfo=UTC)
    except (ValueError, KeyError, TypeError):
        return json_response({"errors": "Invalid query parameters"}, status=400)
    if not 1 <= limit <= MAX_LIMIT:
        return json_response({"errors": {"limit": ["must be between 1 and 250"]}}, status=400)
    found = [order for order in state.orders_modified(shop, low, high) if _status_matches(order, filters["status"])]
    offset = int(filters["offset"])
    chosen = found[offset:offset + limit]
    links = []
    base = str(request.url).split("?")[0]
    if offset + limit < len(found):
        following = {**filters, "offset": offset + limit}
        links.append(f'<{base}?limit={limit}&page_info={_page_info(following)}>; rel="next"')
    if offset:
        previous = {**filters, "offset": max(offset - limit, 0)}
        links.append(f'<{base}?limit={limit}&page_info={_page_info(previous)}>; rel="previous"')
    headers = {"Link": ", ".join(links)} if links else {}
    return json_response({"orders": [state.render(shop, order) for order in chosen]}, headers=headers)


def _not_found() -> Response:
    return json_response({"errors": "Not Found"}, status=404)


def _fulfillment_orders(state: SimulatorState, shop: SimulatedShop, order_id: str) -> Response:
    order = state.order(shop, order_id)
    if order is None:
        return _not_found()
    status = {Stage.PENDING_PAYMENT: "open", Stage.PAID: "open", Stage.SHIPPED: "closed", Stage.FINISHED: "closed",
              Stage.CANCELLED: "cancelled", Stage.REFUNDED: "cancelled"}[order.stage]
    return json_response({"fulfillment_orders": [{
        "id": fulfillment_order_id(order), "shop_id": shop.platform_shop_id, "order_id": int(order.order_id),
        "assigned_location_id": location_id(shop), "request_status": "unsubmitted", "status": status,
        "line_items": [{"id": line.line_id + 11, "fulfillment_order_id": fulfillment_order_id(order),
                        "line_item_id": line.line_id, "quantity": line.qty,
                        "fulfillable_quantity": line.qty if status == "open" else 0} for line in order.lines],
    }]})


async def _create_fulfillment(state: SimulatorState, shop: SimulatedShop, request: Request) -> Response:
    try:
        fulfillment = (await request.json())["fulfillment"]
        wanted = {int(each["fulfillment_order_id"]) for each in fulfillment["line_items_by_fulfillment_order"]}
        tracking = fulfillment.get("tracking_info") or {}
    except (ValueError, KeyError, TypeError):
        return json_response({"errors": {"fulfillment": ["is invalid"]}}, status=400)
    with state.lock:
        order = next((each for each in shop.orders.values() if fulfillment_order_id(each) in wanted), None)
    if order is None:
        return _not_found()
    company = str(tracking.get("company", ""))
    outcome = state.ship(shop, order.order_id, carrier_code=OUR_CARRIER.get(company, ""),
                         waybill_no=str(tracking.get("number", "")),
                         idempotency_key=request.headers.get(IDEMPOTENCY_HEADER, ""), raw={"tracking_company": company})
    if outcome is ShipOutcome.NOT_SHIPPABLE:
        return json_response({"errors": [f"Fulfillment order {fulfillment_order_id(order)} has an unfulfillable "
                                         "status"]}, status=422)
    rendered = state.render(shop, order)
    return json_response({"fulfillment": rendered["fulfillments"][0]}, status=201)


def _variant(shop: SimulatedShop, listing: Listing) -> dict[str, Any]:
    return {"id": listing.platform_sku_id, "product_id": listing.item_id, "title": listing.spec,
            "sku": listing.sku_code, "price": yuan(listing.price_fen), "inventory_item_id": listing.inventory_item_id,
            "inventory_quantity": shop.stock.get(listing.platform_sku_id, 0), "inventory_management": "shopify",
            "admin_graphql_api_id": _gid("ProductVariant", listing.platform_sku_id)}


async def _set_inventory(state: SimulatorState, shop: SimulatedShop, request: Request) -> Response:
    try:
        body = await request.json()
        item_id, available, location = int(body["inventory_item_id"]), int(body["available"]), int(body["location_id"])
    except (ValueError, KeyError, TypeError):
        return json_response({"errors": {"inventory_item_id": ["is required"]}}, status=400)
    with state.lock:
        listing = next((each for each in shop.catalog.values() if each.inventory_item_id == item_id), None)
    if listing is None or location != location_id(shop):
        return json_response({"errors": ["Inventory item does not exist at this location"]}, status=422)
    state.update_stock(shop, listing.platform_sku_id, available,
                       idempotency_key=request.headers.get(IDEMPOTENCY_HEADER, ""),
                       raw={"inventory_item_id": item_id, "location_id": location})
    return json_response({"inventory_level": {"inventory_item_id": item_id, "location_id": location,
                                              "available": available, "updated_at": iso_beijing(state.now())}})


def mount(app: FastAPI, state: SimulatorState) -> None:
    async def admin_api(path: str, request: Request) -> Response:
        shop = state.shop_with_token("shopify", request.headers.get("X-Shopify-Access-Token", ""))
        if shop is None:
            return json_response(UNAUTHORIZED, status=401)
        fault = await injected_fault(state, shop)
        if fault == "error":
            return unavailable()
        if fault == "rate_limited":
            return too_many_requests({"errors": "Exceeded 2 calls per second for api client. Reduce request rates "
                                                "to resume uninterrupted service."}, retry_after="2.0")
        parts = path.removesuffix(".json").split("/")
        method = request.method
        if method == "GET" and parts == ["orders"]:
            return _list(state, shop, request)
        if method == "GET" and len(parts) == 2 and parts[0] == "orders":
            order = state.order(shop, parts[1])
            return json_response({"order": state.render(shop, order)}) if order else _not_found()
        if method == "GET" and len(parts) == 3 and parts[0] == "orders" and parts[2] == "fulfillment_orders":
            return _fulfillment_orders(state, shop, parts[1])
        if method == "POST" and parts == ["fulfillments"]:
            return await _create_fulfillment(state, shop, request)
        if method == "GET" and len(parts) == 2 and parts[0] == "variants" and parts[1].isdigit():
            with state.lock:
                listing = shop.listing_by_platform_sku(int(parts[1]))
                variant = _variant(shop, listing) if listing else None
            return json_response({"variant": variant}) if variant else _not_found()
        if method == "GET" and parts == ["locations"]:
            return json_response({"locations": [{"id": location_id(shop), "name": "杭州主仓", "active": True,
                                                 "country_code": "CN", "province_code": "ZJ", "city": "杭州市"}]})
        if method == "POST" and parts == ["inventory_levels", "set"]:
            return await _set_inventory(state, shop, request)
        return _not_found()

    app.add_api_route(PREFIX + "/{path:path}", admin_api, methods=["GET", "POST"], include_in_schema=False)


def pushes(shop: SimulatedShop, events: Sequence[PushEvent], secret: str) -> list[OutgoingPush]:
    """One webhook per change, carrying the full order."""
    outgoing = []
    for event in events:
        body = dump_json(render(shop, event.order)).encode()
        headers = {
            "Content-Type": "application/json", "X-Shopify-Topic": TOPICS[event.change],
            "X-Shopify-Hmac-Sha256": signing.shopify_webhook_hmac(secret, body),
            "X-Shopify-Shop-Domain": f"{shop.code}.myshopify.com", "X-Shopify-Webhook-Id": event.message_id,
            "X-Shopify-Event-Id": str(uuid.uuid5(uuid.NAMESPACE_URL, event.message_id)),
            "X-Shopify-Triggered-At": event.order.modified_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "X-Shopify-API-Version": API_VERSION,
        }
        outgoing.append(OutgoingPush(headers=headers, body=body, events=(event,)))
    return outgoing
