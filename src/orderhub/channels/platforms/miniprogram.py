"""The merchant's own mini-program: the generic JSON contract in docs/channels/miniprogram.md.

Every request carries `Authorization: Bearer <access token>`, `X-OrderHub-App-Key`,
`X-OrderHub-Timestamp` (unix seconds) and `X-OrderHub-Signature` = hex HMAC-SHA256 with the app
secret of `f"{timestamp}.{METHOD} {path?query}\\n{body}"` (the path relative to the API root); the
backend refuses it outside a 5-minute window. Pushes sign `f"{timestamp}.{raw body}"` the same way.
Money is a yuan decimal string ("199.00"), times ISO 8601 with offset, the order id a string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

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
    header,
    load_push_json,
    read_json,
    require_utc,
    send,
)

API_ROOT = "/api/v1"


class MiniprogramClient(HttpClientBase):
    default_page_size = 100

    def request(self, method: str, target: str, body: Any = None, idempotency_key: str | None = None) -> Any:
        """`target` is the path with its query under the API root, exactly as signed and sent."""
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        timestamp = str(int(datetime.now(UTC).timestamp()))
        signed = signing.miniprogram_request_payload(method, API_ROOT + target, content)
        headers = {
            "Authorization": f"Bearer {self.credentials.access_token}", "X-OrderHub-App-Key": self.credentials.app_key,
            "X-OrderHub-Timestamp": timestamp,
            "X-OrderHub-Signature": signing.miniprogram_signature(self.credentials.app_secret, timestamp, signed),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        response = send(self.http, method, self.url(API_ROOT + target), content=content, headers=headers)
        raise_for_refusal(response)
        return read_json(response)

    def list_modified(self, start: datetime, end: datetime, page: str | None = None) -> OrderPage:
        query = {"updated_from": _iso(start), "updated_to": _iso(end), "limit": self.page_size}
        if page:
            query["cursor"] = page
        answer = self.request("GET", "/orders?" + urlencode(query))
        return OrderPage(orders=list(answer.get("items", [])), next_page=answer.get("next_cursor"))

    def fetch_order(self, channel_order_id: str) -> dict[str, Any]:
        order: dict[str, Any] = self.request("GET", f"/orders/{quote(channel_order_id, safe='')}")
        return order

    def ship(self, *, channel_order_id: str, carrier_code: str, waybill_no: str, idempotency_key: str) -> None:
        self.request("POST", f"/orders/{quote(channel_order_id, safe='')}/shipments",
                     {"carrier_code": carrier_code, "waybill_no": waybill_no}, idempotency_key)

    def update_stock(self, *, platform_sku: str, quantity: int, idempotency_key: str) -> None:
        self.request("PUT", f"/stock/{quote(platform_sku, safe='')}", {"quantity": quantity}, idempotency_key)


def _iso(value: datetime) -> str:
    return require_utc(value).replace(microsecond=0).isoformat()


def raise_for_refusal(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = json.loads(response.text).get("error", {})
    except (ValueError, AttributeError):
        error = {}
    code = str(error.get("code") or f"http_{response.status_code}")
    message = str(error.get("message") or response.text[:200])
    if response.status_code == 401:
        raise CredentialsRejected(code, message, status=401)
    raise PlatformError(code, message, retryable=False, status=response.status_code)


def parse_push(credentials: ShopCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> list[PushItem]:
    if not signing.verify_miniprogram(credentials.app_secret, header(headers, "X-OrderHub-Timestamp"),
                                      header(headers, "X-OrderHub-Signature"), body, now):
        raise InvalidSignature("X-OrderHub-Signature does not match or is outside the 5-minute window")
    event = load_push_json(body)
    order = event["order"]
    return [PushItem(channel_order_id=str(order["order_id"]), order=order, message_id=str(event["event_id"]),
                     modified_at=datetime.fromisoformat(order["updated_at"]).astimezone(UTC))]
