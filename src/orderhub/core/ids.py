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


def new_order_nos(channel: str, business_day: datetime, count: int) -> list[str]:
    """`count` order numbers of one channel and day, drawn independently like `new_order_no`.

    The random bytes come from one read of the system's source: a bulk import draws thousands a batch.
    """
    prefix = f"{CHANNEL_PREFIX[channel]}_{business_day:%Y%m%d}_"
    digits = secrets.token_hex(3 * count)
    return [prefix + digits[start:start + 6] for start in range(0, 6 * count, 6)]


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
