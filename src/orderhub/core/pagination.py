"""Keyset pagination: an opaque cursor holding the sort key of the last row seen."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from orderhub.core.errors import InvalidInput

T = TypeVar("T")


class InvalidCursor(InvalidInput):
    code = "request.invalid_cursor"


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(at: datetime, row_id: int) -> str:
    raw = json.dumps([at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, row_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not isinstance(row_id, int):
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidCursor("the cursor is not one this API issued / 分页游标无效") from None
    return at, row_id


def decode_id_cursor(cursor: str | None) -> int | None:
    """An id-keyed list's cursor (the last id seen, newest first); None for the first page."""
    if not cursor:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise InvalidCursor("the cursor is not one this API issued / 分页游标无效")
    return int(cursor)
