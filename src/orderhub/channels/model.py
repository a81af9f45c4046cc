"""Shops: one storefront of the merchant on one channel."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orderhub.core.db import Base, BigId, UTCDateTime


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
