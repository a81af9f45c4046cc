"""After-sales tests use the inventory tests' merchant with stock (two warehouses, a bundle)."""

from tests.integration.inventory.conftest import warehouses

__all__ = ["warehouses"]
