"""Every domain's tables, imported once so Alembic and the tests see the whole schema."""

from orderhub.aftersales.model import AfterSalesCase, AfterSalesEvent, AfterSalesLine, OrderRefund
from orderhub.auth.model import ApiToken, ConsoleSession, User
from orderhub.catalog.model import PlatformSkuMapping, Sku, SkuComponent
from orderhub.channels.model import ChannelCall, DeadLetter, DeadLetterAction, InboundMessage, PullCursor, Shop
from orderhub.core.db import Base
from orderhub.core.jobs import JobLease
from orderhub.core.outbox import OutboxEvent
from orderhub.finance.model import (
    Discrepancy,
    DiscrepancyEvent,
    LineResult,
    Receivable,
    ReceivableAdjustment,
    ReconRun,
    StatementFile,
    StatementLine,
)
from orderhub.fulfillment.model import (
    ParcelPhoto,
    RoutingDecision,
    Shipment,
    ShipmentLine,
    SlaResult,
    WarehouseBreaker,
    WarehouseScan,
)
from orderhub.inventory.model import (
    LedgerEntry,
    Reservation,
    SkuStock,
    StockOperation,
    StockShare,
    StockSyncState,
    Transfer,
    Warehouse,
    WarehouseStock,
)
from orderhub.logistics.model import (
    ExceptionTicket,
    ExceptionTicketEvent,
    TrackingEvent,
    TrackingPush,
    Waybill,
    WaybillInterception,
    WaybillOrder,
)
from orderhub.orders.model import Order, OrderEvent, OrderLine

metadata = Base.metadata

__all__ = [
    "AfterSalesCase",
    "AfterSalesEvent",
    "AfterSalesLine",
    "ApiToken",
    "ChannelCall",
    "ConsoleSession",
    "DeadLetter",
    "DeadLetterAction",
    "Discrepancy",
    "DiscrepancyEvent",
    "ExceptionTicket",
    "ExceptionTicketEvent",
    "InboundMessage",
    "JobLease",
    "LedgerEntry",
    "LineResult",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OrderRefund",
    "OutboxEvent",
    "ParcelPhoto",
    "PlatformSkuMapping",
    "PullCursor",
    "Receivable",
    "ReceivableAdjustment",
    "ReconRun",
    "Reservation",
    "RoutingDecision",
    "Shipment",
    "ShipmentLine",
    "Shop",
    "Sku",
    "SkuComponent",
    "SkuStock",
    "SlaResult",
    "StatementFile",
    "StatementLine",
    "StockOperation",
    "StockShare",
    "StockSyncState",
    "TrackingEvent",
    "TrackingPush",
    "Transfer",
    "User",
    "Warehouse",
    "WarehouseBreaker",
    "WarehouseScan",
    "WarehouseStock",
    "Waybill",
    "WaybillInterception",
    "WaybillOrder",
    "metadata",
]
