"""Routing use cases: route approved orders (worker and API), read decisions, record warehouse SLA results.

Routing asks inventory to move the order's reservation onto the chosen warehouses; it never touches
stock rows. One transaction per order (API) or per batch (worker) stores the decision, assigns the
stock, plans the shipments and moves the order approved → allocated, or none of it.

An order nothing can ship stays `approved` (缺货: it waits for stock) with its decision stored, and
the worker tries it again after `routing.retry_after`, doubling up to `routing.retry_max`. An order
whose receiver province is unknown goes `on_hold` instead: only a person can fix the address.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from orderhub.catalog import service as catalog
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, add_rows, add_rows_with_ids
from orderhub.core.logging import log
from orderhub.core.money import fen_to_yuan
from orderhub.core.outbox import OutboxEvent, add_event, outbox_row
from orderhub.fulfillment import regions, repository
from orderhub.fulfillment.decision import Decision, Request, Site, Unroutable, decide, not_reserved
from orderhub.fulfillment.errors import OrderNotRoutable, UnknownShipment, UnknownWarehouse
from orderhub.fulfillment.model import (
    BreakerState,
    RoutingDecision,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    WarehouseBreaker,
)
from orderhub.fulfillment.tables import RoutingTables
from orderhub.inventory import service as inventory
from orderhub.inventory.model import Warehouse
from orderhub.orders import service as orders
from orderhub.orders.model import Order
from orderhub.orders.status import OrderStatus

WORKER = Actor("routing", "worker")
# Approved orders a worker claims and routes in one transaction: enough to spread what each transaction reads
# once (catalog, warehouses, breakers, stock) thin; 1,000 measured no faster than 500.
BATCH = 500


# ---------------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routed:
    """What routing did with one order: its decision, carried out or not; held: waits for a person."""

    decision_id: int
    applied: bool
    held: bool


@dataclass
class BatchReport:
    claimed: int = 0
    routed: int = 0
    unroutable: int = 0
    held: int = 0
    # Raised while routed on its own after its batch failed: rolled back, logged, claimed again later.
    failed: int = 0
    # Orders of batches that failed as a whole and were routed one per transaction instead.
    retried: int = 0
    # Orders decided again under lock: another worker took stock their first decision counted on.
    redecided: int = 0

    def count(self, routed: Routed) -> None:
        if routed.applied:
            self.routed += 1
        elif routed.held:
            self.held += 1
        else:
            self.unroutable += 1

    def add(self, other: BatchReport) -> None:
        for name in ("claimed", "routed", "unroutable", "held", "failed", "retried", "redecided"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def route_order(uow: UnitOfWork, *, order_no: str, tables: RoutingTables, actor: Actor) -> RoutingDecision:
    """Route one approved order now (the API's "route" button); 409 for an order in any other status."""
    with uow:
        order = repository.lock_order(uow.session, order_no)
        if order.status != OrderStatus.APPROVED:
            raise OrderNotRoutable(order_no, order.status)
        (routed,) = _Batch(uow.session, _Context(uow.session, tables, actor, uow.now()), [order]).route()
        row = uow.session.get_one(RoutingDecision, routed.decision_id)
        uow.commit()
        return row


def route_approved_orders(uow: UnitOfWork, *, tables: RoutingTables, actor: Actor = WORKER,
                          limit: int = BATCH) -> BatchReport:
    """Route a batch of due approved orders, oldest first, in one transaction (the worker's job).

    The batch is claimed with `FOR UPDATE SKIP LOCKED`, so workers running this at once never take
    the same order. If the batch fails, it is rolled back and its orders are routed one per
    transaction, so one bad order is logged and left behind without holding up the others.
    """
    report = BatchReport()
    with _cycle_collector_paused(), uow:
        claimed = repository.claim_approved(uow.session, now=uow.now(), limit=limit)
        if not claimed:
            return report
        try:
            batch = _Batch(uow.session, _Context(uow.session, tables, actor, uow.now()), claimed)
            outcomes = batch.route()
            uow.commit()
        except Exception:  # noqa: BLE001 - retried order by order below, where the culprit is logged alone
            log.exception("routing_batch_failed", orders=len(claimed))
            outcomes = []
    if not outcomes:
        report = _one_by_one(uow, [order.id for order in claimed], tables=tables, actor=actor)
        report.retried = len(claimed)
        return report
    report.claimed, report.redecided = len(claimed), batch.redecided
    for routed in outcomes:
        report.count(routed)
    return report


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a batch runs (and left as it was after).

    A batch allocates its orders, decisions and rows by the thousand, all alive until it ends, when
    reference counting frees them; meanwhile the collector would scan them, and every long-lived
    object of the process, again and again: measured, a quarter of a batch's CPU. What cyclic
    garbage the batch leaves is collected as usual once it is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _one_by_one(uow: UnitOfWork, order_ids: Sequence[int], *, tables: RoutingTables, actor: Actor) -> BatchReport:
    report = BatchReport()
    for order_id in order_ids:
        with uow:
            order = repository.claim(uow.session, order_id, now=uow.now())
            if order is None:
                continue
            report.claimed += 1
            try:
                (routed,) = _Batch(uow.session, _Context(uow.session, tables, actor, uow.now()), [order]).route()
                uow.commit()
            except Exception:  # noqa: BLE001 - one order's failure must not stop the others; logged with traceback
                log.exception("routing_failed", order_no=order.order_no)
                report.failed += 1
                continue
        report.count(routed)
    return report


def preview(session: Session, *, order_no: str, tables: RoutingTables, now: datetime) -> Decision:
    """The decision routing would make for the order now, changing nothing (the dry run)."""
    order = orders.get_order(session, order_no)
    context = _Context(session, tables, Actor("dry-run", "cli"), now)
    batch = _Batch(session, context, [order])
    batch.read_stock(lock=False)
    return batch.decide(order)


class _Context:
    """What routing reads once per transaction: the warehouses as routing sees them, and the catalog it needs."""

    def __init__(self, session: Session, tables: RoutingTables, actor: Actor, now: datetime) -> None:
        self.tables = tables
        self.actor = actor
        self.now = now
        self.sites = _sites(session, now)
        self.names = {site.code: site.name for site in self.sites}
        self.carrier_names = {code: [c.name, c.name_en] for code, c in tables.carriers.items()}

    def names_of(self, decision: Decision) -> dict[str, Any]:
        """Stored with each decision, so it reads as it was decided even after warehouses or carriers are renamed:
        the carriers, and the warehouses its parcels and other splits name (every verdict carries its own)."""
        named = {parcel.warehouse for parcel in decision.parcels}
        named.update(code for alternative in decision.alternatives for code in alternative.warehouses)
        return {"warehouses": {code: self.names.get(code, code) for code in sorted(named)},
                "carriers": self.carrier_names}


class _Batch:
    """Routing claimed orders inside the caller's transaction.

    Each order's decision in turn, every order deciding on the stock the ones before it left, and one
    assignment of them all; all the rows they write (decisions, shipments, transitions, events) go as
    a few bulk statements for the whole batch, not row by row through the ORM. Inventory is only
    asked to assign: stock rows are its own.

    The decisions are made twice over, the second time cheaply: first on the stock as it stands,
    unlocked, while other workers may be writing theirs, and their rows with their reasons and
    shipments written; then the batch's stock rows are locked and read again, and each decision is
    kept if what it takes is still there and no warehouse holds more of its SKUs than it saw (stock
    that went since only narrowed its choice: it is still the one it would make), else made again on
    what is left and its rows replaced. So workers decide and write side by side, and wait for each
    other only to check, move the orders and assign.

    Batches run side by side (several workers) without deadlocks because each takes its locks in one
    order: its own orders (claimed `SKIP LOCKED`, so never waited for), then SKU totals, then
    warehouse stock rows, each set in one statement sorted by id, as every inventory movement does.
    """

    def __init__(self, session: Session, context: _Context, batch: Sequence[Order]) -> None:
        self.session = session
        self.context = context
        self.tables = context.tables
        self.actor = context.actor
        self.now = context.now
        self.orders = list(batch)
        line_skus = {line.sku for order in batch for line in order.lines}
        self.components = catalog.components(session, line_skus)
        self.demands = {order.id: self._demand(order) for order in batch}
        self.parts = {sku for demand in self.demands.values() for sku in demand} | line_skus
        self.weights = catalog.sku_weights(session, self.parts)
        self.assigner = inventory.ReservationAssigner(session, sku_codes=self.parts)
        self.stock: dict[str, dict[str, int]] = {}  # read by `read_stock`
        self.redecided = 0  # decisions made again under lock (see above)
        order_ids = [order.id for order in batch]
        self.attempts = repository.attempts_so_far(session, order_ids)
        # Every shipment belongs to a decision: only orders decided before can have planned ones. (Asked of a
        # whole batch, PostgreSQL would also JIT-compile the lookup, its estimate being that of 500 of them.)
        self.planned = repository.with_planned_shipments(session, list(self.attempts))

    def read_stock(self, *, lock: bool) -> None:
        """Free units per SKU per warehouse, which `decide` takes from as each order is planned."""
        self.stock = self.assigner.free(lock=lock)

    def _demand(self, order: Order) -> dict[str, int]:
        """What leaves the warehouses: bundles expanded into their components."""
        wanted: dict[str, int] = {}
        for line in order.lines:
            for part, qty in self.components.get(line.sku, [(line.sku, 1)]):
                wanted[part] = wanted.get(part, 0) + qty * line.qty
        return wanted

    def decide(self, order: Order) -> Decision:
        request = Request(province=order.receiver_province, city=order.receiver_city,
                          demand=self.demands[order.id], weights=self.weights,
                          cod=order.payment_method == "cod", channel=order.channel)
        return decide(request, self.context.sites, self.stock, self.tables, now=self.now)

    def route(self) -> list[Routed]:
        # Only an order holding its central reservation may take warehouse stock; one that came in short
        # tries again here and otherwise waits for stock.
        short = inventory.ensure_reserved_many(self.session, order_ids=[order.id for order in self.orders],
                                               at=self.now, actor=self.actor)
        for order in self.orders:
            if order.id in self.planned:
                # Routed before and sent back to approved (released): the old plan and its assignment go first.
                repository.cancel_planned(self.session, order.id, self.now)
                inventory.release_assignment(self.session, order_id=order.id, at=self.now, actor=self.actor)
        self.read_stock(lock=False)
        seen = {sku: dict(by_warehouse) for sku, by_warehouse in self.stock.items()}
        first = self._decide_all(short)
        # The bulk of the rows (decisions with their reasons, shipments) before the stock is locked.
        decision_ids = self._record(self.orders, first)
        # Locked until commit: what each order is decided on stays true until its assignment is written.
        self.read_stock(lock=True)
        decisions = self._decide_all(short, first, seen)
        again = [index for index, (before, now) in enumerate(zip(first, decisions, strict=True)) if now is not before]
        if again:
            repository.drop_decisions(self.session, [decision_ids[index] for index in again])
            redone = self._record([self.orders[index] for index in again], [decisions[index] for index in again])
            for index, decision_id in zip(again, redone, strict=True):
                decision_ids[index] = decision_id
        orders.apply_transitions(self.session, [
            move for order, decision in zip(self.orders, decisions, strict=True)
            if (move := self._move(order, decision)) is not None
        ], actor=self.actor, at=self.now)
        self.assigner.assign([(order.id, decision.allocations()) for order, decision
                              in zip(self.orders, decisions, strict=True)], at=self.now, actor=self.actor)
        self._announce(decisions)
        return [Routed(decision_id, decision.routed, decision.reason is Unroutable.PROVINCE_UNKNOWN)
                for decision, decision_id in zip(decisions, decision_ids, strict=True)]

    def _decide_all(self, short: set[int], earlier: Sequence[Decision] = (),
                    seen: dict[str, dict[str, int]] | None = None) -> list[Decision]:
        """Each order's decision in turn, taking what it is assigned from `stock`.

        With `earlier` decisions, made on `seen` (the first read, which they are taken from again as they
        were then), each is kept if it is still the one `decide` would make: see the class's docstring.
        """
        decisions = []
        for index, order in enumerate(self.orders):
            before = earlier[index] if earlier else None
            if before is not None and seen is not None and self._still_stands(order, before, seen):
                decision = before
            else:
                if before is not None:
                    self.redecided += 1
                decision = self.decide(order)
                if decision.routed and order.id in short:
                    decision = not_reserved(decision)
            for sku, warehouse, qty in decision.allocations():
                self.stock[sku][warehouse] -= qty
            if before is not None and seen is not None:
                for sku, warehouse, qty in before.allocations():
                    seen[sku][warehouse] -= qty
            decisions.append(decision)
        return decisions

    def _still_stands(self, order: Order, decision: Decision, seen: dict[str, dict[str, int]]) -> bool:
        for sku in self.demands[order.id]:
            then = seen.get(sku, {})
            if any(units > then.get(warehouse, 0) for warehouse, units in self.stock.get(sku, {}).items()):
                return False
        return all(self.stock.get(sku, {}).get(warehouse, 0) >= qty for sku, warehouse, qty in decision.allocations())

    def _move(self, order: Order, decision: Decision) -> tuple[Order, OrderStatus, str] | None:
        if decision.routed:
            return order, OrderStatus.ALLOCATED, self.summary(decision)
        if decision.reason is Unroutable.PROVINCE_UNKNOWN:
            # Only a person can fix the address; the order waits on hold, not for a retry.
            return order, OrderStatus.ON_HOLD, (
                f"无法分仓：收件省份「{order.receiver_province}」无法识别，请修改地址后释放")
        return None

    def _record(self, batch: Sequence[Order], decisions: Sequence[Decision]) -> list[int]:
        """The decisions' rows and their planned shipments, a few bulk statements (COPY on PostgreSQL); their ids."""
        pairs = list(zip(batch, decisions, strict=True))
        decision_ids = add_rows_with_ids(self.session, RoutingDecision.__table__,
                                         [self._row(order, decision) for order, decision in pairs])
        shipments, parcel_lines = [], []
        for (order, decision), decision_id in zip(pairs, decision_ids, strict=True):
            for number, parcel in enumerate(decision.parcels if decision.routed else (), start=1):
                shipments.append({
                    "order_id": order.id, "decision_id": decision_id, "parcel_no": number,
                    "warehouse_code": parcel.warehouse, "carrier_code": parcel.carrier,
                    "status": ShipmentStatus.PLANNED.value, "weight_g": parcel.weight_g,
                    "eta_hours": parcel.eta_hours, "estimated_cost_fen": parcel.cost_fen,
                    "created_at": self.now, "updated_at": self.now,
                })
                parcel_lines.append(parcel.lines)
        shipment_ids = add_rows_with_ids(self.session, Shipment.__table__, shipments)
        add_rows(self.session, ShipmentLine.__table__, [
            {"shipment_id": shipment_id, "sku": sku, "qty": qty}
            for shipment_id, lines in zip(shipment_ids, parcel_lines, strict=True) for sku, qty in lines
        ])
        return decision_ids

    def _announce(self, decisions: Sequence[Decision]) -> None:
        """The batch's events: each order routed, and each unroutable one the first time for its cause."""
        events = []
        for order, decision in zip(self.orders, decisions, strict=True):
            if decision.routed:
                events.append(outbox_row("fulfillment.order_routed", order.order_no, self.now, {
                    "order_no": order.order_no,
                    "parcels": [{"warehouse": p.warehouse, "carrier": p.carrier,
                                 "lines": [{"sku": sku, "qty": qty} for sku, qty in p.lines]}
                                for p in decision.parcels],
                }))
            elif self._first_time(order, decision):
                # Once per cause, not on every retry: the alerts domain turns it into a 缺货 notice.
                events.append(outbox_row("fulfillment.order_unroutable", order.order_no, self.now, {
                    "order_no": order.order_no, "reason": decision.reason.value if decision.reason else None,
                    "shortages": [s.to_json() for s in decision.shortages],
                }))
        add_rows(self.session, OutboxEvent.__table__, events)

    def _first_time(self, order: Order, decision: Decision) -> bool:
        return self.attempts.get(order.id, repository.AttemptsSoFar()).last_reason != (
            decision.reason.value if decision.reason else None)

    def _row(self, order: Order, decision: Decision) -> dict[str, Any]:
        so_far = self.attempts.get(order.id, repository.AttemptsSoFar())
        retry_at = None
        if not decision.routed and decision.reason is not Unroutable.PROVINCE_UNKNOWN:
            retry_at = self.now + self._backoff(so_far.last - so_far.last_applied + 1)
        return {
            "order_id": order.id, "attempt": so_far.last + 1, "decided_at": self.now,
            "outcome": decision.outcome.value, "reason": decision.reason.value if decision.reason else None,
            "applied": decision.routed, "province": decision.province[:32], "city": decision.city[:32],
            "weight_g": decision.weight_g, "eta_hours": decision.eta_hours, "cost_fen": decision.cost_fen,
            "parcels": [parcel.to_json() for parcel in decision.parcels],
            "reasons": {**decision.reasons_json(), "names": self.context.names_of(decision)},
            "tables": f"{self.tables.source}@{self.tables.fingerprint}"[:120], "actor": self.actor.name[:64],
            "source": self.actor.source, "retry_at": retry_at,
        }

    def _backoff(self, attempt: int) -> timedelta:
        return min(self.tables.retry_after * 2 ** (attempt - 1), self.tables.retry_max)

    def summary(self, decision: Decision) -> str:
        """The timeline's reason: where each parcel goes out and with whom."""
        parts = [
            f"{self.context.names.get(p.warehouse, p.warehouse)} · {self._carrier_name(p.carrier)}，"
            f"预计 {eta_text(p.eta_hours)}，运费 ¥{fen_to_yuan(p.cost_fen)}"
            for p in decision.parcels
        ]
        return ("分仓：" if len(parts) == 1 else f"拆单 {len(parts)} 包：") + "；".join(parts)

    def _carrier_name(self, code: str) -> str:
        carrier = self.tables.carriers.get(code)
        return carrier.name if carrier else code


def eta_text(hours: int) -> str:
    """Hours as a person says them: 12 小时, 1 天, 1.5 天."""
    if hours < 24:
        return f"{hours} 小时"
    return f"{hours / 24:g} 天" if hours % 12 == 0 else f"{hours} 小时"


def _sites(session: Session, now: datetime) -> list[Site]:
    breakers = repository.breakers(session)
    sites = []
    for warehouse in inventory.list_warehouses(session):
        breaker = breakers.get(warehouse.code)
        open_until = breaker.tripped_until if breaker and breaker.state(now) is BreakerState.OPEN else None
        served = (regions.province(name) for name in warehouse.regions or ())
        sites.append(Site(
            code=warehouse.code, name=warehouse.name, kind=warehouse.kind,
            province=regions.province(warehouse.province) or warehouse.province,
            serves=frozenset(name for name in served if name), active=warehouse.active, tripped_until=open_until,
        ))
    return sites


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRouting:
    order: Order
    decisions: list[RoutingDecision]  # newest first
    shipments: list[Shipment]

    @property
    def latest(self) -> RoutingDecision | None:
        return self.decisions[0] if self.decisions else None


def order_routing(session: Session, order_no: str) -> OrderRouting:
    order = orders.get_order(session, order_no)
    return OrderRouting(order, repository.decisions(session, order.id), repository.shipments(session, order.id))


def order_parcel(session: Session, *, order_no: str, parcel_no: int, lock: bool = False) -> tuple[Order, Shipment]:
    """The order and its parcel `{order_no}-{parcel_no}`; with `lock`, the order row-locked first, as scans do."""
    order = repository.lock_order(session, order_no) if lock else orders.get_order(session, order_no)
    shipment = repository.parcel(session, order.id, parcel_no)
    if shipment is None:
        raise UnknownShipment(f"{order_no}-{parcel_no}")
    return order, shipment


def latest_decision(session: Session, *, order_id: int) -> RoutingDecision | None:
    return repository.latest_decision(session, order_id)


# ---------------------------------------------------------------------------------------------
# Warehouse SLA and the circuit breaker
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakerView:
    warehouse: str
    name: str
    state: BreakerState
    consecutive_breaches: int
    tripped_until: datetime | None
    trips: int


def record_sla_result(uow: UnitOfWork, *, warehouse: str, breached: bool, reference: str, at: datetime,
                      tables: RoutingTables, actor: Actor = WORKER) -> BreakerView:
    """Count whether one piece of the warehouse's work met its SLA; `reference` counts once.

    Enough breaches in a row (`circuit_breaker.breaches`) take the warehouse out of routing for
    `circuit_breaker.open_for`, and its owner is told through the `fulfillment.warehouse_tripped`
    event. After that it routes again, half-open: the next breach trips it at once, a met SLA closes it.
    """
    with uow:
        session = uow.session
        found = _warehouse(session, warehouse)
        breaker = repository.lock_breaker(session, warehouse, uow.now())
        fresh = repository.add_sla_result(session, warehouse_code=warehouse, reference=reference, breached=breached,
                                          at=at, recorded_at=uow.now(), actor=actor.name[:64])
        if fresh and breaker.record(breached=breached, at=at, policy=tables.breaker):
            assert breaker.tripped_until is not None
            add_event(session, topic="fulfillment.warehouse_tripped", key=warehouse, at=uow.now(), payload={
                "warehouse": warehouse, "name": found.name, "owner": found.owner,
                "breaches": breaker.consecutive_breaches,
                "references": repository.recent_breaches(session, warehouse, breaker.consecutive_breaches),
                "until": breaker.tripped_until.isoformat(),
            })
            log.warning("warehouse_tripped", warehouse=warehouse, until=breaker.tripped_until.isoformat())
        uow.commit()
        return _view(breaker, found.name, uow.now())


def breaker_views(session: Session, *, now: datetime) -> list[BreakerView]:
    """Every warehouse's breaker, closed ones included."""
    breakers = repository.breakers(session)
    views = []
    for warehouse in inventory.list_warehouses(session):
        breaker = breakers.get(warehouse.code)
        if breaker is None:
            views.append(BreakerView(warehouse.code, warehouse.name, BreakerState.CLOSED, 0, None, 0))
        else:
            views.append(_view(breaker, warehouse.name, now))
    return views


def _view(breaker: WarehouseBreaker, name: str, now: datetime) -> BreakerView:
    state = breaker.state(now)
    return BreakerView(breaker.warehouse_code, name, state, breaker.consecutive_breaches,
                       breaker.tripped_until if state is BreakerState.OPEN else None, breaker.trips)


def _warehouse(session: Session, code: str) -> Warehouse:
    found = next((w for w in inventory.list_warehouses(session) if w.code == code), None)
    if found is None:
        raise UnknownWarehouse(code)
    return found
