"""SKUs: what the merchant sells, as its own codes (商家编码), and the kits/bundles (组合装) made of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orderhub.core.db import Base, BigId, UTCDateTime


class Sku(Base):
    __tablename__ = "sku"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    spec: Mapped[str] = mapped_column(String(100), default="")
    weight_g: Mapped[int] = mapped_column(default=0)
    cost_price_fen: Mapped[int] = mapped_column(default=0)
    list_price_fen: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    # A bundle holds no stock of its own: selling one reserves and ships its components.
    is_bundle: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SkuComponent(Base):
    """One component of a bundle: selling one bundle consumes `qty` of `component`."""

    __tablename__ = "sku_component"
    __table_args__ = (UniqueConstraint("bundle_id", "component_id"), CheckConstraint("qty > 0", name="qty_positive"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bundle_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    component_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    qty: Mapped[int]


class PlatformSkuMapping(Base):
    """A platform's SKU id (or an old merchant code) and the merchant SKU it stands for."""

    __tablename__ = "platform_sku_mapping"
    __table_args__ = (UniqueConstraint("channel", "platform_sku"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    platform_sku: Mapped[str] = mapped_column(String(64))
    sku_code: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
