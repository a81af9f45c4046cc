"""Typed errors of the catalog domain."""

from orderhub.core.errors import Conflict


class DuplicateSku(Conflict):
    code = "catalog.duplicate_sku"
