"""Request and response models of the catalog, warehouse and stock API."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from orderhub.catalog.model import Sku
from orderhub.core.money import fen_to_yuan
from orderhub.core.schemas import Money, Strict
from orderhub.inventory.model import Warehouse, WarehouseKind
from orderhub.inventory.service import StockChange

CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class ComponentIn(Strict):
    sku: str = Field(min_length=1, max_length=64)
    qty: int = Field(strict=True)


class SkuCreate(Strict):
    sku: str = Field(min_length=1, max_length=64, pattern=CODE)
    title: str = Field(min_length=1, max_length=200)
    spec: str = Field(default="", max_length=100)
    weight_g: int = Field(default=0, strict=True, ge=0, le=1_000_000)
    cost_price: Money = "0.00"
    list_price: Money = "0.00"
    # A bundle (组合装): selling one consumes these; it holds no stock of its own.
    components: list[ComponentIn] = Field(default_factory=list, max_length=50)

    @field_validator("cost_price", "list_price")
    @classmethod
    def _not_negative(cls, value: str) -> str:
        if value.startswith("-"):
            raise ValueError("a price cannot be negative")
        return value


class SkuOut(BaseModel):
    sku: str
    title: str
    spec: str
    weight_g: int
    cost_price: str
    list_price: str
    bundle: bool
    components: list[ComponentIn]

    @classmethod
    def of(cls, sku: Sku, components: list[tuple[str, int]]) -> SkuOut:
        return cls(sku=sku.code, title=sku.title, spec=sku.spec, weight_g=sku.weight_g,
                   cost_price=fen_to_yuan(sku.cost_price_fen), list_price=fen_to_yuan(sku.list_price_fen),
                   bundle=sku.is_bundle, components=[ComponentIn(sku=code, qty=qty) for code, qty in components])


class WarehouseCreate(Strict):
    code: str = Field(min_length=1, max_length=32, pattern=CODE)
    name: str = Field(min_length=1, max_length=100)
    kind: WarehouseKind
    province: str = Field(min_length=1, max_length=32)
    city: str = Field(min_length=1, max_length=32)
    # Provinces it ships to; empty: nationwide.
    regions: list[str] = Field(default_factory=list, max_length=40)
    owner: str = Field(default="", max_length=64)


class WarehouseOut(BaseModel):
    code: str
    name: str
    kind: str
    province: str
    city: str
    regions: list[str]
    owner: str
    active: bool

    @classmethod
    def of(cls, warehouse: Warehouse) -> WarehouseOut:
        return cls(code=warehouse.code, name=warehouse.name, kind=warehouse.kind, province=warehouse.province,
                   city=warehouse.city, regions=list(warehouse.regions or []), owner=warehouse.owner,
                   active=warehouse.active)


class AdjustmentIn(Strict):
    sku: str = Field(min_length=1, max_length=64)
    warehouse: str = Field(min_length=1, max_length=32)
    delta: int = Field(strict=True)
    reason: str = Field(max_length=200)
    idempotency_key: str = Field(max_length=100)


class TransferIn(Strict):
    sku: str = Field(min_length=1, max_length=64)
    from_warehouse: str = Field(min_length=1, max_length=32)
    to_warehouse: str = Field(min_length=1, max_length=32)
    qty: int = Field(strict=True)
    reason: str = Field(max_length=200)
    idempotency_key: str = Field(max_length=100)


class SafetyIn(Strict):
    safety: int = Field(strict=True)
    warehouse: str | None = Field(default=None, max_length=32)


class StockChangeOut(BaseModel):
    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    in_transit: int
    safety: int
    available: int
    transfer_id: int | None
    replayed: bool

    @classmethod
    def of(cls, change: StockChange) -> StockChangeOut:
        return cls.model_validate(change, from_attributes=True)


class WarehouseStockOut(BaseModel):
    warehouse: str
    on_hand: int
    reserved: int
    in_transit: int
    safety: int
    available: int


class AvailabilityOut(BaseModel):
    sku: str
    available: int
    on_hand: int
    reserved: int
    in_transit: int
    safety: int
    bundle: bool
    low: bool
    warehouses: list[WarehouseStockOut]
