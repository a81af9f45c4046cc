"""Parcels a platform shipped before OrderHub could route them: recorded as shipments, never routed.

An order can arrive already shipped (the merchant shipped it from the platform's own back office, or
before the shop was connected). Its parcels still become `shipment` rows, so the order page, the
routing API and everything keyed on shipments see them as they see routed parcels:

* one shipment per waybill, status `shipped`: a waybill shared by several lines is one parcel;
* its lines are the order lines the platform says the parcel carries. Lines no parcel names (and no
  earlier parcel holds) go with the first parcel that names none: the platform says that parcel left,
  not what is in it. When every parcel names its lines, the others have not shipped yet (a partial
  shipment) and are in no parcel until one names them;
* each recording is a routing decision that says what happened: outcome `platform_shipped`, source
  `platform`, its reasons naming the waybills; no warehouse was chosen and no stock assigned (an
  order arriving shipped holds none: orders/stock.py), so the parcels carry the warehouse code
  `PLATFORM_WAREHOUSE`, which no warehouse can have (warehouse codes begin with a letter or digit);
* `created_at` is when OrderHub learnt of the parcel, `updated_at` when it reached `shipped` (the
  platform's ship time where it gives one), as for routed parcels, whose ship scan sets it.

An order OrderHub routed itself (it has live shipments of its own) gets no platform parcels: a waybill
the platform reports for it is kept on the order by logistics, for a person to match. Written in bulk
(COPY on PostgreSQL), in the caller's transaction, which holds the orders' rows locked (intake does).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orderhub.catalog import service as catalog
from orderhub.core.actor import Actor
from orderhub.core.db import add_rows, add_rows_with_ids, one_of
from orderhub.core.outbox import OutboxEvent, outbox_row
from orderhub.fulfillment.model import RoutingDecision, Shipment, ShipmentLine, ShipmentStatus

PLATFORM_WAREHOUSE = "@platform"
PLATFORM_WAREHOUSE_NAME = "平台发货"
PLATFORM_SHIPPED = "platform_shipped"  # RoutingDecision.outcome
PLATFORM_SOURCE = "platform"  # RoutingDecision.source
RECORDED_TOPIC = "fulfillment.platform_shipped"

Line = tuple[str, int]  # SKU, quantity


@dataclass(frozen=True)
class ShippedParcel:
    """One parcel the platform says left: its waybill, the lines it names, when it left (None: not said)."""

    carrier_code: str  # "" when the platform named a carrier OrderHub does not know
    carrier_name: str
    waybill_no: str
    lines: tuple[Line, ...]
    shipped_at: datetime | None = None


@dataclass(frozen=True)
class ShippedOrder:
    """An order's parcels not recorded yet, in the platform's order, and its lines no parcel names."""

    order_id: int
    order_no: str
    province: str
    city: str
    parcels: tuple[ShippedParcel, ...]
    unnamed: tuple[Line, ...] = ()


@dataclass(frozen=True)
class _Held:
    last_parcel_no: int = 0
    platform_parcels: int = 0
    routed_parcels: int = 0  # live shipments OrderHub planned itself


def record_platform_shipments(session: Session, *, orders: Sequence[ShippedOrder], actor: Actor, at: datetime,
                              created: Collection[int] = ()) -> dict[tuple[int, str, str], int]:
    """Record the parcels as shipped shipments; `{(order id, carrier code, waybill no): shipment id}` of those made.

    Orders OrderHub routed itself are left out. Idempotence is the caller's: it passes only parcels
    whose waybill has no shipment yet. `created` are the ids of orders created in the caller's
    transaction: they have no shipment or routing decision yet, so nothing is read for them (an import
    brings thousands of orders that arrived shipped).
    """
    wanted = [order for order in orders if order.parcels]
    if not wanted:
        return {}
    held = _held(session, [order.order_id for order in wanted if order.order_id not in created])
    wanted = [order for order in wanted if not held.get(order.order_id, _Held()).routed_parcels]
    if not wanted:
        return {}
    attempts = _attempts(session, [order.order_id for order in wanted if order.order_id not in created])
    earlier = _earlier_parcels(session, [order.order_id for order in wanted
                                         if held.get(order.order_id, _Held()).platform_parcels])
    skus = {sku for order in wanted for parcel in order.parcels for sku, _ in parcel.lines}
    skus |= {sku for order in wanted for sku, _ in order.unnamed}
    weights = catalog.sku_weights(session, skus)

    decisions: list[dict[str, Any]] = []
    plans: list[tuple[ShippedOrder, list[tuple[int, ShippedParcel]], list[dict[str, Any]]]] = []
    for order in wanted:
        parcels = list(order.parcels)
        unplaced = _unplaced(order.unnamed, earlier[order.order_id]) if order.order_id in earlier else order.unnamed
        silent = next((index for index, parcel in enumerate(parcels) if not parcel.lines), None)
        if unplaced and silent is not None:
            parcels[silent] = _with_lines(parcels[silent], unplaced)
        last = held.get(order.order_id, _Held()).last_parcel_no
        numbered = [(last + number, parcel) for number, parcel in enumerate(parcels, start=1)]
        summaries = [_parcel_json(number, parcel, weights, at) for number, parcel in numbered]
        decisions.append(_decision_row(order, [*earlier.get(order.order_id, []), *summaries],
                                       attempt=attempts.get(order.order_id, 0) + 1, actor=actor, at=at))
        plans.append((order, numbered, summaries))
    decision_ids = add_rows_with_ids(session, RoutingDecision.__table__, decisions)

    shipment_rows: list[dict[str, Any]] = []
    keys: list[tuple[tuple[int, str, str], tuple[Line, ...]]] = []
    for decision_id, (order, numbered, summaries) in zip(decision_ids, plans, strict=True):
        for (number, parcel), summary in zip(numbered, summaries, strict=True):
            shipment_rows.append({
                "order_id": order.order_id, "decision_id": decision_id, "parcel_no": number,
                "warehouse_code": PLATFORM_WAREHOUSE, "carrier_code": parcel.carrier_code,
                "status": ShipmentStatus.SHIPPED.value, "weight_g": summary["weight_g"], "eta_hours": 0,
                "estimated_cost_fen": 0, "created_at": at, "updated_at": parcel.shipped_at or at,
            })
            keys.append(((order.order_id, parcel.carrier_code, parcel.waybill_no), parcel.lines))
    shipment_ids = add_rows_with_ids(session, Shipment.__table__, shipment_rows)
    add_rows(session, ShipmentLine.__table__, [
        {"shipment_id": shipment_id, "sku": sku, "qty": qty}
        for shipment_id, (_, lines) in zip(shipment_ids, keys, strict=True) for sku, qty in lines
    ])
    add_rows(session, OutboxEvent.__table__, [
        outbox_row(RECORDED_TOPIC, order.order_no, at, {
            "order_no": order.order_no,
            "parcels": [{"parcel_no": s["parcel_no"], "carrier": s["carrier"], "waybill_no": s["waybill_no"],
                         "lines": s["lines"], "shipped_at": s["shipped_at"]} for s in summaries],
        })
        for order, _, summaries in plans
    ])
    return {key: shipment_id for shipment_id, (key, _) in zip(shipment_ids, keys, strict=True)}


def _held(session: Session, order_ids: list[int]) -> dict[int, _Held]:
    """What shipments each order has already: its last parcel number, platform parcels, live parcels of its own."""
    if not order_ids:
        return {}
    platform = Shipment.warehouse_code == PLATFORM_WAREHOUSE
    routed = (Shipment.warehouse_code != PLATFORM_WAREHOUSE) & (Shipment.status != ShipmentStatus.CANCELLED.value)
    rows = session.execute(
        select(Shipment.order_id, func.max(Shipment.parcel_no), func.count().filter(platform),
               func.count().filter(routed))
        .where(one_of(session, Shipment.order_id, order_ids)).group_by(Shipment.order_id))
    return {order_id: _Held(last, platform_count, routed_count)
            for order_id, last, platform_count, routed_count in rows}


def _attempts(session: Session, order_ids: list[int]) -> dict[int, int]:
    """Each order's last routing decision attempt number (orders never decided on are absent)."""
    if not order_ids:
        return {}
    return dict(session.execute(
        select(RoutingDecision.order_id, func.max(RoutingDecision.attempt))
        .where(one_of(session, RoutingDecision.order_id, order_ids)).group_by(RoutingDecision.order_id)).all())


def _earlier_parcels(session: Session, order_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The parcels the orders' last platform decision listed: a new decision lists them again with the new ones,
    so the latest decision (what the order page shows) names every parcel the platform shipped."""
    if not order_ids:
        return {}
    newest = (select(RoutingDecision.order_id, func.max(RoutingDecision.id).label("id"))
              .where(one_of(session, RoutingDecision.order_id, order_ids),
                     RoutingDecision.outcome == PLATFORM_SHIPPED)
              .group_by(RoutingDecision.order_id).subquery())
    rows = session.execute(select(RoutingDecision.order_id, RoutingDecision.parcels)
                           .join(newest, newest.c.id == RoutingDecision.id))
    return {order_id: list(parcels) for order_id, parcels in rows}


def _unplaced(unnamed: Sequence[Line], earlier: list[dict[str, Any]]) -> tuple[Line, ...]:
    """The unnamed lines less what the order's earlier platform parcels already hold (by SKU)."""
    held = Counter[str]()
    for parcel in earlier:
        for line in parcel["lines"]:
            held[line["sku"]] += line["qty"]
    left: list[Line] = []
    for sku, qty in unnamed:
        taken = min(qty, held[sku])
        held[sku] -= taken
        if qty > taken:
            left.append((sku, qty - taken))
    return tuple(left)


def _with_lines(parcel: ShippedParcel, lines: Sequence[Line]) -> ShippedParcel:
    return ShippedParcel(parcel.carrier_code, parcel.carrier_name, parcel.waybill_no, (*parcel.lines, *lines),
                         parcel.shipped_at)


def _parcel_json(number: int, parcel: ShippedParcel, weights: dict[str, int], at: datetime) -> dict[str, Any]:
    """A parcel as the decision lists it, in the shape routed parcels have (no ETA or cost: nobody estimated them)."""
    return {"parcel_no": number, "warehouse": PLATFORM_WAREHOUSE, "carrier": parcel.carrier_code,
            "carrier_name": parcel.carrier_name, "waybill_no": parcel.waybill_no,
            "lines": [{"sku": sku, "qty": qty} for sku, qty in parcel.lines],
            "weight_g": sum(weights.get(sku, 0) * qty for sku, qty in parcel.lines), "eta_hours": 0, "cost_fen": 0,
            "carriers": [], "shipped_at": (parcel.shipped_at or at).isoformat()}


def _decision_row(order: ShippedOrder, parcels: list[dict[str, Any]], *, attempt: int, actor: Actor,
                  at: datetime) -> dict[str, Any]:
    listed = "；".join(f"{p['carrier_name'] or p['carrier'] or '未知快递'} {p['waybill_no']}" for p in parcels)
    weight = sum(parcel["weight_g"] for parcel in parcels)
    reasons = {
        "warehouses": [], "shortages": [], "alternatives": [], "carriers": [],
        "summary": f"平台已发货，未经 OrderHub 分仓：{listed} / shipped by the platform, not routed by OrderHub",
        "names": {"warehouses": {PLATFORM_WAREHOUSE: PLATFORM_WAREHOUSE_NAME},
                  "carriers": {p["carrier"]: [p["carrier_name"], p["carrier_name"]] for p in parcels if p["carrier"]}},
    }
    return {"order_id": order.order_id, "attempt": attempt, "decided_at": at, "outcome": PLATFORM_SHIPPED,
            "reason": None, "applied": False, "province": order.province[:32], "city": order.city[:32],
            "weight_g": weight, "eta_hours": None, "cost_fen": None, "parcels": parcels, "reasons": reasons,
            "tables": "", "actor": actor.name[:64], "source": PLATFORM_SOURCE, "retry_at": None}
