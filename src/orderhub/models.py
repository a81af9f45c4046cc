"""Every domain's tables, imported once so Alembic and the tests see the whole schema."""

from orderhub.auth.model import ApiToken, ConsoleSession, User
from orderhub.catalog.model import Sku
from orderhub.channels.model import Shop
from orderhub.core.db import Base
from orderhub.core.outbox import OutboxEvent
from orderhub.inventory.model import Warehouse
from orderhub.orders.model import Order, OrderEvent, OrderLine

metadata = Base.metadata

__all__ = [
    "ApiToken",
    "ConsoleSession",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OutboxEvent",
    "Shop",
    "Sku",
    "User",
    "Warehouse",
    "metadata",
]
