"""Typed errors of the catalog domain."""

from orderhub.core.errors import Conflict, InvalidInput


class DuplicateSku(Conflict):
    code = "catalog.duplicate_sku"


class UnknownSku(InvalidInput):
    code = "catalog.unknown_sku"
