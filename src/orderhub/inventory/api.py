"""The catalog, warehouse and stock REST API: parse, authorise, call a service, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from orderhub.auth.deps import RuntimeDep, require
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.catalog import service as catalog
from orderhub.core.money import yuan_to_fen
from orderhub.core.schemas import RowId
from orderhub.inventory import service
from orderhub.inventory.schemas import (
    AdjustmentIn,
    AvailabilityOut,
    SafetyIn,
    SkuCreate,
    SkuOut,
    StockChangeOut,
    TransferIn,
    WarehouseCreate,
    WarehouseOut,
)

router = APIRouter(prefix="/api/v1", tags=["inventory"])

Reader = Annotated[Principal, Depends(require(Permission.INVENTORY_READ))]
Mover = Annotated[Principal, Depends(require(Permission.INVENTORY_ADJUST))]
Manager = Annotated[Principal, Depends(require(Permission.CATALOG_MANAGE))]
SkuCode = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/catalog/skus", status_code=201, response_model=SkuOut)
def create_sku(body: SkuCreate, runtime: RuntimeDep, _: Manager) -> SkuOut:
    components = [(part.sku, part.qty) for part in body.components]
    sku = catalog.create_sku(runtime.uow(), code=body.sku, title=body.title, spec=body.spec, weight_g=body.weight_g,
                             cost_price_fen=yuan_to_fen(body.cost_price), list_price_fen=yuan_to_fen(body.list_price),
                             components=components)
    return SkuOut.of(sku, components)


@router.get("/warehouses", response_model=list[WarehouseOut])
def list_warehouses(runtime: RuntimeDep, _: Reader) -> list[WarehouseOut]:
    with runtime.reading() as session:
        return [WarehouseOut.of(w) for w in service.list_warehouses(session)]


@router.post("/warehouses", status_code=201, response_model=WarehouseOut)
def create_warehouse(body: WarehouseCreate, runtime: RuntimeDep, _: Manager) -> WarehouseOut:
    warehouse = service.create_warehouse(runtime.uow(), code=body.code, name=body.name, kind=body.kind,
                                         province=body.province, city=body.city, regions=body.regions,
                                         owner=body.owner)
    return WarehouseOut.of(warehouse)


def _replied(change: service.StockChange) -> JSONResponse:
    """201 for a new movement, 200 when the idempotency key replays an earlier one."""
    body = StockChangeOut.of(change).model_dump()
    return JSONResponse(body, status_code=200 if change.replayed else 201)


@router.post("/inventory/adjustments", status_code=201, response_model=StockChangeOut,
             responses={200: {"description": "the idempotency key was used before: its first result"}})
def adjust(body: AdjustmentIn, runtime: RuntimeDep, principal: Mover) -> JSONResponse:
    return _replied(service.adjust(runtime.uow(), sku=body.sku, warehouse=body.warehouse, delta=body.delta,
                                   reason=body.reason, idempotency_key=body.idempotency_key,
                                   actor=principal.actor("api")))


@router.post("/inventory/transfers", status_code=201, response_model=StockChangeOut,
             responses={200: {"description": "the idempotency key was used before: its first result"}})
def transfer(body: TransferIn, runtime: RuntimeDep, principal: Mover) -> JSONResponse:
    return _replied(service.transfer(runtime.uow(), sku=body.sku, from_warehouse=body.from_warehouse,
                                     to_warehouse=body.to_warehouse, qty=body.qty, reason=body.reason,
                                     idempotency_key=body.idempotency_key, actor=principal.actor("api")))


@router.post("/inventory/transfers/{transfer_id}/arrival", response_model=StockChangeOut)
def receive_transfer(transfer_id: RowId, runtime: RuntimeDep, principal: Mover) -> StockChangeOut:
    return StockChangeOut.of(service.receive_transfer(runtime.uow(), transfer_id=transfer_id,
                                                      actor=principal.actor("api")))


@router.put("/inventory/{sku}/safety", response_model=AvailabilityOut)
def set_safety(sku: SkuCode, body: SafetyIn, runtime: RuntimeDep, principal: Mover) -> AvailabilityOut:
    service.set_safety(runtime.uow(), sku=sku, safety=body.safety, warehouse=body.warehouse,
                       actor=principal.actor("api"))
    with runtime.reading() as session:
        return AvailabilityOut.model_validate(service.availability(session, sku).to_json())


@router.get("/inventory/{sku}", response_model=AvailabilityOut)
def availability(sku: SkuCode, runtime: RuntimeDep, _: Reader) -> AvailabilityOut:
    with runtime.reading() as session:
        return AvailabilityOut.model_validate(service.availability(session, sku).to_json())
