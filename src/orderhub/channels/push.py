"""Pushes from platforms: verify the platform's own signature, drop replayed deliveries, ingest.

A push that carries the whole order is ingested at once; a notice that only names an order is
recorded for the worker to fetch (nothing is sent to a platform from inside a request). A push
whose signature fails is refused (401), counted in the shop's health and kept for audit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from orderhub.channels import service as shops
from orderhub.channels.errors import PushRejected, ShopNotConnected
from orderhub.channels.ingest import DEAD_LETTERED, Incoming, ingest_batch
from orderhub.channels.model import REJECTED, ChannelCall, DeadLetter, InboundMessage
from orderhub.channels.platforms.base import (
    InvalidSignature,
    MalformedPush,
    PushItem,
    ShopCredentials,
    parse_push,
)
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, add_rows, insert_ignoring_conflicts
from orderhub.core.errors import OrderHubError
from orderhub.core.secrets import SecretBox
from orderhub.orders.intake import ShopRef
from orderhub.orders.service import OrderPolicy


@dataclass
class PushReceipt:
    accepted: int = 0
    duplicates: int = 0
    to_fetch: int = 0
    results: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PushRequest:
    channel: str
    shop_code: str
    headers: Mapping[str, str]
    body: bytes


def receive_push(
    uow: UnitOfWork, *, channel: str, shop_code: str, headers: Mapping[str, str], body: bytes, box: SecretBox,
    policy: OrderPolicy,
) -> PushReceipt:
    (result,) = receive_pushes(uow, requests=[PushRequest(channel, shop_code, headers, body)], box=box, policy=policy)
    if isinstance(result, OrderHubError):
        raise result
    return result


def receive_pushes(
    uow: UnitOfWork, *, requests: Sequence[PushRequest], box: SecretBox, policy: OrderPolicy
) -> list[PushReceipt | OrderHubError]:
    """Several pushes in one transaction (group commit under load); one receipt or error per request.

    A refused push (unknown shop, bad signature) is refused alone; the others still go through.
    """
    results: list[PushReceipt | OrderHubError] = []
    with uow:
        session = uow.session
        now = uow.now()
        # Each shop is read, and its secret decrypted, once per batch: a rotation applies from the next batch.
        shops_by_key: dict[tuple[str, str], tuple[ShopRef, ShopCredentials] | OrderHubError] = {}
        calls: list[dict[str, Any]] = []  # channel_call rows (health), written together
        accepted: dict[int, tuple[ShopRef, list[tuple[int, PushItem]]]] = {}
        for index, request in enumerate(requests):
            key = (request.channel, request.shop_code)
            if key not in shops_by_key:
                shops_by_key[key] = _connected_shop(session, *key, box=box)
            found = shops_by_key[key]
            if isinstance(found, OrderHubError):
                results.append(found)
                continue
            shop, credentials = found
            try:
                items = parse_push(shop.channel, credentials, request.headers, request.body, now)
            except InvalidSignature as exc:
                calls.append(_call(shop.id, now, "signature"))
                session.add(DeadLetter(channel=shop.channel, shop_id=shop.id, source="push", reason_code="signature",
                                       reason=f"signature did not verify: {exc}"[:4000], raw_body=_text(request),
                                       received_at=now, status=REJECTED))
                results.append(PushRejected("the push signature does not verify / 推送签名校验失败"))
                continue
            except MalformedPush as exc:
                calls.append(_call(shop.id, now, "malformed"))
                session.add(DeadLetter(channel=shop.channel, shop_id=shop.id, source="push", reason_code="payload",
                                       reason=str(exc)[:4000], raw_body=_text(request), received_at=now))
                results.append(PushReceipt(results={DEAD_LETTERED: 1}))
                continue
            calls.append(_call(shop.id, now))
            accepted.setdefault(shop.id, (shop, []))[1].extend((index, item) for item in items)
            results.append(PushReceipt())
        fresh = _record_deliveries(session, calls, [(shop.id, item) for shop, indexed in accepted.values()
                                                    for _, item in indexed], now)
        for shop, indexed in accepted.values():
            full = [(index, item) for index, item in indexed if id(item) in fresh and item.order is not None]
            # The order's text is written only if it becomes a dead letter (`Incoming.text`).
            outcomes = ingest_batch(
                session, shop=shop, policy=policy, actor=Actor(shop.channel, "channel"), at=now,
                items=[Incoming(raw="", source="push", payload=item.order) for _, item in full],
            ) if full else []
            for index, item in indexed:
                receipt = results[index]
                assert isinstance(receipt, PushReceipt)
                if id(item) not in fresh:
                    receipt.duplicates += 1
                    continue
                receipt.accepted += 1
                if item.order is None:
                    receipt.to_fetch += 1
            for (index, _), outcome in zip(full, outcomes, strict=True):
                receipt = results[index]
                assert isinstance(receipt, PushReceipt)
                receipt.results[outcome.result] = receipt.results.get(outcome.result, 0) + 1
        uow.commit()
    return results


def _text(request: PushRequest) -> str:
    return request.body.decode("utf-8", errors="replace")


def _call(shop_id: int, at: datetime, error_code: str = "") -> dict[str, Any]:
    return {"shop_id": shop_id, "kind": "push", "at": at, "ok": not error_code, "error_code": error_code,
            "latency_ms": 0}


def _connected_shop(
    session: Session, channel: str, code: str, *, box: SecretBox
) -> tuple[ShopRef, ShopCredentials] | OrderHubError:
    try:
        shop = shops.connection_row(session, channel=channel, code=code)
    except OrderHubError as exc:
        return exc
    if not shop.app_key:
        return ShopNotConnected(f"shop {channel}/{code} has no platform credentials / 店铺未配置平台凭证")
    return ShopRef(shop.id, shop.channel, shop.code, shop.cross_border), shops.credentials_of(shop, box)


# A batch's health rows and dedup rows in one statement of fixed text (PostgreSQL): the calls as one JSON
# document, the deliveries as arrays, not one VALUES row per push. The statement is the batch's first write,
# and the one that decides which deliveries are new.
_RECORD_DELIVERIES = text(
    "WITH calls AS (INSERT INTO channel_call (shop_id, kind, at, ok, error_code, latency_ms) "
    "SELECT shop_id, kind, at, ok, error_code, latency_ms FROM json_populate_recordset(NULL::channel_call, :calls)) "
    "INSERT INTO inbound_message (shop_id, message_id, received_at, channel_order_id, fetch_pending, fetch_attempts) "
    "SELECT shop_id, message_id, :received_at, channel_order_id, fetch_pending, 0 "
    "FROM unnest(CAST(:shop_ids AS bigint[]), CAST(:message_ids AS varchar[]), CAST(:order_ids AS varchar[]), "
    "CAST(:pending AS boolean[])) AS delivery (shop_id, message_id, channel_order_id, fetch_pending) "
    "ON CONFLICT DO NOTHING RETURNING shop_id, message_id"
)


def _record_deliveries(
    session: Session, calls: list[dict[str, Any]], deliveries: list[tuple[int, PushItem]], now: datetime
) -> set[int]:
    """Record the batch's `channel_call` rows (health) and its deliveries; `id()`s of the items whose delivery
    id their shop has not seen. Recording them is the dedup: INSERT … ON CONFLICT DO NOTHING RETURNING, so
    the database decides races.
    """
    first: dict[tuple[int, str], PushItem] = {}
    for shop_id, item in deliveries:
        first.setdefault((shop_id, item.message_id[:128]), item)
    if not calls and not first:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        taken = {(shop_id, message_id) for shop_id, message_id in session.connection().execute(_RECORD_DELIVERIES, {
            "calls": orjson.dumps(calls).decode(), "received_at": now,
            "shop_ids": [shop_id for shop_id, _ in first], "message_ids": [message_id for _, message_id in first],
            "order_ids": [item.channel_order_id[:64] for item in first.values()],
            "pending": [item.order is None for item in first.values()],
        })}
    else:
        add_rows(session, ChannelCall.__table__, calls)
        rows: list[dict[str, Any]] = [
            {"shop_id": shop_id, "message_id": message_id, "received_at": now,
             "channel_order_id": item.channel_order_id[:64], "fetch_pending": item.order is None, "fetch_attempts": 0,
             "last_error": None}
            for (shop_id, message_id), item in first.items()
        ]
        table = InboundMessage.__table__
        statement = insert_ignoring_conflicts(session, table).returning(table.c.shop_id, table.c.message_id)
        taken = {(shop_id, message_id) for shop_id, message_id in session.execute(statement, rows)} if rows else set()
    return {id(item) for key, item in first.items() if key in taken}
