"""Abuse protection of the lookup: the `limits` library's moving windows, per client and per order number.

Counts live where `ORDERHUB_LOOKUP_LIMITS_STORAGE` points: `memory://` counts per process (one `serve`
process, the demo); `redis://…` shares them between every process behind the load balancer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from orderhub.lookup.errors import ReferenceLocked, TooManyLookups

CLIENT_SCOPE = "lookup-client"
FAILURE_SCOPE = "lookup-failure"


class LookupGuard:
    def __init__(self, *, storage_uri: str, client_limits: str, failure_limits: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._client_limits = parse_many(client_limits)
        self._failure_limits = parse_many(failure_limits)

    def admit(self, client: str) -> None:
        """Count one lookup from `client` (its address); refused once any of the client limits is spent."""
        for item in self._client_limits:
            if not self._limiter.hit(item, CLIENT_SCOPE, client):
                raise TooManyLookups(retry_after=self._wait(item, CLIENT_SCOPE, client))

    def check_reference(self, reference: str) -> None:
        """Refuse a number that had too many wrong phones lately, whatever client asks now."""
        blocked = [item for item in self._failure_limits if not self._limiter.test(item, FAILURE_SCOPE, reference)]
        if blocked:
            raise ReferenceLocked(retry_after=self._longest_wait(blocked, FAILURE_SCOPE, reference))

    def record_failure(self, reference: str) -> None:
        for item in self._failure_limits:
            self._limiter.hit(item, FAILURE_SCOPE, reference)

    def _wait(self, item: RateLimitItem, scope: str, key: str) -> float:
        return self._limiter.get_window_stats(item, scope, key).reset_time - time.time()

    def _longest_wait(self, items: Sequence[RateLimitItem], scope: str, key: str) -> float:
        return max(self._wait(item, scope, key) for item in items)
