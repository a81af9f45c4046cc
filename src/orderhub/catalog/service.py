"""Catalog use cases."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.catalog.errors import DuplicateSku
from orderhub.catalog.model import Sku
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
