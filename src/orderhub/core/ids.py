"""Identifiers: order numbers and random tokens."""

from __future__ import annotations

import secrets
from datetime import datetime

# Prefixes of `order_no`, per channel name (DESIGN: `{CHANNEL}_{YYYYMMDD}_{6 lowercase hex}`).
CHANNEL_PREFIX = {
    "taobao": "TB",
    "tmall": "TM",
    "jd": "JD",
    "pdd": "PDD",
    "douyin": "DY",
    "kuaishou": "KS",
    "shopify": "SP",
    "miniprogram": "MP",
    "pos": "POS",
    "phone": "PH",
    "manual": "MN",
}


def new_order_no(channel: str, business_day: datetime) -> str:
    return f"{CHANNEL_PREFIX[channel]}_{business_day:%Y%m%d}_{secrets.token_hex(3)}"


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
