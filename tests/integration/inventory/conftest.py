"""A merchant with stock: two warehouses, the shared SKUs, a bundle."""

from __future__ import annotations

import pytest

from orderhub.catalog import service as catalog
from orderhub.core.actor import Actor
from orderhub.inventory import service as inventory
from orderhub.inventory.model import WarehouseKind
from orderhub.runtime import Runtime

CLERK = Actor("clerk", "api")


@pytest.fixture
def warehouses(runtime: Runtime, merchant: None) -> None:
    inventory.create_warehouse(runtime.uow(), code="HZ", name="杭州仓", kind=WarehouseKind.OWN, province="浙江省",
                               city="杭州市")
    inventory.create_warehouse(runtime.uow(), code="GZ", name="广州仓", kind=WarehouseKind.THIRD_PARTY,
                               province="广东省", city="广州市", regions=["广东省", "广西壮族自治区"])
    catalog.create_sku(runtime.uow(), code="GIFT-SET", title="保温杯+茶叶礼盒",
                       components=[("SKU-001", 1), ("SKU-002", 2)])


def stock_up(runtime: Runtime, sku: str, warehouse: str, qty: int) -> None:
    inventory.receive(runtime.uow(), sku=sku, warehouse=warehouse, qty=qty,
                      idempotency_key=f"in-{sku}-{warehouse}-{qty}", actor=CLERK)
