"""Shop use cases: shops and their platform credentials."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from orderhub.channels.errors import (
    DuplicateShop,
    InvalidCredentials,
    ShopNotConnected,
    ShopNotFound,
    UnknownChannel,
)
from orderhub.channels.model import Channel, Shop
from orderhub.channels.platforms.base import ShopCredentials
from orderhub.core.db import UnitOfWork
from orderhub.core.secrets import SecretBox


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


def shop_by_id(session: Session, shop_id: int) -> Shop | None:
    return session.get(Shop, shop_id)


def shop_ids_by_code(session: Session, code: str) -> list[int]:
    return list(session.scalars(select(Shop.id).where(Shop.code == code)))


def list_shops(session: Session) -> list[Shop]:
    return list(session.scalars(select(Shop).order_by(Shop.channel, Shop.code)))


def set_credentials(
    uow: UnitOfWork,
    *,
    channel: str,
    code: str,
    box: SecretBox,
    app_key: str,
    app_secret: str,
    access_token: str = "",
    api_base_url: str | None = None,
) -> Shop:
    """Store (or rotate) a shop's app key and secret, encrypted; takes effect on the next platform call."""
    if not app_key.strip() or not app_secret.strip():
        raise InvalidCredentials("app key and app secret are both required / 需要同时提供 app key 和 app secret")
    with uow:
        shop = get_shop(uow.session, channel=channel, code=code)
        shop.app_key = app_key.strip()
        shop.app_secret_encrypted = box.seal(app_secret.strip())
        shop.access_token_encrypted = box.seal(access_token.strip())
        if api_base_url is not None:
            shop.api_base_url = api_base_url.rstrip("/")
        shop.credentials_rotated_at = uow.now()
        uow.commit()
        return shop


class SealedCredentials(Protocol):
    """What `credentials_of` reads: a `Shop`, or a row of the shop table."""

    app_key: str
    app_secret_encrypted: str
    access_token_encrypted: str
    api_base_url: str


_SHOPS = Shop.__table__
# Built once: the push path runs it for every batch, and building the statement cost more than running it.
_CONNECTION_ROW = select(
    _SHOPS.c.id, _SHOPS.c.channel, _SHOPS.c.code, _SHOPS.c.cross_border, _SHOPS.c.app_key,
    _SHOPS.c.app_secret_encrypted, _SHOPS.c.access_token_encrypted, _SHOPS.c.api_base_url,
).where(_SHOPS.c.channel == bindparam("channel"), _SHOPS.c.code == bindparam("code"))


def connection_row(session: Session, *, channel: str, code: str) -> Row[Any]:
    """A shop's identity (id, channel, code, cross_border) and sealed credentials as a plain row: what
    the push path reads for every batch, where building the whole ORM object costs more than the query
    (a Core statement on the session's connection: no ORM objects, so none of its execution path)."""
    row = session.connection().execute(_CONNECTION_ROW, {"channel": channel, "code": code}).one_or_none()
    if row is None:
        raise ShopNotFound(f"no shop {code!r} on channel {channel!r} / 渠道 {channel} 下没有店铺 {code}")
    return row


def credentials_of(shop: SealedCredentials, box: SecretBox) -> ShopCredentials:
    """A shop's credentials in the clear, read fresh for each use: a rotation needs no restart."""
    return ShopCredentials(
        app_key=shop.app_key,
        app_secret=box.open(shop.app_secret_encrypted),
        access_token=box.open(shop.access_token_encrypted),
        base_url=shop.api_base_url,
    )


def set_schedule(uow: UnitOfWork, *, channel: str, code: str, pull: bool, promotion_mode: bool) -> Shop:
    """Turn a shop's scheduled pulls on or off; promotion mode pulls every 5 minutes instead of 15."""
    with uow:
        shop = get_shop(uow.session, channel=channel, code=code)
        if pull and not shop.app_key:
            raise ShopNotConnected(f"shop {channel}/{code} has no platform credentials / 店铺未配置平台凭证")
        shop.pull_enabled = pull
        shop.promotion_mode = promotion_mode
        uow.commit()
        return shop
