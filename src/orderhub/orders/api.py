"""The orders REST API: parse, authorise, call a service, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from orderhub.auth.deps import RuntimeDep, require
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.channels import service as channels
from orderhub.core.schemas import aware_query_time
from orderhub.logistics import service as logistics
from orderhub.logistics.schemas import ParcelTracking
from orderhub.orders import service
from orderhub.orders.repository import OrderFilters
from orderhub.orders.schemas import (
    OrderCreate,
    OrderList,
    OrderRead,
    Timeline,
    TimelineEntry,
    TransitionIn,
    TransitionOut,
)
from orderhub.orders.status import OrderStatus

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

Reader = Annotated[Principal, Depends(require(Permission.ORDERS_READ))]
Creator = Annotated[Principal, Depends(require(Permission.ORDERS_CREATE))]
Mover = Annotated[Principal, Depends(require(Permission.ORDERS_TRANSITION))]


@router.get("", response_model=OrderList)
def list_orders(
    runtime: RuntimeDep,
    _: Reader,
    status: OrderStatus | None = None,
    channel: str | None = Query(default=None, max_length=16),
    shop: str | None = Query(default=None, max_length=64),
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    q: str | None = Query(default=None, max_length=100),
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=200),
) -> OrderList:
    with runtime.reading() as session:
        filters = OrderFilters(
            status=status,
            channel=channels.parse_channel(channel).value if channel else None,
            shop_ids=channels.shop_ids_by_code(session, shop) if shop else None,
            created_from=aware_query_time("created_from", created_from),
            created_to=aware_query_time("created_to", created_to),
            q=q,
        )
        page = service.list_orders(session, filters, limit=limit, cursor=cursor)
        return OrderList(items=[OrderRead.of(o, o.shop.code) for o in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=201, response_model=OrderRead)
def create_order(body: OrderCreate, runtime: RuntimeDep, principal: Creator) -> OrderRead:
    channels.parse_channel(body.channel)
    order = service.create_manual_order(
        runtime.uow(), draft=body.to_draft(), actor=principal.actor("api"), policy=runtime.policy
    )
    return OrderRead.of(order, body.shop)


@router.get("/{order_no}", response_model=OrderRead)
def get_order(order_no: str, runtime: RuntimeDep, _: Reader) -> OrderRead:
    with runtime.reading() as session:
        order = service.get_order(session, order_no)
        tracking = [ParcelTracking.of(parcel) for parcel in logistics.order_tracking(session, order_id=order.id)]
        return OrderRead.of(order, order.shop.code).model_copy(update={"tracking": tracking})


@router.get("/{order_no}/timeline", response_model=Timeline)
def get_timeline(order_no: str, runtime: RuntimeDep, _: Reader) -> Timeline:
    with runtime.reading() as session:
        events = service.order_timeline(session, order_no)
        return Timeline(order_no=order_no, items=[TimelineEntry.of(e) for e in events])


@router.post(
    "/{order_no}/transitions",
    response_model=TransitionOut,
    responses={202: {"description": "recorded as an approval request awaiting a supervisor"}},
)
def transition(order_no: str, body: TransitionIn, runtime: RuntimeDep, principal: Mover) -> JSONResponse:
    result = service.transition_order(
        runtime.uow(),
        order_no=order_no,
        target=body.to,
        reason=body.reason,
        actor=principal.actor("api"),
        policy=runtime.policy,
        expected_version=body.version,
    )
    order = result.order
    out = TransitionOut(order=OrderRead.of(order, order.shop.code), approval_pending=result.approval_pending)
    return JSONResponse(out.model_dump(mode="json"), status_code=202 if result.approval_pending else 200)
