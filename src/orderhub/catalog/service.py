"""Catalog use cases."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.catalog.errors import DuplicateSku, UnknownSku
from orderhub.catalog.model import PlatformSkuMapping, Sku
from orderhub.core.db import UnitOfWork


def create_sku(
    uow: UnitOfWork,
    *,
    code: str,
    title: str,
    spec: str = "",
    weight_g: int = 0,
    cost_price_fen: int = 0,
    list_price_fen: int = 0,
) -> Sku:
    with uow:
        if uow.session.scalar(select(Sku.id).where(Sku.code == code)) is not None:
            raise DuplicateSku(f"SKU {code} already exists / 商品编码 {code} 已存在")
        sku = Sku(
            code=code,
            title=title,
            spec=spec,
            weight_g=weight_g,
            cost_price_fen=cost_price_fen,
            list_price_fen=list_price_fen,
            created_at=uow.now(),
        )
        uow.session.add(sku)
        uow.commit()
        return sku


def skus_by_code(session: Session, codes: Iterable[str]) -> dict[str, Sku]:
    """The active SKUs among `codes`, keyed by code (unknown codes are simply absent)."""
    wanted = set(codes)
    if not wanted:
        return {}
    rows = session.scalars(select(Sku).where(Sku.code.in_(wanted), Sku.active.is_(True)))
    return {sku.code: sku for sku in rows}


def list_skus(session: Session) -> list[Sku]:
    return list(session.scalars(select(Sku).where(Sku.active.is_(True)).order_by(Sku.code)))


def map_platform_sku(uow: UnitOfWork, *, channel: str, platform_sku: str, sku_code: str) -> PlatformSkuMapping:
    """Say which merchant SKU a platform's SKU id stands for (replacing an earlier mapping)."""
    with uow:
        if uow.session.scalar(select(Sku.id).where(Sku.code == sku_code)) is None:
            raise UnknownSku(f"unknown SKU {sku_code} / 商品编码 {sku_code} 不存在")
        mapping = uow.session.scalar(
            select(PlatformSkuMapping).where(
                PlatformSkuMapping.channel == channel, PlatformSkuMapping.platform_sku == platform_sku
            )
        )
        if mapping is None:
            mapping = PlatformSkuMapping(channel=channel, platform_sku=platform_sku, created_at=uow.now())
            uow.session.add(mapping)
        mapping.sku_code = sku_code
        uow.commit()
        return mapping


def resolve_platform_skus(
    session: Session, channel: str, lines: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Merchant SKU codes for (merchant code as the platform sent it, platform SKU id) pairs.

    A mapping of the platform SKU wins (platforms let codes go stale); else a merchant code that is a
    known SKU. Pairs that resolve to nothing are absent: the order goes on hold for a person.
    """
    pairs = set(lines)
    platform_skus = {platform_sku for _, platform_sku in pairs if platform_sku}
    mapped: dict[str, str] = {}
    if platform_skus:
        rows = session.execute(
            select(PlatformSkuMapping.platform_sku, PlatformSkuMapping.sku_code).where(
                PlatformSkuMapping.channel == channel, PlatformSkuMapping.platform_sku.in_(platform_skus)
            )
        )
        mapped = {platform_sku: sku_code for platform_sku, sku_code in rows}
    known = set(skus_by_code(session, (code for code, _ in pairs if code)))
    resolved: dict[tuple[str, str], str] = {}
    for code, platform_sku in pairs:
        if platform_sku in mapped:
            resolved[(code, platform_sku)] = mapped[platform_sku]
        elif code in known:
            resolved[(code, platform_sku)] = code
    return resolved
