"""What every API's request models share: money as a two-place yuan string, and strict input."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

from orderhub.core.clock import ensure_utc
from orderhub.core.errors import InvalidInput

_MONEY = re.compile(r"^-?\d{1,10}(\.\d{1,2})?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _money(value: str) -> str:
    if not _MONEY.match(value.strip()):
        raise ValueError('money is a yuan string with at most two decimals, e.g. "199.00"')
    return value.strip()


Money = Annotated[str, AfterValidator(_money)]
# A row id in a URL: bounded to PostgreSQL's bigint, so a huge number is a 422, not a driver error.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class Strict(BaseModel):
    """A request body: unknown fields refused, text stripped, no control characters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        # PostgreSQL text cannot hold NUL, and no business field needs control characters.
        if isinstance(value, str) and _CONTROL.search(value):
            raise ValueError("control characters are not allowed")
        return value


def aware_query_time(name: str, value: datetime | None) -> datetime | None:
    """A time filter from a query string, in UTC; one without an offset is refused (422), never guessed."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(
            f"{name} needs a UTC offset, e.g. 2026-11-20T00:00:00+08:00 / {name} 需要带时区",
            details=[{"field": name, "rule": "datetime.offset_required", "message": "offset required"}],
        )
    return ensure_utc(value)
