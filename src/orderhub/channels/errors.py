"""Typed errors of the channels domain."""

from orderhub.core.errors import Conflict, InvalidInput, NotFound


class ShopNotFound(NotFound):
    code = "shop.not_found"


class DuplicateShop(Conflict):
    code = "shop.duplicate"


class UnknownChannel(InvalidInput):
    code = "channel.unknown"
