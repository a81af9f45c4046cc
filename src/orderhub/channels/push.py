"""Pushes from platforms: verify the platform's own signature, drop replayed deliveries, ingest.

A push that carries the whole order is ingested at once; a notice that only names an order is
recorded for the worker to fetch (nothing is sent to a platform from inside a request). A push
whose signature fails is refused (401), counted in the shop's health and kept for audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from orderhub.channels import service as shops
from orderhub.channels.errors import PushRejected, ShopNotConnected
from orderhub.channels.ingest import Incoming, Tally, ingest_batch, raw_text, shop_ref
from orderhub.channels.model import ChannelCall, DeadLetter, InboundMessage
from orderhub.channels.platforms.base import InvalidSignature, MalformedPush, PushItem, parse_push
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, insert_ignoring_conflicts
from orderhub.core.secrets import SecretBox
from orderhub.orders.service import OrderPolicy

REJECTED = "rejected"  # dead-letter status of unsigned pushes: audit only, never replayable


@dataclass
class PushReceipt:
    accepted: int = 0
    duplicates: int = 0
    to_fetch: int = 0
    results: dict[str, int] = field(default_factory=dict)


def receive_push(
    uow: UnitOfWork, *, channel: str, shop_code: str, headers: Mapping[str, str], body: bytes, box: SecretBox,
    policy: OrderPolicy,
) -> PushReceipt:
    text = body.decode("utf-8", errors="replace")
    with uow:
        session = uow.session
        shop = shops.get_shop(session, channel=channel, code=shop_code)
        if not shop.app_key:
            raise ShopNotConnected(f"shop {channel}/{shop_code} has no platform credentials / 店铺未配置平台凭证")
        now = uow.now()
        try:
            items = parse_push(channel, shops.credentials_of(shop, box), headers, body, now)
        except InvalidSignature as exc:
            session.add(ChannelCall(shop_id=shop.id, kind="push", at=now, ok=False, error_code="signature"))
            session.add(DeadLetter(channel=channel, shop_id=shop.id, source="push", reason_code="signature",
                                   reason=f"signature did not verify: {exc}"[:4000], raw_body=text, received_at=now,
                                   status=REJECTED))
            uow.commit()
            raise PushRejected("the push signature does not verify / 推送签名校验失败") from exc
        except MalformedPush as exc:
            session.add(ChannelCall(shop_id=shop.id, kind="push", at=now, ok=False, error_code="malformed"))
            session.add(DeadLetter(channel=channel, shop_id=shop.id, source="push", reason_code="payload",
                                   reason=str(exc)[:4000], raw_body=text, received_at=now))
            uow.commit()
            return PushReceipt(results={"dead_lettered": 1})
        receipt = PushReceipt()
        fresh = _first_deliveries(uow, shop.id, items)
        receipt.duplicates = len(items) - len(fresh)
        full = [item for item in fresh if item.order is not None]
        if full:
            outcomes = ingest_batch(
                session, shop=shop_ref(shop), policy=policy, actor=Actor(channel, "channel"), at=now,
                items=[Incoming(raw=raw_text(item.order), source="push", payload=item.order) for item in full],
            )
            receipt.results = dict(Tally.of(outcomes).counts)
        receipt.accepted = len(fresh)
        receipt.to_fetch = len(fresh) - len(full)
        session.add(ChannelCall(shop_id=shop.id, kind="push", at=now, ok=True))
        uow.commit()
        return receipt


def _first_deliveries(uow: UnitOfWork, shop_id: int, items: list[PushItem]) -> list[PushItem]:
    """The items whose delivery id this shop has not seen; recording them is the dedup (race-safe)."""
    session = uow.session
    fresh: list[PushItem] = []
    seen: set[str] = set()
    for item in items:
        if item.message_id in seen:
            continue
        seen.add(item.message_id)
        row: dict[str, Any] = {
            "shop_id": shop_id, "message_id": item.message_id[:128], "received_at": uow.now(),
            "channel_order_id": item.channel_order_id[:64], "fetch_pending": item.order is None,
            "fetch_attempts": 0, "last_error": None,
        }
        inserted = session.execute(
            insert_ignoring_conflicts(session, InboundMessage.__table__).returning(InboundMessage.__table__.c.id),
            row,
        ).first()
        if inserted is not None:
            fresh.append(item)
    return fresh


def pending_fetches(uow: UnitOfWork, *, shop_id: int, limit: int) -> list[InboundMessage]:
    with uow:
        return list(uow.session.scalars(
            select(InboundMessage).where(InboundMessage.shop_id == shop_id, InboundMessage.fetch_pending.is_(True))
            .order_by(InboundMessage.id).limit(limit)
        ))
