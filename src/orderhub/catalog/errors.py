"""Typed errors of the catalog domain."""

from orderhub.core.errors import Conflict, InvalidInput, NotFound


class DuplicateSku(Conflict):
    code = "catalog.duplicate_sku"


class UnknownSku(InvalidInput):
    code = "catalog.unknown_sku"


class SkuNotFound(NotFound):
    code = "catalog.sku_not_found"

    def __init__(self, code: str) -> None:
        super().__init__(f"SKU {code} not found / 商品编码 {code} 不存在")


class InvalidBundle(InvalidInput):
    """A bundle's components are missing, bundles themselves, repeated, or in a nonsense quantity."""

    code = "catalog.invalid_bundle"
