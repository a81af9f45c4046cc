"""What every simulated gateway does the same way: injected faults, and request ids."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from fastapi.responses import Response

from orderhub.simulators.platforms.model import SimulatedShop
from orderhub.simulators.platforms.wire import json_response

if TYPE_CHECKING:
    from orderhub.simulators.platforms.state import SimulatorState


async def injected_fault(state: SimulatorState, shop: SimulatedShop) -> str | None:
    """"error" or "rate_limited" for the handler to answer; a timeout fault just holds the call first."""
    fault = state.draw_fault(shop)
    if fault == "timeout":
        await asyncio.sleep(shop.faults.timeout_seconds)
        return None
    return fault


def unavailable() -> Response:
    """What a platform's gateway answers when the service behind it is down: an HTML 503."""
    return Response("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", status_code=503,
                    media_type="text/html")


def too_many_requests(body: Any, retry_after: str = "1") -> Response:
    return json_response(body, status=429, headers={"Retry-After": retry_after})


def request_id() -> str:
    return uuid.uuid4().hex[:13]
