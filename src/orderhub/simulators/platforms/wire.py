"""JSON as the platforms write it: exact big integers, decimals as numbers, UTF-8 text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from orderhub.channels.platforms.base import BEIJING, BEIJING_FORMAT


def dump_json(value: Any) -> str:
    """Like `json.dumps`, but a `Decimal` is written as a JSON number (PDD's Double amounts) and ints stay exact."""
    if isinstance(value, Mapping):
        pairs = (f"{json.dumps(str(key), ensure_ascii=False)}:{dump_json(item)}" for key, item in value.items())
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump_json(item) for item in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)


def json_response(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dump_json(value).encode(), status_code=status, headers=dict(headers or {}),
                    media_type="application/json;charset=UTF-8")


async def request_params(request: Request) -> dict[str, str]:
    """Query-string and form parameters together: SDKs put them in either place."""
    params = dict(request.query_params)
    if request.method != "GET" and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        params.update({key: str(value) for key, value in form.items()})
    return params


def yuan(fen: int) -> str:
    """Fen as a two-place yuan string: 19900 → "199.00"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def yuan_number(fen: int) -> Decimal:
    """Fen as a yuan JSON number the way a Java `Double` prints it: 19900 → 199.0, 14980 → 149.8."""
    text = yuan(fen).rstrip("0")
    return Decimal(text + "0" if text.endswith(".") else text)


def allocate(total_fen: int, amounts: list[int]) -> list[int]:
    """Split an order-level amount over lines in proportion to their amounts; the last line takes the rest."""
    whole = sum(amounts) or 1
    shares = [total_fen * amount // whole for amount in amounts[:-1]]
    return [*shares, total_fen - sum(shares)]


def beijing(value: datetime | None) -> str:
    return value.astimezone(BEIJING).strftime(BEIJING_FORMAT) if value else ""


def unix(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


def unix_ms(value: datetime | None) -> int:
    return int(value.timestamp()) * 1000 if value else 0


def iso_beijing(value: datetime | None) -> str | None:
    return value.astimezone(BEIJING).isoformat() if value else None


def parse_beijing(text: str) -> datetime:
    return datetime.strptime(text.strip()[:19], BEIJING_FORMAT).replace(tzinfo=BEIJING).astimezone(UTC)
