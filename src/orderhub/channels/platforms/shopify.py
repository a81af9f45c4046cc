"""A Shopify-style independent site: the Admin REST API 2024-10 and order webhooks.

Followed: shared/formats.md §5 (shopify.dev): `X-Shopify-Access-Token` authenticates every call;
orders are listed with `GET /admin/api/2024-10/orders.json?status=any&updated_at_min=…&updated_at_max=…`
and paged by the `Link: <…page_info=…>; rel="next"` header (a `page_info` request carries only
`limit`); one order is `GET /orders/{id}.json`. Shipping creates a fulfillment for the order's open
fulfillment orders (`GET /orders/{id}/fulfillment_orders.json`, `POST /fulfillments.json` with
`tracking_info`); stock is `POST /inventory_levels/set.json` for the variant's inventory item at the
shop's first active location. HTTP 401 means bad credentials, 429 carries `Retry-After`.

Webhooks carry the full order; `X-Shopify-Hmac-Sha256` is base64 HMAC-SHA256 of the raw body with the
app's client secret, `X-Shopify-Webhook-Id` is the same on every retry of one delivery (the dedup key).
Assumed: a client-secret rotation revokes the old access token too (the app re-authorises), and the
`Idempotency-Key` header on writes is honoured by the simulator only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

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
    carrier_for,
    header,
    load_push_json,
    read_json,
    require_utc,
    send,
)

API_VERSION = "2024-10"
ORDER_TOPICS = {"orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled",
                "orders/partially_fulfilled", "orders/edited"}
# OrderHub's carrier codes → the tracking company names Shopify knows.
CARRIER_CODES = {
    "shunfeng": "SF Express", "zhongtong": "ZTO Express", "yuantong": "YTO Express", "yunda": "Yunda Express",
    "shentong": "STO Express", "jtexpress": "J&T Express", "ems": "China Post", "jd": "JD Logistics",
}
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


def iso(value: datetime) -> str:
    return require_utc(value).replace(microsecond=0).isoformat()


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class ShopifyClient(HttpClientBase):
    default_page_size = 250

    def request(self, method: str, path: str, *, idempotency_key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"X-Shopify-Access-Token": self.credentials.access_token, "Accept": "application/json"}
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        response = send(self.http, method, self.url(f"/admin/api/{API_VERSION}{path}"), headers=headers, **kwargs)
        self.raise_for_refusal(response)
        return response

    @staticmethod
    def raise_for_refusal(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        detail = response.text[:200]
        if response.status_code == 401:
            raise CredentialsRejected("http_401", detail, status=401)
        raise PlatformError(f"http_{response.status_code}", detail, retryable=False, status=response.status_code)

    def list_modified(self, start: datetime, end: datetime, page: str | None = None) -> OrderPage:
        if page:
            params: dict[str, Any] = {"limit": self.page_size, "page_info": page}
        else:
            params = {"status": "any", "updated_at_min": iso(start), "updated_at_max": iso(end),
                      "limit": self.page_size}
        response = self.request("GET", "/orders.json", params=params)
        orders = read_json(response).get("orders", [])
        return OrderPage(orders=orders, next_page=next_page_info(response.headers.get("Link", "")))

    def fetch_order(self, channel_order_id: str) -> dict[str, Any]:
        order = read_json(self.request("GET", f"/orders/{channel_order_id}.json")).get("order")
        if not isinstance(order, dict):
            raise PlatformError("bad_response", "orders/{id}.json without an order", retryable=True)
        return order

    def ship(self, *, channel_order_id: str, carrier_code: str, waybill_no: str, idempotency_key: str) -> None:
        company = carrier_for(CARRIER_CODES, carrier_code, self.channel)
        listed = read_json(self.request("GET", f"/orders/{channel_order_id}/fulfillment_orders.json"))
        open_ones = [{"fulfillment_order_id": fo["id"]} for fo in listed.get("fulfillment_orders", [])
                     if fo.get("status") in ("open", "in_progress")]
        if not open_ones:
            # A retry after a lost answer: the fulfillment with this waybill exists already.
            fulfillments = self.fetch_order(channel_order_id).get("fulfillments") or []
            if any(each.get("tracking_number") == waybill_no for each in fulfillments):
                return
            raise PlatformError("shopify.nothing_to_fulfil", f"order {channel_order_id} has no open fulfillment order")
        self.request("POST", "/fulfillments.json", idempotency_key=idempotency_key, json={"fulfillment": {
            "line_items_by_fulfillment_order": open_ones, "notify_customer": False,
            "tracking_info": {"company": company, "number": waybill_no},
        }})

    def update_stock(self, *, platform_sku: str, quantity: int, idempotency_key: str) -> None:
        variant = read_json(self.request("GET", f"/variants/{platform_sku}.json")).get("variant", {})
        locations = read_json(self.request("GET", "/locations.json")).get("locations", [])
        active = [location["id"] for location in locations if location.get("active")]
        if not active:
            raise PlatformError("shopify.no_location", "the shop has no active location")
        self.request("POST", "/inventory_levels/set.json", idempotency_key=idempotency_key, json={
            "location_id": active[0], "inventory_item_id": variant["inventory_item_id"], "available": quantity,
        })


def next_page_info(link: str) -> str | None:
    found = _NEXT_LINK.search(link)
    if not found:
        return None
    values = parse_qs(urlsplit(found.group(1)).query).get("page_info")
    return values[0] if values else None


def parse_push(credentials: ShopCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> list[PushItem]:
    if not signing.verify_shopify_webhook(credentials.app_secret, body, header(headers, "X-Shopify-Hmac-Sha256")):
        raise InvalidSignature("X-Shopify-Hmac-Sha256 does not match")
    topic = header(headers, "X-Shopify-Topic")
    message_id = header(headers, "X-Shopify-Webhook-Id")
    payload = load_push_json(body)
    if topic in ORDER_TOPICS:
        updated = payload.get("updated_at")
        return [PushItem(channel_order_id=str(payload["id"]), order=payload, message_id=message_id,
                         modified_at=parse_iso(updated) if updated else None)]
    if topic.startswith("refunds/"):
        return [PushItem(channel_order_id=str(payload["order_id"]), order=None, message_id=message_id,
                         modified_at=None)]
    return []
