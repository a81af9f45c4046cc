"""Channel endpoints: platform pushes, authenticated by the platform's own signature (not a user token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from orderhub.auth.deps import RuntimeDep, get_runtime, require
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.channels import push, writeback
from orderhub.channels import service as shops
from orderhub.channels.batching import GroupCommitter
from orderhub.core.errors import OrderHubError
from orderhub.runtime import Runtime

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])
writebacks = APIRouter(prefix="/api/v1/orders", tags=["channels"])


class ShipmentWriteback(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    carrier_code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    waybill_no: str = Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")


def _committer(request: Request, runtime: Runtime) -> GroupCommitter[push.PushRequest, Any]:
    """One group committer per server process, made on first use."""
    committer = getattr(request.app.state, "push_committer", None)
    if committer is None:
        committer = GroupCommitter(lambda batch: push.receive_pushes(
            runtime.uow(), requests=batch, box=runtime.secrets, policy=runtime.policy))
        request.app.state.push_committer = committer
    return committer


# The path's parameters, for the API's documentation: the endpoint reads them from the request itself.
_PUSH_PARAMETERS = [
    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}
    for name, description in (("channel", "channel name, e.g. miniprogram"), ("shop", "the shop's code"))
]


@router.post("/{channel}/{shop}/push", summary="Receive a platform push (signed by the platform)",
             openapi_extra={"parameters": _PUSH_PARAMETERS})
async def receive_push(request: Request) -> JSONResponse:
    # Only the request as a parameter: FastAPI then solves and validates no path parameters on each push
    # (work the event loop did for every push). The runtime is read here rather than
    # through RuntimeDep, a plain function FastAPI would hand to its thread pool on every push; the group
    # committer's thread does the database work.
    runtime = get_runtime(request)
    channel, shop = request.path_params["channel"], request.path_params["shop"]
    shops.parse_channel(channel)
    body = await request.body()
    result = await _committer(request, runtime).submit(push.PushRequest(channel, shop, request.headers, body))
    if isinstance(result, OrderHubError):
        raise result
    # `code: 0 / msg: success` is the acknowledgement Douyin expects; other platforms only need a 2xx.
    return JSONResponse({"code": 0, "msg": "success", "accepted": result.accepted, "duplicates": result.duplicates,
                         "to_fetch": result.to_fetch, "results": result.results})


@writebacks.post("/{order_no}/writebacks/shipment", status_code=202,
                 summary="Tell the order's platform it shipped (delivered by the worker, with retries)")
def request_shipment_writeback(
    order_no: str, body: ShipmentWriteback, runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require(Permission.ORDERS_TRANSITION))],
) -> dict[str, int]:
    request_id = writeback.request_shipment(runtime.uow(), order_no=order_no, carrier_code=body.carrier_code,
                                            waybill_no=body.waybill_no, actor=principal.actor("api"))
    return {"request_id": request_id}
