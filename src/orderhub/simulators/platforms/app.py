"""The platform simulators as one FastAPI app: every platform under its prefix, plus `/_control`.

Control endpoints (JSON), for tests, the demo and people poking at a running simulator:
* `GET /_control/shops` — every shop with its credentials and counters;
* `POST /_control/{channel}/{shop}/faults` — switch faults (any subset of `Faults`' fields);
* `POST /_control/{channel}/{shop}/rotate-secret` — rotate the app secret (the old one is refused);
* `GET /_control/{channel}/{shop}/write-backs` — shipments and stock updates recorded;
* `POST /_control/advance` — `{"now": ISO 8601 | null, "new_orders": n}`: move orders along.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict

from orderhub.simulators.platforms.model import SimulatedShop
from orderhub.simulators.platforms.state import PLATFORMS, SimulatorState


class FaultsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invalid_push_signature: bool | None = None
    error_rate: float | None = None
    timeout_rate: float | None = None
    timeout_seconds: float | None = None
    rate_limit_rate: float | None = None
    duplicate_pushes: bool | None = None
    out_of_order_pushes: bool | None = None
    type_drift: bool | None = None


class Advance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    now: datetime | None = None
    new_orders: int = 0


def _shop_summary(shop: SimulatedShop) -> dict[str, Any]:
    return {"channel": shop.channel, "shop": shop.code, "app_key": shop.app_key, "app_secret": shop.app_secret,
            "access_token": shop.access_token, "orders": len(shop.orders), "api_calls": shop.api_calls,
            "pending_pushes": len(shop.pending), "faults": asdict(shop.faults)}


def create_platform_simulator(state: SimulatorState) -> FastAPI:
    app = FastAPI(title="OrderHub platform simulators", docs_url="/_control/docs", openapi_url="/_control/openapi.json")
    for module in dict.fromkeys(PLATFORMS.values()):
        module.mount(app, state)

    def known_shop(channel: str, shop: str) -> SimulatedShop:
        try:
            return state.shop(channel, shop)
        except KeyError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.get("/_control/shops")
    def shops() -> list[dict[str, Any]]:
        with state.lock:
            return [_shop_summary(shop) for shop in state.shops.values()]

    @app.post("/_control/{channel}/{shop}/faults")
    def set_faults(channel: str, shop: str, update: FaultsUpdate) -> dict[str, Any]:
        known_shop(channel, shop)
        return asdict(state.set_faults(channel, shop, **update.model_dump(exclude_none=True)))

    @app.post("/_control/{channel}/{shop}/rotate-secret")
    def rotate_secret(channel: str, shop: str) -> dict[str, Any]:
        known_shop(channel, shop)
        with state.lock:
            return _shop_summary(state.rotate_secret(channel, shop))

    @app.get("/_control/{channel}/{shop}/write-backs")
    def write_backs(channel: str, shop: str) -> list[dict[str, Any]]:
        found = known_shop(channel, shop)
        with state.lock:
            return [{"kind": record.kind, "idempotency_key": record.idempotency_key, "at": record.at.isoformat(),
                     "detail": record.detail} for record in found.write_backs]

    @app.post("/_control/advance")
    def advance(request: Advance) -> dict[str, int]:
        events = state.advance(request.now, new_orders=request.new_orders)
        return {"changes": len(events)}

    return app
