"""Write-back to the platforms through the transactional outbox: shipments (carrier + waybill) and stock.

A request is an outbox row written in the same transaction as whatever caused it; the worker
delivers it to the shop's platform with an idempotency key (the row id), retrying with back-off
while the platform says retrying can help. The order's timeline shows each request, delivery and
failure, so a person sees at once why a platform still says "not shipped".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.channels import service as shops
from orderhub.channels.model import ChannelCall, Shop
from orderhub.channels.platforms import CLIENTS
from orderhub.channels.platforms.base import PlatformError, client_for
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork
from orderhub.core.outbox import OutboxEvent, add_event
from orderhub.orders import service as orders
from orderhub.runtime import Runtime

SHIP_TOPIC = "channel.writeback.ship"
STOCK_TOPIC = "channel.writeback.stock"
MAX_ATTEMPTS = 8
BATCH = 50
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 30 min."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 1800))


def request_shipment(uow: UnitOfWork, *, order_no: str, carrier_code: str, waybill_no: str, actor: Actor) -> int:
    """Ask the order's platform to mark it shipped with this carrier and waybill; returns the request id."""
    with uow:
        event = queue_shipment(uow.session, order_no=order_no, carrier_code=carrier_code, waybill_no=waybill_no,
                               actor=actor, at=uow.now())
        uow.session.flush()
        uow.commit()
        return event.id


def queue_shipment(session: Session, *, order_no: str, carrier_code: str, waybill_no: str, actor: Actor,
                   at: datetime) -> OutboxEvent:
    """The shipment write-back inside the caller's transaction (a ship scan)."""
    order = orders.get_order(session, order_no)
    shop = session.get(Shop, order.shop_id)
    assert shop is not None
    event = add_event(session, topic=SHIP_TOPIC, key=order.order_no, at=at, payload={
        "shop_id": shop.id, "channel_order_id": order.channel_order_id, "carrier_code": carrier_code,
        "waybill_no": waybill_no})
    orders.note_on_timeline(order, kind="writeback_requested", reason=f"回传发货：{carrier_code} {waybill_no}",
                            actor=actor, at=at)
    return event


def request_stock(uow: UnitOfWork, *, shop_id: int, platform_sku: str, quantity: int) -> int:
    """Ask a shop's platform to show this available quantity for one of its SKUs."""
    with uow:
        event = queue_stock(uow.session, shop_id=shop_id, platform_sku=platform_sku, quantity=quantity, at=uow.now())
        uow.session.flush()
        uow.commit()
        return event.id


def queue_stock(session: Session, *, shop_id: int, platform_sku: str, quantity: int, at: datetime) -> OutboxEvent:
    """The stock write-back inside the caller's transaction (the channel stock sync)."""
    return add_event(session, topic=STOCK_TOPIC, key=f"{shop_id}:{platform_sku}", at=at,
                     payload={"shop_id": shop_id, "platform_sku": platform_sku, "quantity": quantity})


def writes_shipments(channel: str) -> bool:
    """Whether the channel's platform is told of shipments (own POS, phone and manual shops have none to tell)."""
    return channel in CLIENTS


def writes_stock(channel: str) -> bool:
    """Whether the channel's platform takes stock quantities (own POS, phone and manual shops do not)."""
    return channel in CLIENTS


def _deliver(runtime: Runtime, http: httpx.Client, event: OutboxEvent, shop: Shop) -> None:
    client = client_for(shop.channel, shops.credentials_of(shop, runtime.secrets), http)
    payload: dict[str, Any] = event.payload
    key = f"orderhub-{event.id}"
    if event.topic == SHIP_TOPIC:
        client.ship(channel_order_id=payload["channel_order_id"], carrier_code=payload["carrier_code"],
                    waybill_no=payload["waybill_no"], idempotency_key=key)
    else:
        client.update_stock(platform_sku=payload["platform_sku"], quantity=int(payload["quantity"]),
                            idempotency_key=key)


def deliver_writebacks(runtime: Runtime) -> int:
    """Deliver due write-back requests; each claimed row stays locked (SKIP LOCKED) while it is sent."""
    delivered = 0
    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        for _ in range(BATCH):
            with runtime.uow() as uow:
                session = uow.session
                now = uow.now()
                event = session.scalar(
                    select(OutboxEvent)
                    .where(OutboxEvent.topic.in_((SHIP_TOPIC, STOCK_TOPIC)), OutboxEvent.published_at.is_(None),
                           OutboxEvent.failed_at.is_(None),
                           (OutboxEvent.next_attempt_at.is_(None)) | (OutboxEvent.next_attempt_at <= now))
                    .order_by(OutboxEvent.id).limit(1).with_for_update(skip_locked=True)
                )
                if event is None:
                    break
                shop = session.get(Shop, event.payload["shop_id"])
                assert shop is not None
                error: PlatformError | None = None
                try:
                    _deliver(runtime, http, event, shop)
                except PlatformError as exc:
                    error = exc
                event.attempts += 1
                session.add(ChannelCall(shop_id=shop.id, kind="writeback", at=now, ok=error is None,
                                        error_code=error.code[:64] if error else ""))
                if error is None:
                    event.published_at = now
                    event.last_error = None
                    delivered += 1
                else:
                    event.last_error = f"{error.code}: {error.message}"[:500]
                    if error.retryable and event.attempts < MAX_ATTEMPTS:
                        event.next_attempt_at = now + backoff(event.attempts)
                    else:
                        event.failed_at = now
                if event.topic == SHIP_TOPIC:
                    _note_on_order(session, event, error, now)
                uow.commit()
    return delivered


def _note_on_order(session: Any, event: OutboxEvent, error: PlatformError | None, now: Any) -> None:
    """The order's timeline says whether the platform took the shipment, and why not."""
    if error is not None and event.failed_at is None:
        return  # a retry is scheduled; only the outcome is worth a timeline row
    order = orders.get_order(session, event.key)
    if error is None:
        kind, reason = "writeback_done", f"平台已回传发货：{event.payload['waybill_no']}"
    else:
        kind, reason = "writeback_failed", f"回传发货失败（{event.attempts} 次）：{event.last_error}"
    orders.note_on_timeline(order, kind=kind, reason=reason, actor=Actor("worker", "worker"), at=now)
