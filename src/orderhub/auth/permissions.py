"""Roles and what each may do. The table is the single place permissions are granted."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPS = "ops"
    OPS_SUPERVISOR = "ops_supervisor"
    WAREHOUSE = "warehouse"
    FINANCE = "finance"
    VIEWER = "viewer"
    # An outsourced warehouse's staff: scoped to one warehouse (the user's warehouse_code).
    THREE_PL = "3pl"


class Permission(StrEnum):
    ORDERS_READ = "orders.read"
    ORDERS_CREATE = "orders.create"
    ORDERS_TRANSITION = "orders.transition"
    # Approve orders above the approval threshold (the second confirmation).
    ORDERS_APPROVE_LARGE = "orders.approve_large"
    SHOPS_READ = "shops.read"
    SHOPS_MANAGE = "shops.manage"
    # Channel health and dead letters: read them; replay, correct and discard dead letters (补单).
    CHANNELS_READ = "channels.read"
    CHANNELS_REPLAY = "channels.replay"
    USERS_MANAGE = "users.manage"
    TOKENS_OWN = "tokens.own"
    # Route an approved order now (the worker routes them anyway); record a warehouse's SLA results.
    ORDERS_ROUTE = "orders.route"
    FULFILLMENT_SLA = "fulfillment.sla"
    # Scan shipments through pick, pack and ship (a PDA's or scanner app's token), one by one or offline batches.
    FULFILLMENT_SCAN = "fulfillment.scan"
    # Reconciliation: read statements, discrepancies, settlements and reports; assign and resolve
    # discrepancies; import statements and run reconciliation.
    FINANCE_READ = "finance.read"
    FINANCE_RESOLVE = "finance.resolve"
    FINANCE_IMPORT = "finance.import"
    # Stock: read balances and ledgers; move stock (receipts, adjustments, counts, transfers, safety
    # stock); create SKUs and warehouses.
    INVENTORY_READ = "inventory.read"
    INVENTORY_ADJUST = "inventory.adjust"
    CATALOG_MANAGE = "catalog.manage"
    # Waybills and parcel tracking: read them; bind waybills to orders.
    LOGISTICS_READ = "logistics.read"
    LOGISTICS_WRITE = "logistics.write"
    # After-sales cases (returns, refunds, exchanges, reships): read them; open, approve, reject, receive,
    # refund and close them.
    AFTERSALES_READ = "aftersales.read"
    AFTERSALES_HANDLE = "aftersales.handle"
    # The warehouse portal: a warehouse's parcels and daily report; upload package photos.
    PORTAL_READ = "portal.read"
    PORTAL_PHOTO = "portal.photo"


P = Permission
_READ = {P.ORDERS_READ, P.SHOPS_READ, P.CHANNELS_READ, P.INVENTORY_READ, P.LOGISTICS_READ, P.TOKENS_OWN,
         P.AFTERSALES_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPS_SUPERVISOR: frozenset(
        _READ | {P.ORDERS_CREATE, P.ORDERS_TRANSITION, P.ORDERS_APPROVE_LARGE, P.CHANNELS_REPLAY, P.ORDERS_ROUTE,
                 P.FULFILLMENT_SLA, P.FULFILLMENT_SCAN, P.INVENTORY_ADJUST, P.CATALOG_MANAGE, P.LOGISTICS_WRITE,
                 P.AFTERSALES_HANDLE}
    ),
    Role.OPS: frozenset(_READ | {P.ORDERS_CREATE, P.ORDERS_TRANSITION, P.CHANNELS_REPLAY, P.ORDERS_ROUTE,
                                 P.LOGISTICS_WRITE, P.AFTERSALES_HANDLE}),
    Role.WAREHOUSE: frozenset(_READ | {P.ORDERS_TRANSITION, P.ORDERS_ROUTE, P.FULFILLMENT_SLA, P.FULFILLMENT_SCAN,
                                       P.INVENTORY_ADJUST, P.LOGISTICS_WRITE, P.PORTAL_READ, P.PORTAL_PHOTO}),
    Role.FINANCE: frozenset(_READ | {P.FINANCE_READ, P.FINANCE_RESOLVE, P.FINANCE_IMPORT}),
    Role.VIEWER: frozenset(_READ | {P.FINANCE_READ}),
    # None of _READ: the order, stock and tracking APIs span every warehouse. Waybills are bound by the
    # ship scan's waybill_no or the e-waybill request, both held to the user's warehouse.
    Role.THREE_PL: frozenset({P.TOKENS_OWN, P.PORTAL_READ, P.PORTAL_PHOTO, P.FULFILLMENT_SCAN}),
}

ROLE_LABELS_ZH = {
    Role.ADMIN: "管理员",
    Role.OPS: "运营",
    Role.OPS_SUPERVISOR: "运营主管",
    Role.WAREHOUSE: "仓库",
    Role.FINANCE: "财务",
    Role.VIEWER: "只读",
    Role.THREE_PL: "外包仓",
}
# Roles that may be, or (SCOPE_REQUIRED) must be, held to one warehouse.
SCOPABLE = frozenset({Role.WAREHOUSE, Role.THREE_PL})
SCOPE_REQUIRED = frozenset({Role.THREE_PL})


def permissions_of(role: str) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[Role(role)]
