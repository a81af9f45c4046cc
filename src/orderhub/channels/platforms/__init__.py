"""Sales-platform adapters: one module per platform, each a client and a push parser (see `base`)."""

from __future__ import annotations

from orderhub.channels.platforms import douyin, jd, kuaishou, miniprogram, pdd, shopify, taobao
from orderhub.channels.platforms.base import (
    CredentialsRejected,
    InvalidSignature,
    MalformedPush,
    OrderPage,
    PlatformClient,
    PlatformError,
    PushItem,
    PushParser,
    RateLimited,
    ShopCredentials,
    client_for,
    parse_push,
)

CLIENTS: dict[str, type[PlatformClient]] = {
    "taobao": taobao.TaobaoClient,
    "tmall": taobao.TaobaoClient,
    "jd": jd.JdClient,
    "pdd": pdd.PddClient,
    "douyin": douyin.DouyinClient,
    "kuaishou": kuaishou.KuaishouClient,
    "shopify": shopify.ShopifyClient,
    "miniprogram": miniprogram.MiniprogramClient,
}

PUSH_PARSERS: dict[str, PushParser] = {
    "taobao": taobao.parse_push,
    "tmall": taobao.parse_push,
    "jd": jd.parse_push,
    "pdd": pdd.parse_push,
    "douyin": douyin.parse_push,
    "kuaishou": kuaishou.parse_push,
    "shopify": shopify.parse_push,
    "miniprogram": miniprogram.parse_push,
}

__all__ = [
    "CLIENTS",
    "PUSH_PARSERS",
    "CredentialsRejected",
    "InvalidSignature",
    "MalformedPush",
    "OrderPage",
    "PlatformClient",
    "PlatformError",
    "PushItem",
    "RateLimited",
    "ShopCredentials",
    "client_for",
    "parse_push",
]
