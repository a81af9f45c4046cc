"""Typed errors of the public lookup."""

from __future__ import annotations

import math

from orderhub.core.errors import InvalidInput, NotFound, OrderHubError


class LookupInvalid(InvalidInput):
    code = "lookup.invalid"


class NoMatchingOrder(NotFound):
    """Said alike whether the number is unknown or the phone does not match, so a guess learns nothing."""

    code = "lookup.not_found"

    def __init__(self) -> None:
        super().__init__("no order matches this order number and phone / 没有与该订单号和手机号匹配的订单")


class LookupThrottled(OrderHubError):
    """Too many lookups from one client, or too many wrong phones for one order number."""

    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, details=[{"retry_after": self.retry_after}])

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManyLookups(LookupThrottled):
    code = "lookup.too_many_requests"

    def __init__(self, *, retry_after: float) -> None:
        super().__init__("too many lookups from this network; try again later / 查询过于频繁，请稍后再试",
                         retry_after=retry_after)


class ReferenceLocked(LookupThrottled):
    code = "lookup.locked"

    def __init__(self, *, retry_after: float) -> None:
        super().__init__("too many wrong phone numbers for this order number; try again later / "
                         "该订单号的手机号错误次数过多，请稍后再试", retry_after=retry_after)
