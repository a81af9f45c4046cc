"""Logistics use cases: bind waybills, take in carrier tracking (push and poll), read an order's parcels.

Every carrier event is stored once, by a fingerprint of waybill, carrier, event time and text, under a
unique index (`INSERT … ON CONFLICT DO NOTHING`): however many pushes, polls and re-deliveries carry
it, and however they race. A waybill's state follows its newest event, so events arriving out of
order never move it backwards.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, text, union_all, update
from sqlalchemy.orm import Session

from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, UTCDateTime, insert_ignoring_conflicts, one_of
from orderhub.core.outbox import OutboxEvent
from orderhub.fulfillment import platform_shipments
from orderhub.fulfillment import service as fulfillment
from orderhub.fulfillment.model import IN_WAREHOUSE
from orderhub.logistics.carriers import carrier_table
from orderhub.logistics.errors import (
    MalformedPush,
    MalformedWaybill,
    PushSignatureInvalid,
    UnknownCarrier,
    WaybillNotFound,
    WaybillTaken,
)
from orderhub.logistics.kuaidi100 import WAYBILL_NUMBER, TrackSnapshot, parse_push, verify
from orderhub.logistics.model import (
    PushOutcome,
    TrackingEvent,
    TrackingPush,
    Waybill,
    WaybillInterception,
    WaybillOrder,
    WaybillSource,
    event_fingerprint,
)
from orderhub.logistics.states import TrackingState, state_tables
from orderhub.orders import service as orders
from orderhub.orders.draft import OrderDraft
from orderhub.orders.status import OrderStatus

# Kuaidi100 pushes about every 4 h while a track moves; this long without one, the poll job asks.
FIRST_POLL_AFTER = timedelta(hours=4)
QUIET_AFTER_PUSH = timedelta(hours=6)
POLL_EVERY = timedelta(hours=4)
POLL_BACKOFF = timedelta(minutes=15)
# The query API answers one waybill at a time; a poll round claims at most this many.
POLL_BATCH = 50
# A platform parcel that left longer ago than this is recorded but never polled: its track settled
# long since, and an import of last year's orders would spend the query quota on history.
POLL_HORIZON = timedelta(days=30)
# Who moves an order to delivered when its parcels are signed for.
TRACKING_ACTOR = Actor("tracking", "logistics")
# Platform statuses that say the order left: its waybills are parcels. Before that (paid, or held by
# the platform) OrderHub may still route the order itself, so its waybills wait unbound.
LEFT_BY_PLATFORM = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED, OrderStatus.CANCELLED,
                              OrderStatus.REFUNDING, OrderStatus.REFUNDED})


def _digest(snapshot: TrackSnapshot) -> str:
    facts = "\x1e".join(f"{e.at.isoformat()}\x1f{e.text}\x1f{e.status}" for e in snapshot.events)
    whole = f"{snapshot.com}\x1d{snapshot.number}\x1d{snapshot.state_code}\x1d{facts}"
    return hashlib.sha256(whole.encode()).hexdigest()


def _carrier_code(carrier: str) -> str:
    code = carrier_table().resolve(carrier)
    if code is None:
        raise UnknownCarrier(f"unknown carrier {carrier!r} / 未知的快递公司",
                             details=[{"field": "carrier", "rule": "carrier.unknown", "message": carrier}])
    return code


def _check_number(number: str) -> str:
    number = number.strip()
    if not WAYBILL_NUMBER.match(number):
        raise MalformedWaybill(f"waybill number {number!r} must be 4–40 letters, digits or '-' / 运单号格式错误",
                               details=[{"field": "waybill_no", "rule": "waybill.format", "message": number}])
    return number


# ---------------------------------------------------------------------------------------------
# Binding waybills
# ---------------------------------------------------------------------------------------------


def bind_waybill(uow: UnitOfWork, *, order_no: str, carrier: str, waybill_no: str, actor: Actor,
                 source: WaybillSource = WaybillSource.MANUAL) -> Waybill:
    """Bind a carrier's number to an order (and to its shipment with that carrier still in the warehouse, if any).

    Binding the same number to the same order again returns the waybill already bound; to another
    order it is refused. Pushes that arrived before the binding are taken in now.
    """
    code = _carrier_code(carrier)
    number = _check_number(waybill_no)
    with uow:
        held = bind(uow.session, order_no=order_no, carrier=code, waybill_no=number, actor=actor, source=source,
                    now=uow.now())
        uow.commit()
        return held


def bind(session: Session, *, order_no: str, carrier: str, waybill_no: str, actor: Actor, source: WaybillSource,
         now: datetime, shipment_id: int | None = None) -> Waybill:
    """`bind_waybill` inside the caller's transaction (a ship scan binds the waybill it carries to its shipment)."""
    code = _carrier_code(carrier)
    number = _check_number(waybill_no)
    routing = fulfillment.order_routing(session, order_no)
    order = routing.order
    held = session.scalar(select(Waybill).where(Waybill.carrier_code == code, Waybill.number == number))
    if held is None:
        if shipment_id is None:
            bound = set(session.scalars(select(Waybill.shipment_id).where(Waybill.order_id == order.id)))
            shipment = next((s for s in routing.shipments if s.carrier_code == code
                             and s.status in IN_WAREHOUSE and s.id not in bound), None)
            shipment_id = shipment.id if shipment else None
        row = {"order_id": order.id, "order_no": order.order_no, "shipment_id": shipment_id,
               "carrier_code": code, "carrier_name": carrier_table().name_of(code), "number": number,
               "source": source.value, "state": TrackingState.PENDING.value, "state_at": None,
               "last_push_digest": "", "last_push_at": None, "next_poll_at": now + FIRST_POLL_AFTER,
               "poll_failures": 0, "created_at": now, "updated_at": now}
        # Two people binding the same number at once: the unique index lets one in, the other reads it.
        created = session.scalar(insert_ignoring_conflicts(session, Waybill.__table__).returning(
            Waybill.__table__.c.id), row)
        held = session.scalar(select(Waybill).where(Waybill.carrier_code == code, Waybill.number == number))
        assert held is not None
        if created is not None:
            _bound(session, held, source, actor, now)
    if held.order_id != order.id:
        raise WaybillTaken(f"{code} {number} is already bound to order {held.order_no} "
                           f"/ 运单号已绑定到订单 {held.order_no}",
                           details=[{"carrier": code, "waybill_no": number, "order_no": held.order_no}])
    if shipment_id is not None and held.shipment_id is None:
        held.shipment_id, held.updated_at = shipment_id, now
    elif shipment_id is not None and held.shipment_id != shipment_id:
        raise WaybillTaken(f"{code} {number} is already bound to another parcel of order {held.order_no} "
                           f"/ 运单号已绑定到该订单的另一个包裹",
                           details=[{"carrier": code, "waybill_no": number, "order_no": held.order_no}])
    return held


def shipment_waybill(session: Session, *, shipment_id: int) -> Waybill | None:
    """The waybill bound to a shipment (its first, should a parcel carry two)."""
    return session.scalar(select(Waybill).where(Waybill.shipment_id == shipment_id).order_by(Waybill.id).limit(1))


def _bound(session: Session, waybill: Waybill, source: WaybillSource, actor: Actor, now: datetime) -> None:
    session.add(_outbox("logistics.waybill_bound", waybill, now, {"source": source.value, "actor": actor.name,
                                                              "shipment_id": waybill.shipment_id}))
    _take_parked(session, waybill, now)


def record_shipped_orders(session: Session, *, drafts: Mapping[str, OrderDraft], actor: Actor, at: datetime,
                          stale: Collection[str] = (), order_ids: Mapping[str, int] | None = None,
                          created: Collection[str] = ()) -> None:
    """Record the waybills of orders that arrived already shipped, and their parcels (in intake's transaction).

    `drafts` are the orders as this arrival brought them, by order number. A waybill shared by several
    lines is one parcel; one already recorded is left as it is. A carrier we cannot name is kept with
    the platform's words (and not polled) rather than dropped; a number that cannot be a waybill is
    skipped. Each waybill becomes a shipped parcel (fulfillment's platform shipments) once the platform
    says the order left; its waybill is bound to it, so tracking and anomalies see a parcel like any
    other. `stale` names arrivals older than the version held: their lines may no longer be the
    order's, so their waybills are kept and their parcels wait for a current arrival. Every write is
    one bulk statement (a bulk import brings thousands). A waybill another order brought first (合并发货:
    one parcel for several orders of one buyer) is linked to this order too, with a parcel of its own.

    `order_ids` are the orders' ids when the caller has them (else they are looked up), and `created`
    the orders created in the caller's transaction: nothing of theirs can have been recorded before,
    so nothing is looked up for them. Nothing is done, nor read, when no draft brings a waybill.
    """
    drafts = {order_no: draft for order_no, draft in drafts.items() if draft.waybills}
    if not drafts:
        return
    if order_ids is None:
        order_ids = orders.order_ids(session, list(drafts))
    claims: dict[tuple[int, str, str], dict[str, Any]] = {}  # (order id, carrier code, number) → waybill row
    for order_no, draft in drafts.items():
        if order_no not in order_ids:
            continue
        for parcel in draft.waybills:
            number = parcel.number.strip()
            if not WAYBILL_NUMBER.match(number):
                continue
            code = carrier_table().resolve(parcel.carrier) or ""
            claims.setdefault((order_ids[order_no], code, number), {
                "order_id": order_ids[order_no], "order_no": order_no, "carrier_code": code,
                "carrier_name": parcel.carrier.strip()[:64], "number": number,
                "polled": bool(code) and (parcel.shipped_at is None or parcel.shipped_at > at - POLL_HORIZON),
            })
    firsts: dict[tuple[str, str], dict[str, Any]] = {}
    for (_, code, number), row in claims.items():
        firsts.setdefault((code, number), row)
    landed = _insert_waybills(session, list(firsts.values()), at)
    links = _link_merged(session, [row for key, row in claims.items() if key not in landed], at)
    left = {order_no: draft for order_no, draft in drafts.items()
            if order_no in order_ids and order_no not in stale and draft.status in LEFT_BY_PLATFORM}
    if left:
        new = {order_ids[order_no] for order_no in left if order_no in created}
        held_before = [order_ids[order_no] for order_no in left if order_no not in created]
        # A new order's unbound waybills and links are the ones just made; an order held before may have earlier ones.
        unbound = {key: waybill_id for key, waybill_id in landed.items() if key[0] in new}
        unbound |= _unbound_waybills(session, held_before)
        unbound_links = {key: link_id for key, link_id in links.items() if key[0] in new}
        unbound_links |= _unbound_links(session, held_before)
        made = _record_parcels(session, left, order_ids, unbound.keys() | unbound_links.keys(), new, actor=actor,
                               at=at)
        _bind_shipments(session, {unbound[key]: shipment_id for key, shipment_id in made.items() if key in unbound},
                        at)
        _bind_links(session, {unbound_links[key]: shipment_id for key, shipment_id in made.items()
                              if key in unbound_links})


# PostgreSQL: a batch's platform waybills in one statement of fixed text, arrays rather than a row of
# parameters per waybill; the unique (carrier, number) leaves a waybill already held as it is.
_INSERT_WAYBILLS = text(
    "INSERT INTO waybill (order_id, order_no, shipment_id, carrier_code, carrier_name, number, source, state, "
    "state_at, last_push_digest, last_push_at, next_poll_at, poll_failures, created_at, updated_at) "
    "SELECT order_id, order_no, NULL, carrier_code, carrier_name, number, :source, :state, NULL, '', NULL, "
    "CASE WHEN polled THEN :next_poll_at END, 0, :at, :at "
    "FROM unnest(CAST(:order_ids AS bigint[]), CAST(:order_nos AS varchar[]), CAST(:codes AS varchar[]), "
    "CAST(:names AS varchar[]), CAST(:numbers AS varchar[]), CAST(:polled AS boolean[])) "
    "AS platform (order_id, order_no, carrier_code, carrier_name, number, polled) "
    "ON CONFLICT DO NOTHING RETURNING id, order_id, carrier_code, number"
).bindparams(bindparam("at", type_=UTCDateTime()), bindparam("next_poll_at", type_=UTCDateTime()))


def _insert_waybills(session: Session, rows: list[dict[str, Any]], at: datetime) -> dict[tuple[int, str, str], int]:
    """Insert platform waybills (order_id, order_no, carrier_code, carrier_name, number, polled), skipping
    those held already; `{(order id, carrier code, number): waybill id}` of those inserted. A waybill not
    `polled` (a carrier we cannot name, or a parcel long gone) is never asked about."""
    if not rows:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        landed = session.execute(_INSERT_WAYBILLS, {
            "order_ids": [row["order_id"] for row in rows], "order_nos": [row["order_no"] for row in rows],
            "codes": [row["carrier_code"] for row in rows], "names": [row["carrier_name"] for row in rows],
            "numbers": [row["number"] for row in rows], "polled": [row["polled"] for row in rows],
            "source": WaybillSource.PLATFORM.value,
            "state": TrackingState.PENDING.value, "next_poll_at": at + FIRST_POLL_AFTER, "at": at,
        })
    else:
        table = Waybill.__table__
        statement = insert_ignoring_conflicts(session, table).returning(
            table.c.id, table.c.order_id, table.c.carrier_code, table.c.number)
        landed = session.execute(statement, [{key: value for key, value in row.items() if key != "polled"} | {
            "shipment_id": None, "source": WaybillSource.PLATFORM.value, "state": TrackingState.PENDING.value,
            "state_at": None, "last_push_digest": "", "last_push_at": None,
            "next_poll_at": at + FIRST_POLL_AFTER if row["polled"] else None, "poll_failures": 0,
            "created_at": at, "updated_at": at,
        } for row in rows])
    return {(order_id, code, number): waybill_id for waybill_id, order_id, code, number in landed}


def _unbound_waybills(session: Session, order_ids: list[int]) -> dict[tuple[int, str, str], int]:
    """The orders' platform waybills not bound to a parcel yet, by (order id, carrier code, number)."""
    if not order_ids:
        return {}
    return {(order_id, code, number): waybill_id for waybill_id, order_id, code, number in session.execute(
        select(Waybill.id, Waybill.order_id, Waybill.carrier_code, Waybill.number)
        .where(one_of(session, Waybill.order_id, order_ids),
               Waybill.source == WaybillSource.PLATFORM.value, Waybill.shipment_id.is_(None)))}


def _link_merged(session: Session, rows: list[dict[str, Any]], at: datetime) -> dict[tuple[int, str, str], int]:
    """Link orders to the waybills other orders hold (`rows` as `_insert_waybills` takes them, not inserted);
    `{(order id, carrier code, number): link id}` of the links made. A waybill the order holds itself, or
    is linked to already, makes none."""
    if not rows:
        return {}
    # Both columns, so the lookup walks the unique (carrier, number) index.
    owners = {(code, number): (waybill_id, order_id) for waybill_id, order_id, code, number in session.execute(
        select(Waybill.id, Waybill.order_id, Waybill.carrier_code, Waybill.number)
        .where(Waybill.carrier_code.in_(sorted({row["carrier_code"] for row in rows})),
               one_of(session, Waybill.number, sorted({row["number"] for row in rows}))))}
    wanted = []
    for row in rows:
        owner = owners.get((row["carrier_code"], row["number"]))
        if owner is not None and owner[1] != row["order_id"]:
            wanted.append({"waybill_id": owner[0], "order_id": row["order_id"], "order_no": row["order_no"],
                           "shipment_id": None, "created_at": at})
    if not wanted:
        return {}
    table = WaybillOrder.__table__
    made = session.execute(insert_ignoring_conflicts(session, table).returning(
        table.c.id, table.c.waybill_id, table.c.order_id), wanted)
    numbers = {waybill_id: key for key, (waybill_id, _) in owners.items()}
    return {(order_id, *numbers[waybill_id]): link_id for link_id, waybill_id, order_id in made}


def _unbound_links(session: Session, order_ids: list[int]) -> dict[tuple[int, str, str], int]:
    """The orders' links to other orders' waybills with no parcel of theirs yet, by (order id, carrier, number)."""
    if not order_ids:
        return {}
    return {(order_id, code, number): link_id for link_id, order_id, code, number in session.execute(
        select(WaybillOrder.id, WaybillOrder.order_id, Waybill.carrier_code, Waybill.number)
        .join(Waybill, Waybill.id == WaybillOrder.waybill_id)
        .where(one_of(session, WaybillOrder.order_id, order_ids), WaybillOrder.shipment_id.is_(None)))}


def _bind_links(session: Session, shipments: Mapping[int, int]) -> None:
    """Set each link's shipment (link id → shipment id): merged parcels are few, one UPDATE row each."""
    if shipments:
        session.execute(update(WaybillOrder), [{"id": link_id, "shipment_id": shipment_id}
                                               for link_id, shipment_id in shipments.items()])


def _record_parcels(session: Session, drafts: Mapping[str, OrderDraft], order_ids: Mapping[str, int],
                    unbound: Collection[tuple[int, str, str]], created: Collection[int], *, actor: Actor,
                    at: datetime) -> dict[tuple[int, str, str], int]:
    """A shipment for each of the orders' `unbound` platform waybills (order id, carrier code, number);
    `{key: shipment id}` of those made, for the caller to bind.

    Only the order's own unbound platform waybills (and links) count, so the same order arriving again
    adds nothing and an update that brings a new waybill adds that parcel. The order's row lock, which
    intake holds, keeps two arrivals of one order from both making its parcels. `created` are the
    ids of orders created in this transaction.
    """
    if not unbound:
        return {}
    shipped: list[platform_shipments.ShippedOrder] = []
    for order_no, draft in drafts.items():
        parcels: dict[tuple[int, str, str], platform_shipments.ShippedParcel] = {}
        named = Counter[int]()
        for waybill in draft.waybills:
            carries = [(line_no, qty) for line_no, qty in waybill.lines if 0 < line_no <= len(draft.lines) and qty > 0]
            for line_no, qty in carries:
                named[line_no] += qty
            code = carrier_table().resolve(waybill.carrier) or ""
            key = (order_ids[order_no], code, waybill.number.strip())
            if key not in unbound:
                continue
            lines = tuple((_sku(draft, line_no), qty) for line_no, qty in carries)
            held = parcels.get(key)
            # Listed twice (the carrier named two ways): one parcel with the lines of both.
            parcels[key] = platform_shipments.ShippedParcel(
                carrier_code=code, carrier_name=carrier_table().name_of(code) if code else waybill.carrier.strip(),
                waybill_no=key[2], lines=(*held.lines, *lines) if held else lines,
                shipped_at=held.shipped_at if held and held.shipped_at else waybill.shipped_at)
        if parcels:
            unnamed = tuple((_sku(draft, line_no), line.qty - named[line_no])
                            for line_no, line in enumerate(draft.lines, start=1) if line.qty > named[line_no])
            shipped.append(platform_shipments.ShippedOrder(
                order_id=order_ids[order_no], order_no=order_no, province=draft.receiver.province,
                city=draft.receiver.city, parcels=tuple(parcels.values()), unnamed=unnamed))
    return platform_shipments.record_platform_shipments(session, orders=shipped, actor=actor, at=at, created=created)


def _bind_shipments(session: Session, shipments: Mapping[int, int], at: datetime) -> None:
    """Set each waybill's shipment (waybill id → shipment id): on PostgreSQL one statement joining two arrays,
    not one UPDATE per waybill (a bulk import binds thousands a batch)."""
    if not shipments:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(Waybill), [{"id": waybill_id, "shipment_id": shipment_id, "updated_at": at}
                                          for waybill_id, shipment_id in shipments.items()])
        return
    session.execute(text(
        "UPDATE waybill SET shipment_id = bound.shipment_id, updated_at = :at "
        "FROM unnest(CAST(:waybills AS bigint[]), CAST(:shipments AS bigint[])) AS bound(waybill_id, shipment_id) "
        "WHERE waybill.id = bound.waybill_id"
    ).bindparams(bindparam("at", type_=UTCDateTime())),
        {"waybills": list(shipments), "shipments": list(shipments.values()), "at": at})


def _sku(draft: OrderDraft, line_no: int) -> str:
    line = draft.lines[line_no - 1]
    return (line.sku or line.platform_sku)[:64]


# ---------------------------------------------------------------------------------------------
# Taking tracking in
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Taken:
    new_events: int
    duplicates: int
    state: TrackingState


def take_snapshot(session: Session, waybill: Waybill, snapshot: TrackSnapshot, *, source: str,
                  now: datetime) -> Taken:
    """Store the snapshot's events not yet held and let the waybill follow its newest event."""
    tables = state_tables()
    newest = max(snapshot.events, key=lambda e: e.at, default=None)
    rows: dict[str, dict[str, Any]] = {}
    for event in snapshot.events:
        state = tables.of_event(status=event.status, text=event.text)
        if event is newest:
            state = tables.of_code(snapshot.state_code) or state
        fingerprint = event_fingerprint(number=waybill.number, carrier=waybill.carrier_code, at=event.at,
                                        text=event.text)
        rows.setdefault(fingerprint, {
            "waybill_id": waybill.id, "fingerprint": fingerprint, "occurred_at": event.at, "state": state.value,
            "text": event.text, "location": event.location[:100], "raw_status": event.status[:16],
            "source": source, "received_at": now,
        })
    landed: list[dict[str, Any]] = []
    if rows:
        taken = _insert_events(session, list(rows.values()))
        landed = [row for fingerprint, row in rows.items() if fingerprint in taken]
    previous = waybill.state
    changed = False
    if landed:
        latest = max(landed, key=lambda row: row["occurred_at"])
        changed = waybill.follow(TrackingState(latest["state"]), latest["occurred_at"])
        waybill.updated_at = now
    if changed:
        session.add(_outbox("logistics.tracking_changed", waybill, now,
                            {"from": previous, "to": waybill.state, "at": waybill.state_at}))
        _settle_interception(session, waybill, latest["text"], now)
        if waybill.state == TrackingState.DELIVERED.value:
            for order_id, order_no in carried_orders(session, waybill):
                deliver_order(session, order_id=order_id, order_no=order_no, now=now)
    if waybill.final:
        waybill.next_poll_at = None
    return Taken(len(landed), len(snapshot.events) - len(landed), TrackingState(waybill.state))


# One array per column: the statement's text is the same whatever the number of events, so psycopg
# parses it once and the server keeps it prepared; a multi-row VALUES list would be a new, long text
# to parse on every push (about a millisecond of a push's few).
_INSERT_EVENTS = text(
    "INSERT INTO tracking_event (waybill_id, fingerprint, occurred_at, state, text, location, raw_status, source, "
    "received_at) SELECT * FROM unnest(CAST(:waybill_id AS bigint[]), CAST(:fingerprint AS varchar[]), "
    "CAST(:occurred_at AS timestamptz[]), CAST(:state AS varchar[]), CAST(:text AS text[]), "
    "CAST(:location AS varchar[]), CAST(:raw_status AS varchar[]), CAST(:source AS varchar[]), "
    "CAST(:received_at AS timestamptz[])) ON CONFLICT DO NOTHING RETURNING fingerprint"
)


def _insert_events(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the events not stored yet (`ON CONFLICT DO NOTHING` on the fingerprint); the fingerprints that landed."""
    if session.get_bind().dialect.name != "postgresql":
        statement = insert_ignoring_conflicts(session, TrackingEvent.__table__).returning(
            TrackingEvent.__table__.c.fingerprint)
        return set(session.scalars(statement, rows))
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    return set(session.scalars(_INSERT_EVENTS, columns))


def _settle_interception(session: Session, waybill: Waybill, text: str, now: datetime) -> None:
    """An interception asked of the carrier is settled by the parcel's track: turned back, or signed for."""
    interception = session.scalar(select(WaybillInterception).where(WaybillInterception.waybill_id == waybill.id)
                                  .with_for_update())
    if interception is not None and interception.settle(TrackingState(waybill.state), at=now, text=text):
        session.add(_outbox("logistics.interception_resolved", waybill, now, {"interception": interception.state,
                                                                              "resolution": interception.resolution}))


def deliver_order(session: Session, *, order_id: int, order_no: str, now: datetime) -> bool:
    """Move a shipped order to delivered once every one of its parcels is signed for; True if it moved.

    Called where a delivered event lands (in that transaction) and by the anomaly scan, which
    catches an order whose last two parcels were signed for in concurrent transactions.
    """
    states = session.scalars(select(Waybill.state).where(_carried_for(order_id))).all()
    if not states or any(state != TrackingState.DELIVERED.value for state in states):
        return False
    order = orders.get_order(session, order_no)
    if order.status != OrderStatus.SHIPPED.value:
        return False
    orders.apply_transition(session, order, target=OrderStatus.DELIVERED, actor=TRACKING_ACTOR, at=now,
                            reason=f"快递签收 / signed for ({len(states)} parcel{'s' if len(states) > 1 else ''})")
    return True


@dataclass(frozen=True)
class PushReceipt:
    outcome: PushOutcome
    new_events: int = 0
    duplicates: int = 0
    state: TrackingState | None = None


def receive_kuaidi100_push(uow: UnitOfWork, *, param: str | None, sign: str | None, salt: str | None) -> PushReceipt:
    """One kuaidi100 subscription push: verified, recorded, its new events taken in.

    A push whose signature fails is refused (`PushSignatureInvalid`) and one that cannot be read
    (`MalformedPush`), both after the push is stored for audit. A push for a waybill not bound yet
    is kept and taken in when it is bound. The same full push again within 30 minutes is ignored.
    """
    with uow:
        session = uow.session
        now = uow.now()
        record = TrackingPush(received_at=now, param=param or "", sign=(sign or "")[:64],
                              outcome=PushOutcome.MALFORMED.value, reason="", new_events=0)
        receipt, error = _receive(session, record, param, sign, salt, now)
        record.reason = record.reason[:500]
        # Added once its outcome is known: one INSERT at commit, not an INSERT now and an UPDATE then.
        session.add(record)
        uow.commit()
    if error is not None:
        raise error
    return receipt


def _receive(session: Session, record: TrackingPush, param: str | None, sign: str | None, salt: str | None,
             now: datetime) -> tuple[PushReceipt, PushSignatureInvalid | MalformedPush | None]:
    # formats.md §6: a subscription made without a salt is pushed unsigned, and the check is skipped.
    if salt and not (param is not None and sign and verify(param, sign, salt)):
        record.outcome, record.reason = PushOutcome.REJECTED.value, "sign does not verify"
        return PushReceipt(PushOutcome.REJECTED), PushSignatureInvalid(
            "the push signature does not verify / 快递100 推送签名校验失败")
    if not param:
        missing = MalformedPush("the push has no param field / 推送缺少 param")
        record.reason = missing.message
        return PushReceipt(PushOutcome.MALFORMED), missing
    try:
        snapshot = parse_push(param)
    except MalformedPush as exc:
        record.reason = exc.message
        return PushReceipt(PushOutcome.MALFORMED), exc
    record.com, record.number = snapshot.com, snapshot.number
    code = carrier_table().code_of_com(snapshot.com)
    waybill = _lock_waybill(session, code, snapshot.number) if code else None
    if waybill is None:
        record.outcome = PushOutcome.UNKNOWN_WAYBILL.value
        record.reason = f"no waybill {snapshot.com} {snapshot.number} bound yet; taken in when it is"
        return PushReceipt(PushOutcome.UNKNOWN_WAYBILL), None
    digest = _digest(snapshot)
    if waybill.repeats(digest, now):
        record.outcome, record.reason = PushOutcome.REPEATED.value, "same full push within 30 min"
        return PushReceipt(PushOutcome.REPEATED, duplicates=len(snapshot.events),
                           state=TrackingState(waybill.state)), None
    taken = take_snapshot(session, waybill, snapshot, source="push", now=now)
    waybill.last_push_digest, waybill.last_push_at = digest, now
    if not waybill.final:
        waybill.next_poll_at = now + QUIET_AFTER_PUSH
    record.outcome, record.new_events = PushOutcome.ACCEPTED.value, taken.new_events
    return PushReceipt(PushOutcome.ACCEPTED, taken.new_events, taken.duplicates, taken.state), None


def _lock_waybill(session: Session, code: str, number: str) -> Waybill | None:
    """The waybill, row-locked: one push or poll of a waybill at a time follows its state."""
    return session.scalar(select(Waybill).where(Waybill.carrier_code == code, Waybill.number == number)
                          .with_for_update())


def _take_parked(session: Session, waybill: Waybill, now: datetime) -> None:
    """Pushes that came before their waybill was bound, taken in oldest first."""
    com = carrier_table().com_of(waybill.carrier_code)
    parked = session.scalars(select(TrackingPush).where(
        TrackingPush.com == com, TrackingPush.number == waybill.number,
        TrackingPush.outcome == PushOutcome.UNKNOWN_WAYBILL.value).order_by(TrackingPush.id)).all()
    for push in parked:
        taken = take_snapshot(session, waybill, parse_push(push.param), source="push", now=now)
        push.outcome, push.new_events = PushOutcome.ACCEPTED.value, taken.new_events
        push.reason = f"taken in when the waybill was bound at {now.isoformat()}"


def _outbox(topic: str, waybill: Waybill, at: datetime, extra: dict[str, Any]) -> OutboxEvent:
    payload = {"order_no": waybill.order_no, "carrier": waybill.carrier_code, "waybill_no": waybill.number,
               "state": waybill.state, **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in extra.items()}}
    return OutboxEvent(topic=topic, key=waybill.order_no, created_at=at, payload=payload)


# ---------------------------------------------------------------------------------------------
# Polling fallback
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollTarget:
    waybill_id: int
    com: str
    number: str


def claim_due_polls(uow: UnitOfWork, *, limit: int = POLL_BATCH) -> list[PollTarget]:
    """Waybills due for a poll, claimed by moving their next poll on (SKIP LOCKED: workers share the work)."""
    with uow:
        session = uow.session
        now = uow.now()
        due = session.scalars(
            select(Waybill).where(Waybill.next_poll_at <= now).order_by(Waybill.next_poll_at).limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        targets = []
        for waybill in due:
            com = carrier_table().com_of(waybill.carrier_code)
            waybill.next_poll_at = None if com is None else now + POLL_EVERY
            if com is not None:
                targets.append(PollTarget(waybill.id, com, waybill.number))
        uow.commit()
        return targets


def record_poll(uow: UnitOfWork, *, waybill_id: int, snapshot: TrackSnapshot) -> Taken:
    with uow:
        session = uow.session
        now = uow.now()
        waybill = session.get_one(Waybill, waybill_id, with_for_update=True)
        taken = take_snapshot(session, waybill, snapshot, source="poll", now=now)
        waybill.poll_failures = 0
        waybill.next_poll_at = None if waybill.final else now + POLL_EVERY
        uow.commit()
        return taken


def record_poll_failure(uow: UnitOfWork, *, waybill_id: int) -> None:
    """Ask again sooner than the normal round, backing off: 15 min, 30 min … up to the normal interval."""
    with uow:
        now = uow.now()
        waybill = uow.session.get_one(Waybill, waybill_id, with_for_update=True)
        waybill.poll_failures += 1
        waybill.next_poll_at = now + min(POLL_EVERY, POLL_BACKOFF * 2 ** (waybill.poll_failures - 1))
        uow.commit()


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parcel:
    waybill: Waybill
    events: list[TrackingEvent]  # newest first


def get_waybill(session: Session, *, carrier: str, waybill_no: str) -> Parcel:
    code = _carrier_code(carrier)
    number = _check_number(waybill_no)
    waybill = session.scalar(select(Waybill).where(Waybill.carrier_code == code, Waybill.number == number))
    if waybill is None:
        raise WaybillNotFound(f"no waybill {code} {number} / 未找到运单 {number}",
                              details=[{"carrier": code, "waybill_no": number}])
    return _parcels(session, [waybill])[0]


def order_tracking(session: Session, *, order_id: int) -> list[Parcel]:
    """The order's parcels with their events, oldest parcel first (those it shares with other orders included)."""
    waybills = session.scalars(select(Waybill).where(_carried_for(order_id)).order_by(Waybill.id)).all()
    return _parcels(session, waybills)


def _carried_for(order_id: int) -> ColumnElement[bool]:
    """The waybills that carry the order: its own, and those of other orders it is linked to (合并发货)."""
    linked = select(WaybillOrder.waybill_id).where(WaybillOrder.order_id == order_id)
    return or_(Waybill.order_id == order_id, Waybill.id.in_(linked))


def carried_orders(session: Session, waybill: Waybill) -> list[tuple[int, str]]:
    """(order id, order no) of every order the waybill carries: its own first, then those linked to it."""
    return [(waybill.order_id, waybill.order_no), *linked_orders(session, [waybill.id]).items()]


def linked_orders(session: Session, waybill_ids: Collection[int]) -> dict[int, str]:
    """`{order id: order no}` of the orders linked to these waybills (not the orders holding them)."""
    if not waybill_ids:
        return {}
    return dict(session.execute(select(WaybillOrder.order_id, WaybillOrder.order_no)
                                .where(one_of(session, WaybillOrder.waybill_id, list(waybill_ids)))
                                .order_by(WaybillOrder.id)).all())


def _parcels(session: Session, waybills: Sequence[Waybill]) -> list[Parcel]:
    if not waybills:
        return []
    events: dict[int, list[TrackingEvent]] = {waybill.id: [] for waybill in waybills}
    query = (select(TrackingEvent).where(one_of(session, TrackingEvent.waybill_id, list(events)))
             .order_by(TrackingEvent.occurred_at.desc(), TrackingEvent.id.desc()))
    for event in session.scalars(query):
        events[event.waybill_id].append(event)
    return [Parcel(waybill, events[waybill.id]) for waybill in waybills]



def shipment_waybill_numbers(session: Session, *, shipment_ids: Collection[int]) -> dict[int, str]:
    """Each shipment's waybill number (its first, should a parcel carry two); shipments without one are left out."""
    if not shipment_ids:
        return {}
    numbers: dict[int, str] = {}
    own = select(Waybill.shipment_id, Waybill.number, Waybill.id).where(Waybill.shipment_id.in_(shipment_ids))
    merged = (select(WaybillOrder.shipment_id, Waybill.number, Waybill.id)
              .join(Waybill, Waybill.id == WaybillOrder.waybill_id).where(WaybillOrder.shipment_id.in_(shipment_ids)))
    for shipment_id, number, _ in sorted(session.execute(union_all(own, merged)), key=lambda row: row[2]):
        numbers.setdefault(shipment_id, number)
    return numbers
