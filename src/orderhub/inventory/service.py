"""Inventory use cases."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.core.db import UnitOfWork
from orderhub.inventory.errors import DuplicateWarehouse
from orderhub.inventory.model import Warehouse, WarehouseKind


def create_warehouse(
    uow: UnitOfWork, *, code: str, name: str, kind: WarehouseKind, province: str, city: str
) -> Warehouse:
    with uow:
        if uow.session.scalar(select(Warehouse.id).where(Warehouse.code == code)) is not None:
            raise DuplicateWarehouse(f"warehouse {code} already exists / 仓库 {code} 已存在")
        warehouse = Warehouse(code=code, name=name, kind=kind.value, province=province, city=city, created_at=uow.now())
        uow.session.add(warehouse)
        uow.commit()
        return warehouse


def list_warehouses(session: Session) -> list[Warehouse]:
    return list(session.scalars(select(Warehouse).order_by(Warehouse.code)))
