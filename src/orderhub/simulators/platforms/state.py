"""The simulators' world: shops and their orders, lifecycles, write-backs, pushes and faults.

Plain Python guarded by one re-entrant lock, shared by the HTTP handlers (uvicorn's threads), the
caller that advances time and the loop that delivers pushes. No lock is held during an outgoing
HTTP call: the receiver may call back into the simulator while it handles a push.
"""

from __future__ import annotations

import copy
import hashlib
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import httpx

from orderhub.simulators.platforms import douyin, jd, kuaishou, miniprogram, pdd, reference, shopify, taobao
from orderhub.simulators.platforms import generator as orders_generator
from orderhub.simulators.platforms.model import (
    Change,
    Faults,
    Order,
    OutgoingPush,
    PushDelivery,
    PushEvent,
    ShipOutcome,
    SimulatedShop,
    Stage,
    WriteBack,
    cipher_text,
)

PLATFORMS: dict[str, ModuleType] = {
    "taobao": taobao, "tmall": taobao, "jd": jd, "pdd": pdd, "douyin": douyin, "kuaishou": kuaishou,
    "shopify": shopify, "miniprogram": miniprogram,
}
# Channels whose contact data is encrypted, with plaintext behind a decrypt API.
ENCRYPTED_PII = {"douyin", "kuaishou"}
PUSH_PATH = "/api/v1/channels/{channel}/{shop}/push"


def _hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(length * 4):0{length}x}"


class SimulatorState:
    def __init__(self, sku_codes: list[str], *, seed: int = 2026,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.sku_codes = list(sku_codes)
        self.seed = seed
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.shops: dict[tuple[str, str], SimulatedShop] = {}

    def now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    # --- shops -----------------------------------------------------------------------------------

    def add_shop(self, channel: str, code: str, *, orders: int = 0, since: datetime | None = None,
                 until: datetime | None = None, app_key: str | None = None, app_secret: str | None = None,
                 access_token: str | None = None) -> SimulatedShop:
        """A shop with `orders` orders created between `since` and `until` (default: the last 3 days)."""
        if channel not in PLATFORMS:
            raise ValueError(f"no simulator for channel {channel!r}")
        digest = hashlib.sha256(f"{self.seed}/{channel}/{code}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8]))  # noqa: S311 - simulated data, not secrets
        fault_rng = random.Random(int.from_bytes(digest[8:16]))  # noqa: S311
        shop = SimulatedShop(
            channel=channel, code=code, app_key=app_key or str(rng.randint(10**7, 10**8 - 1)),
            app_secret=app_secret or _hex(rng, 32), access_token=access_token or _hex(rng, 40),
            platform_shop_id=rng.randint(10**7, 10**9), seller_nick=f"{code}旗舰店", rng=rng, fault_rng=fault_rng,
        )
        with self.lock:
            if (channel, code) in self.shops:
                raise ValueError(f"shop {channel}/{code} exists already")
            self.shops[(channel, code)] = shop
            if orders:
                until = until or self.now()
                self.generate_orders(channel, code, orders, since=since or until - timedelta(days=3), until=until)
        return shop

    def shop(self, channel: str, code: str) -> SimulatedShop:
        try:
            return self.shops[(channel, code)]
        except KeyError:
            raise KeyError(f"no simulated shop {channel}/{code}") from None

    def shops_with_app_key(self, channel: str, app_key: str) -> list[SimulatedShop]:
        with self.lock:
            return [shop for (ch, _), shop in self.shops.items() if ch == channel and shop.app_key == app_key]

    def shop_with_token(self, channel: str, token: str) -> SimulatedShop | None:
        with self.lock:
            return next((shop for (ch, _), shop in self.shops.items()
                         if ch == channel and token and shop.access_token == token), None)

    def rotate_secret(self, channel: str, code: str) -> SimulatedShop:
        """A new app secret; the old one is refused from now on. Shopify re-issues the access token too."""
        with self.lock:
            shop = self.shop(channel, code)
            shop.retired_secrets.append(shop.app_secret)
            renewal = hashlib.sha256(f"{self.seed}/{channel}/{code}/{len(shop.retired_secrets)}".encode()).hexdigest()
            shop.app_secret = renewal[:32]
            if channel == "shopify":
                shop.access_token = renewal[24:64]
            return shop

    def set_faults(self, channel: str, code: str, **changes: Any) -> Faults:
        known = {f.name for f in fields(Faults)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
        with self.lock:
            shop = self.shop(channel, code)
            shop.faults = replace(shop.faults, **changes)
            return shop.faults

    def draw_fault(self, shop: SimulatedShop) -> str | None:
        """Count an API call and decide its fault: "error", "rate_limited", "timeout" or None."""
        with self.lock:
            shop.api_calls += 1
            faults = shop.faults
            for name, rate in (("error", faults.error_rate), ("rate_limited", faults.rate_limit_rate),
                               ("timeout", faults.timeout_rate)):
                if rate and shop.fault_rng.random() < rate:
                    return name
            return None

    # --- orders ----------------------------------------------------------------------------------

    def generate_orders(self, channel: str, code: str, count: int, *, since: datetime, until: datetime,
                        push: bool = False) -> list[Order]:
        """`count` orders created between `since` and `until`; with `push`, each is queued for delivery."""
        with self.lock:
            shop = self.shop(channel, code)
            span = (until - since).total_seconds()
            made = []
            for _ in range(count):
                created = since + timedelta(seconds=shop.rng.uniform(0, span * 0.98))
                order = orders_generator.generate_order(shop, self.sku_codes, created, until)
                self._register(shop, order)
                if push:
                    self._record(shop, order, Change.CREATED if order.stage is Stage.PENDING_PAYMENT else Change.PAID,
                                 bump=False)
                made.append(order)
            return made

    def _register(self, shop: SimulatedShop, order: Order) -> None:
        shop.orders[order.order_id] = order
        if shop.channel in ENCRYPTED_PII:
            for field_name, plain in (("name", order.receiver.name), ("phone", order.receiver.phone),
                                      ("detail", order.receiver.detail)):
                shop.ciphers[cipher_text(shop, order.order_id, field_name)] = plain

    def order(self, shop: SimulatedShop, order_id: str) -> Order | None:
        with self.lock:
            return shop.orders.get(order_id)

    def orders_modified(self, shop: SimulatedShop, start: datetime, end: datetime) -> list[Order]:
        """Orders whose platform-modified time is in `[start, end)`, oldest first (ties by id)."""
        with self.lock:
            found = [order for order in shop.orders.values() if start <= order.modified_at < end]
        return sorted(found, key=lambda order: (order.modified_at, order.order_id))

    def render(self, shop: SimulatedShop, order: Order) -> dict[str, Any]:
        with self.lock:
            rendered: dict[str, Any] = PLATFORMS[shop.channel].render(shop, order)
            return rendered

    def decrypt(self, shop: SimulatedShop, cipher_text: str) -> str | None:
        with self.lock:
            return shop.ciphers.get(cipher_text)

    # --- write-backs -----------------------------------------------------------------------------

    def ship(self, shop: SimulatedShop, order_id: str, *, carrier_code: str, waybill_no: str,
             idempotency_key: str, raw: dict[str, Any]) -> ShipOutcome:
        """Record a shipment written back by the merchant; a repeat is acknowledged and recorded once."""
        with self.lock:
            if idempotency_key and idempotency_key in shop.idempotency_keys:
                return ShipOutcome.REPEAT
            order = shop.orders.get(order_id)
            if order is None:
                return ShipOutcome.NOT_FOUND
            if order.stage is not Stage.PAID:
                same = order.stage is Stage.SHIPPED and order.waybill_no == waybill_no
                return ShipOutcome.REPEAT if same else ShipOutcome.NOT_SHIPPABLE
            now = self.now()
            order.stage, order.shipped_at, order.modified_at = Stage.SHIPPED, now, now
            order.carrier_code, order.waybill_no = carrier_code, waybill_no
            self._record(shop, order, Change.SHIPPED)
            self._write_back(shop, "ship", idempotency_key, {"order_id": order_id, "carrier_code": carrier_code,
                                                             "waybill_no": waybill_no, **raw})
            return ShipOutcome.RECORDED

    def update_stock(self, shop: SimulatedShop, platform_sku_id: int, quantity: int, *, idempotency_key: str,
                     raw: dict[str, Any]) -> bool:
        """Set a SKU's stock; False when the platform has no such SKU. A repeated key is recorded once."""
        with self.lock:
            if shop.listing_by_platform_sku(platform_sku_id) is None:
                return False
            if idempotency_key and idempotency_key in shop.idempotency_keys:
                return True
            shop.stock[platform_sku_id] = quantity
            self._write_back(shop, "stock", idempotency_key,
                             {"platform_sku": str(platform_sku_id), "quantity": quantity, **raw})
            return True

    def _write_back(self, shop: SimulatedShop, kind: str, key: str, detail: dict[str, Any]) -> None:
        if key:
            shop.idempotency_keys.add(key)
        shop.write_backs.append(WriteBack(kind=kind, idempotency_key=key, at=self.now(), detail=detail))

    # --- lifecycle -------------------------------------------------------------------------------

    def advance(self, now: datetime | None = None, *, new_orders: int = 0) -> list[PushEvent]:
        """Move some orders along (paid → shipped → finished, some cancelled or refunded) as of `now`."""
        now = (now or self.now()).astimezone(UTC).replace(microsecond=0)
        events: list[PushEvent] = []
        with self.lock:
            for shop in self.shops.values():
                before = len(shop.pending)
                for order in list(shop.orders.values()):
                    if not order.stage.terminal and order.modified_at < now:
                        self._step(shop, order, now)
                if new_orders:
                    self.generate_orders(shop.channel, shop.code, new_orders, since=now - timedelta(minutes=2),
                                         until=now, push=True)
                events.extend(shop.pending[before:])
        return events

    def _step(self, shop: SimulatedShop, order: Order, now: datetime) -> None:
        roll = shop.rng.random()
        if order.stage is Stage.PENDING_PAYMENT:
            if roll < 0.5:
                order.stage, order.paid_at = Stage.PAID, now
                self._touch(shop, order, now, Change.PAID)
            elif roll < 0.6:
                order.stage, order.closed_at = Stage.CANCELLED, now
                self._touch(shop, order, now, Change.CANCELLED)
        elif order.stage is Stage.PAID:
            if roll < 0.4:
                order.carrier_code = shop.rng.choice(reference.CARRIERS)
                order.waybill_no = reference.waybill(order.carrier_code, shop.rng)
                order.stage, order.shipped_at = Stage.SHIPPED, now
                self._touch(shop, order, now, Change.SHIPPED)
            elif roll < 0.43:
                order.stage, order.closed_at = Stage.REFUNDED, now
                self._touch(shop, order, now, Change.REFUNDED)
            elif roll < 0.45:
                order.stage, order.closed_at = Stage.CANCELLED, now
                self._touch(shop, order, now, Change.CANCELLED)
        elif order.stage is Stage.SHIPPED:
            if roll < 0.3:
                order.stage, order.finished_at = Stage.FINISHED, now
                self._touch(shop, order, now, Change.FINISHED)
            elif roll < 0.32:
                order.stage, order.closed_at = Stage.REFUNDED, now
                self._touch(shop, order, now, Change.REFUNDED)

    def _touch(self, shop: SimulatedShop, order: Order, now: datetime, change: Change) -> None:
        order.modified_at = now
        self._record(shop, order, change)

    def _record(self, shop: SimulatedShop, order: Order, change: Change, *, bump: bool = True) -> None:
        if bump:
            order.version += 1
        event = PushEvent(order=copy.deepcopy(order), change=change,
                          message_id=self.message_id(shop, order.order_id, order.version))
        shop.pending.append(event)
        shop.history.setdefault(order.order_id, []).append(event)

    @staticmethod
    def message_id(shop: SimulatedShop, order_id: str, version: int, variant: str = "") -> str:
        """Stable per (order, version): a redelivery carries the same id. UUIDs for Shopify-style sites."""
        made = uuid.uuid5(uuid.NAMESPACE_URL, f"{shop.channel}/{shop.code}/{order_id}/{version}{variant}")
        return str(made) if shop.channel in ("shopify", "miniprogram") else str(made.int % 10**19)

    # --- pushes ----------------------------------------------------------------------------------

    def push_for_order(self, channel: str, code: str, order_id: str) -> OutgoingPush:
        """The push the platform would send now about the order's current state (nothing is queued)."""
        with self.lock:
            shop = self.shop(channel, code)
            order = shop.orders[order_id]
            change = {Stage.PENDING_PAYMENT: Change.CREATED, Stage.PAID: Change.PAID, Stage.SHIPPED: Change.SHIPPED,
                      Stage.FINISHED: Change.FINISHED, Stage.CANCELLED: Change.CANCELLED,
                      Stage.REFUNDED: Change.REFUNDED}[order.stage]
            event = PushEvent(order=copy.deepcopy(order), change=change,
                              message_id=self.message_id(shop, order_id, order.version))
            pushes: list[OutgoingPush] = PLATFORMS[channel].pushes(shop, [event], shop.app_secret)
            return pushes[0]

    def _with_push_faults(self, shop: SimulatedShop, events: list[PushEvent]) -> list[PushEvent]:
        """Out of order: each order's pending versions newest first, or else a late copy of its previous one."""
        if not shop.faults.out_of_order_pushes:
            return events
        by_order: dict[str, list[PushEvent]] = {}
        for event in events:
            by_order.setdefault(event.order.order_id, []).append(event)
        shuffled: list[PushEvent] = []
        for order_id, group in by_order.items():
            if len(group) > 1:
                shuffled.extend(reversed(group))
                continue
            shuffled.append(group[0])
            earlier = [e for e in shop.history.get(order_id, []) if e.order.version < group[0].order.version]
            if earlier:
                previous = earlier[-1]
                shuffled.append(replace(previous, late=True, message_id=self.message_id(
                    shop, order_id, previous.order.version, "/late")))
        return shuffled

    def push_pending(self, target_base_url: str, http: httpx.Client) -> list[PushDelivery]:
        """POST every queued change to OrderHub's push endpoint in the platform's format and signature.

        Deliveries that get no 2xx answer are queued again for the next call, as platforms retry.
        """
        work: list[tuple[SimulatedShop, list[OutgoingPush], int]] = []
        with self.lock:
            for shop in self.shops.values():
                events, shop.pending = shop.pending, []
                if not events:
                    continue
                secret = shop.app_secret + ("-wrong" if shop.faults.invalid_push_signature else "")
                outgoing = PLATFORMS[shop.channel].pushes(shop, self._with_push_faults(shop, events), secret)
                work.append((shop, outgoing, 2 if shop.faults.duplicate_pushes else 1))
        deliveries: list[PushDelivery] = []
        for shop, outgoing, times in work:
            url = target_base_url.rstrip("/") + PUSH_PATH.format(channel=shop.channel, shop=shop.code)
            for push in outgoing:
                answered = [self._deliver(http, url, shop, push) for _ in range(times)]
                deliveries.extend(answered)
                with self.lock:
                    shop.deliveries.extend(answered)
                    if not any(d.status is not None and 200 <= d.status < 300 for d in answered):
                        shop.pending.extend(event for event in push.events if not event.late)
        return deliveries

    @staticmethod
    def _deliver(http: httpx.Client, url: str, shop: SimulatedShop, push: OutgoingPush) -> PushDelivery:
        try:
            status: int | None = http.post(url, content=push.body, headers=push.headers).status_code
        except httpx.HTTPError:
            status = None
        return PushDelivery(channel=shop.channel, shop_code=shop.code,
                            message_ids=tuple(event.message_id for event in push.events), status=status,
                            body=push.body, headers=push.headers)
