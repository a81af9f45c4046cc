"""Shop use cases (adapters, pulls and pushes arrive with the channels issue)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.channels.errors import DuplicateShop, ShopNotFound, UnknownChannel
from orderhub.channels.model import Channel, Shop
from orderhub.core.db import UnitOfWork


def parse_channel(name: str) -> Channel:
    try:
        return Channel(name)
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise UnknownChannel(f"unknown channel {name!r}; known: {known} / 未知渠道 {name!r}") from None


def create_shop(uow: UnitOfWork, *, channel: Channel, code: str, name: str, cross_border: bool = False) -> Shop:
    with uow:
        exists = uow.session.scalar(select(Shop.id).where(Shop.channel == channel.value, Shop.code == code))
        if exists is not None:
            raise DuplicateShop(f"shop {channel.value}/{code} already exists / 店铺 {channel.value}/{code} 已存在")
        shop = Shop(
            channel=channel.value, code=code, name=name or code, cross_border=cross_border, created_at=uow.now()
        )
        uow.session.add(shop)
        uow.commit()
        return shop


def get_shop(session: Session, *, channel: str, code: str) -> Shop:
    shop = session.scalar(select(Shop).where(Shop.channel == channel, Shop.code == code))
    if shop is None:
        raise ShopNotFound(f"no shop {code!r} on channel {channel!r} / 渠道 {channel} 下没有店铺 {code}")
    return shop


def shop_ids_by_code(session: Session, code: str) -> list[int]:
    return list(session.scalars(select(Shop.id).where(Shop.code == code)))


def list_shops(session: Session) -> list[Shop]:
    return list(session.scalars(select(Shop).order_by(Shop.channel, Shop.code)))
