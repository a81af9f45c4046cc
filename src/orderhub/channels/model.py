"""Shops: one storefront of the merchant on one channel."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orderhub.core.db import Base, BigId, JsonDoc, UTCDateTime


class Channel(StrEnum):
    TAOBAO = "taobao"
    TMALL = "tmall"
    JD = "jd"
    PDD = "pdd"
    DOUYIN = "douyin"
    KUAISHOU = "kuaishou"
    SHOPIFY = "shopify"
    MINIPROGRAM = "miniprogram"
    POS = "pos"
    PHONE = "phone"
    MANUAL = "manual"


CHANNEL_LABELS_ZH = {
    Channel.TAOBAO: "淘宝",
    Channel.TMALL: "天猫",
    Channel.JD: "京东",
    Channel.PDD: "拼多多",
    Channel.DOUYIN: "抖音",
    Channel.KUAISHOU: "快手",
    Channel.SHOPIFY: "独立站",
    Channel.MINIPROGRAM: "小程序",
    Channel.POS: "门店POS",
    Channel.PHONE: "电话",
    Channel.MANUAL: "手工",
}


class Shop(Base):
    __tablename__ = "shop"
    __table_args__ = (UniqueConstraint("channel", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    # Bonded/cross-border shops must carry the buyer's resident ID (customs clearance).
    cross_border: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Platform credentials; the secret and token are stored encrypted (core.secrets).
    app_key: Mapped[str] = mapped_column(String(128), default="")
    app_secret_encrypted: Mapped[str] = mapped_column(Text, default="")
    access_token_encrypted: Mapped[str] = mapped_column(Text, default="")
    api_base_url: Mapped[str] = mapped_column(String(255), default="")
    credentials_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    pull_enabled: Mapped[bool] = mapped_column(default=False)
    # Big sales: pull every 5 minutes instead of every 15.
    promotion_mode: Mapped[bool] = mapped_column(default=False)


class PullCursor(Base):
    """How far a shop's incremental pull has read the platform's modified-time axis."""

    __tablename__ = "pull_cursor"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), primary_key=True)
    modified_until: Mapped[datetime] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)


# Dead-letter statuses. A letter is open until replayed or discarded; pushes whose signature failed
# are rejected: kept for audit, never replayable (nobody vouches for them).
OPEN = "open"
REPLAYED = "replayed"
DISCARDED = "discarded"
REJECTED = "rejected"


class DeadLetter(Base):
    """A payload that could not become an order, kept with its reason until replayed or discarded."""

    __tablename__ = "dead_letter"
    __table_args__ = (Index("ix_dead_letter_status_received", "status", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shop.id"), default=None)
    source: Mapped[str] = mapped_column(String(16))  # pull, push, import, backfill, replay
    reason_code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    channel_order_id: Mapped[str] = mapped_column(String(64), default="")
    raw_body: Mapped[str] = mapped_column(Text)  # exactly as it arrived, never edited
    # The last body a person corrected and replayed (the re-map); replays start from it.
    corrected_body: Mapped[str | None] = mapped_column(Text, default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    order_no: Mapped[str | None] = mapped_column(String(32), default=None)
    attempts: Mapped[int] = mapped_column(default=0)


class DeadLetterAction(Base):
    """The audit trail of what people did with a dead letter."""

    __tablename__ = "dead_letter_action"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dead_letter_id: Mapped[int] = mapped_column(ForeignKey("dead_letter.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # replay, remap, discard
    outcome: Mapped[str] = mapped_column(String(500))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, default=None)


class ChannelCall(Base):
    """One exchange with a platform (a pull page, a push received, a write-back): channel health."""

    __tablename__ = "channel_call"
    __table_args__ = (Index("ix_channel_call_shop_at", "shop_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    kind: Mapped[str] = mapped_column(String(16))  # pull, push, fetch, writeback, decrypt
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    ok: Mapped[bool]
    error_code: Mapped[str] = mapped_column(String(64), default="")
    latency_ms: Mapped[int] = mapped_column(default=0)


class InboundMessage(Base):
    """Push deliveries already taken, by the platform's delivery id: a replayed push is ignored."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("shop_id", "message_id"),
        Index("ix_inbound_message_fetch_pending", "fetch_pending", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    message_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel_order_id: Mapped[str] = mapped_column(String(64), default="")
    # A notice that carried no order (Douyin, Taobao TMC…): the worker fetches the order, then clears it.
    fetch_pending: Mapped[bool] = mapped_column(default=False)
    fetch_attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
