"""Typed errors of the inventory domain."""

from orderhub.core.errors import Conflict


class DuplicateWarehouse(Conflict):
    code = "inventory.duplicate_warehouse"
