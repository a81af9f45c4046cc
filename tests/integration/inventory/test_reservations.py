"""Orders hold stock from the moment they enter: reserve, expire, release, assign, ship — on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from orderhub.catalog import service as catalog
from orderhub.catalog.model import Sku
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.errors import OrderHubError
from orderhub.core.outbox import OutboxEvent, add_event
from orderhub.inventory import service as inventory
from orderhub.inventory.model import Reservation, SkuStock
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine
from orderhub.orders.status import OrderStatus as S
from orderhub.runtime import Runtime
from tests.integration.inventory.conftest import stock_up
from tests.integration.orders.test_order_service import phone_draft

pytestmark = pytest.mark.usefixtures("warehouses")
BOSS = Actor("boss", "api", frozenset({"orders.transition", "orders.approve_large"}))
WORKER = Actor("worker", "worker")


def stock(runtime: Runtime, sku: str) -> dict[str, Any]:
    with runtime.reading() as session:
        return inventory.availability(session, sku).to_json()


def reservations(runtime: Runtime, order_no: str) -> list[tuple[str, int, str]]:
    with runtime.reading() as session:
        rows = session.scalars(select(Reservation).where(Reservation.reference == order_no).order_by(Reservation.id))
        return [(row.state, row.qty, "pool" if row.warehouse_id is None else "warehouse") for row in rows]


def order(runtime: Runtime, qty: int = 2, sku: str = "SKU-001", paid: bool = True) -> str:
    draft = phone_draft(lines=[DraftLine(sku=sku, qty=qty, unit_price_fen=9900)], paid_amount_fen=9900 * qty)
    if not paid:
        draft.paid_at = None
    return orders.create_manual_order(runtime.uow(), draft=draft, actor=BOSS, policy=runtime.policy).order_no


def move(runtime: Runtime, order_no: str, *targets: S) -> None:
    for target in targets:
        orders.transition_order(runtime.uow(), order_no=order_no, target=target, reason="test", actor=BOSS,
                                policy=runtime.policy)


def verified(runtime: Runtime) -> list[str]:
    with runtime.reading() as session:
        return [str(m) for m in inventory.verify(session)]


def test_a_paid_order_reserves_and_cancelling_it_gives_the_stock_back(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    number = order(runtime, qty=3)
    assert reservations(runtime, number) == [("active", 3, "pool")]
    assert (stock(runtime, "SKU-001")["reserved"], stock(runtime, "SKU-001")["available"]) == (3, 7)
    move(runtime, number, S.CANCELLED)
    assert reservations(runtime, number) == [("released", 3, "pool")]
    assert stock(runtime, "SKU-001")["available"] == 10
    assert verified(runtime) == []


def test_shipping_turns_the_reservation_into_a_deduction_from_the_assigned_warehouse(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    stock_up(runtime, "SKU-001", "GZ", 4)
    number = order(runtime, qty=3)
    move(runtime, number, S.APPROVED)
    with runtime.uow() as uow:
        order_id = orders.get_order(uow.session, number).id
        assert inventory.warehouse_stock(uow.session, sku_codes=["SKU-001"]) == {"SKU-001": {"HZ": 10, "GZ": 4}}
        inventory.assign_reservation(uow.session, order_id=order_id, allocations=[("SKU-001", "GZ", 2),
                                                                                  ("SKU-001", "HZ", 1)],
                                     at=uow.now(), actor=WORKER)
        uow.commit()
    assert sorted(reservations(runtime, number)) == [("active", 1, "warehouse"), ("active", 2, "warehouse")]
    with runtime.reading() as session:
        assert inventory.warehouse_stock(session, sku_codes=["SKU-001"]) == {"SKU-001": {"HZ": 9, "GZ": 2}}
    move(runtime, number, S.ALLOCATED, S.PICKING, S.PACKED, S.SHIPPED)
    after = stock(runtime, "SKU-001")
    assert (after["on_hand"], after["reserved"]) == (11, 0)
    assert {w["warehouse"]: w["on_hand"] for w in after["warehouses"]} == {"HZ": 9, "GZ": 2}
    assert verified(runtime) == []


def test_an_order_shipped_without_routing_ships_from_the_warehouse_with_most_free_stock(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 2)
    stock_up(runtime, "SKU-001", "GZ", 6)
    number = order(runtime, qty=4)
    move(runtime, number, S.APPROVED, S.ALLOCATED, S.PICKING, S.PACKED, S.SHIPPED)
    assert {w["warehouse"]: w["on_hand"] for w in stock(runtime, "SKU-001")["warehouses"]} == {"HZ": 2, "GZ": 2}
    assert reservations(runtime, number) == [("consumed", 4, "pool")]
    assert verified(runtime) == []


def test_assignment_is_refused_beyond_a_warehouses_free_stock_and_can_be_undone(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 5)
    number = order(runtime, qty=3)
    with runtime.uow() as uow:
        order_id = orders.get_order(uow.session, number).id
        with pytest.raises(OrderHubError) as refused:
            inventory.assign_reservation(uow.session, order_id=order_id, allocations=[("SKU-001", "GZ", 3)],
                                         at=uow.now(), actor=WORKER)
        assert refused.value.code == "inventory.insufficient_stock"
    with runtime.uow() as uow:
        inventory.assign_reservation(uow.session, order_id=order_id, allocations=[("SKU-001", "HZ", 3)],
                                     at=uow.now(), actor=WORKER)
        inventory.release_assignment(uow.session, order_id=order_id, at=uow.now(), actor=WORKER)
        uow.commit()
    assert reservations(runtime, number) == [("active", 3, "pool")]
    assert stock(runtime, "SKU-001")["warehouses"][0]["reserved"] == 0
    assert verified(runtime) == []


def test_an_unpaid_order_holds_stock_until_its_ttl_and_reserves_again_when_paid(
    runtime: Runtime, clock: FixedClock
) -> None:
    stock_up(runtime, "SKU-002", "HZ", 5)
    number = order(runtime, qty=5, sku="SKU-002", paid=False)
    assert stock(runtime, "SKU-002")["available"] == 0
    clock.advance(timedelta(minutes=14))
    assert inventory.release_expired(runtime.uow(), actor=WORKER) == 0
    clock.advance(timedelta(minutes=2))
    assert inventory.release_expired(runtime.uow(), actor=WORKER) == 1
    assert stock(runtime, "SKU-002")["available"] == 5 and reservations(runtime, number) == [("released", 5, "pool")]
    move(runtime, number, S.PAID)
    assert stock(runtime, "SKU-002")["available"] == 0
    assert reservations(runtime, number)[-1] == ("active", 5, "pool")
    clock.advance(timedelta(hours=1))
    assert inventory.release_expired(runtime.uow(), actor=WORKER) == 0  # paid: held until it ships or ends
    assert verified(runtime) == []


def test_an_order_that_finds_too_little_holds_nothing_and_gets_its_stock_when_it_arrives(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-003", "HZ", 2)
    number = order(runtime, qty=3, sku="SKU-003")
    assert reservations(runtime, number) == [("short", 3, "pool")]
    assert stock(runtime, "SKU-003")["reserved"] == 0
    stock_up(runtime, "SKU-003", "GZ", 1)
    with runtime.uow() as uow:
        order_id = orders.get_order(uow.session, number).id
        assert inventory.ensure_reserved(uow.session, order_id=order_id, at=uow.now(), actor=WORKER)
        uow.commit()
    assert reservations(runtime, number) == [("active", 3, "pool")]
    assert verified(runtime) == []


def test_a_bundle_reserves_its_components(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 4)
    stock_up(runtime, "SKU-002", "HZ", 4)
    number = order(runtime, qty=2, sku="GIFT-SET")
    assert sorted(reservations(runtime, number)) == [("active", 2, "pool"), ("active", 4, "pool")]
    assert stock(runtime, "GIFT-SET")["available"] == 0
    assert (stock(runtime, "SKU-001")["available"], stock(runtime, "SKU-002")["available"]) == (2, 0)


def test_a_channel_order_reserves_on_entry_and_releases_when_the_platform_cancels_it(runtime: Runtime) -> None:
    from orderhub.orders import intake

    stock_up(runtime, "SKU-001", "HZ", 10)
    draft = phone_draft(channel="douyin", shop="dy-flagship", source_type="", channel_order_id="DY-1",
                        status="paid", channel_status="2", platform_modified_at=phone_draft().paid_at)
    placed = intake.accept_channel_order(runtime.uow(), draft=draft, actor=WORKER, policy=runtime.policy)
    assert reservations(runtime, placed.order_no) == [("active", 2, "pool")]
    cancelled = phone_draft(channel="douyin", shop="dy-flagship", source_type="", channel_order_id="DY-1",
                            status="cancelled", channel_status="4",
                            platform_modified_at=phone_draft().paid_at + timedelta(minutes=5))  # type: ignore[operator]
    intake.accept_channel_order(runtime.uow(), draft=cancelled, actor=WORKER, policy=runtime.policy)
    assert reservations(runtime, placed.order_no) == [("released", 2, "pool")]
    assert stock(runtime, "SKU-001")["available"] == 10
    assert verified(runtime) == []


def test_reserving_one_line_answers_shortages_unknown_skus_and_bundles_as_many_lines_do(runtime: Runtime) -> None:
    """One line takes a one-statement path on PostgreSQL; its answers are those of the general path."""
    stock_up(runtime, "SKU-001", "HZ", 3)
    stock_up(runtime, "SKU-002", "HZ", 4)
    with runtime.uow() as uow:
        outcome = inventory.reserve_new(uow.session, [
            inventory.Demand(9001, "T-9001", [("SKU-001", 5)]),
        ], at=uow.now(), actor=WORKER)
        outcome |= inventory.reserve_new(uow.session, [inventory.Demand(9002, "T-9002", [("NO-SUCH", 1)])],
                                         at=uow.now(), actor=WORKER)
        outcome |= inventory.reserve_new(uow.session, [inventory.Demand(9003, "T-9003", [("GIFT-SET", 1)])],
                                         at=uow.now(), actor=WORKER)
        outcome |= inventory.reserve_new(uow.session, [inventory.Demand(9004, "T-9004", [("SKU-001", 2)])],
                                         at=uow.now(), actor=WORKER)
        uow.commit()
    assert [(s.sku, s.requested, s.available) for s in outcome[9001]] == [("SKU-001", 5, 3)]
    assert outcome[9002] == [] and outcome[9003] == [] and outcome[9004] == []
    assert reservations(runtime, "T-9001") == [("short", 5, "pool")]
    assert reservations(runtime, "T-9002") == []
    assert sorted(reservations(runtime, "T-9003")) == [("active", 1, "pool"), ("active", 2, "pool")]
    assert reservations(runtime, "T-9004") == [("active", 2, "pool")]
    assert stock(runtime, "SKU-001")["available"] == 0 and stock(runtime, "SKU-002")["reserved"] == 2
    assert verified(runtime) == []


def test_one_line_reserved_after_a_release_in_the_same_transaction_gets_the_units_given_back(runtime: Runtime) -> None:
    """On PostgreSQL one line reserves in a statement of its own: pending stock changes must reach it first."""
    stock_up(runtime, "SKU-001", "HZ", 3)
    first = order(runtime, qty=3)
    with runtime.uow() as uow:
        first_id = orders.get_order(uow.session, first).id
        inventory.release_order(uow.session, order_id=first_id, at=uow.now(), actor=WORKER, reason="test")
        outcome = inventory.reserve_new(uow.session, [inventory.Demand(9101, "T-9101", [("SKU-001", 3)])],
                                        at=uow.now(), actor=WORKER)
        uow.commit()
    assert outcome == {9101: []}
    assert reservations(runtime, "T-9101") == [("active", 3, "pool")]
    assert stock(runtime, "SKU-001")["available"] == 0
    assert verified(runtime) == []


def test_a_batch_assignment_splits_rows_across_warehouses_and_refuses_what_holds_no_stock(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 4)
    stock_up(runtime, "SKU-001", "GZ", 4)
    first, second = order(runtime, qty=5), order(runtime, qty=2)
    with runtime.uow() as uow:
        ids = {number: orders.get_order(uow.session, number).id for number in (first, second)}
        for wrong, code in [("GIFT-SET", "inventory.bundle_not_stocked"), ("NO-SUCH", "catalog.unknown_sku")]:
            with pytest.raises(OrderHubError) as refused:
                inventory.assign_reservations(uow.session, [(ids[first], [(wrong, "HZ", 1)])], at=uow.now(),
                                              actor=WORKER)
            assert refused.value.code == code
        inventory.assign_reservations(uow.session, [
            (ids[first], [("SKU-001", "HZ", 3), ("SKU-001", "GZ", 1)]),
            (ids[second], [("SKU-001", "GZ", 2)]),
        ], at=uow.now(), actor=WORKER)
        uow.commit()
    assert sorted(reservations(runtime, first)) == [("active", 1, "pool"), ("active", 1, "warehouse"),
                                                    ("active", 3, "warehouse")]
    assert reservations(runtime, second) == [("active", 2, "warehouse")]
    places = {w["warehouse"]: (w["on_hand"], w["reserved"]) for w in stock(runtime, "SKU-001")["warehouses"]}
    assert places == {"HZ": (4, 3), "GZ": (4, 3)}
    assert verified(runtime) == []


def test_ensuring_a_batch_is_reserved_serves_short_orders_first_come_first_served(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-003", "HZ", 1)
    held, early, late = order(runtime, qty=1, sku="SKU-003"), order(runtime, qty=2, sku="SKU-003"), \
        order(runtime, qty=2, sku="SKU-003")
    assert [reservations(runtime, n)[0][0] for n in (held, early, late)] == ["active", "short", "short"]
    stock_up(runtime, "SKU-003", "GZ", 3)
    with runtime.uow() as uow:
        ids = [orders.get_order(uow.session, number).id for number in (held, early, late)]
        short = inventory.ensure_reserved_many(uow.session, order_ids=[*ids, 9999], at=uow.now(), actor=WORKER)
        uow.commit()
    assert short == {ids[2], 9999}  # the late order finds one unit of two; 9999 holds nothing at all
    assert [reservations(runtime, n)[0][0] for n in (held, early, late)] == ["active", "active", "short"]
    assert verified(runtime) == []


def low_stock_events(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.reading() as session:
        return [event.payload for event in session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "inventory.low_stock").order_by(OutboxEvent.id))]


def test_reserving_with_the_commit_answers_as_reserving_in_the_transaction(runtime: Runtime) -> None:
    """On PostgreSQL one stock SKU is reserved by a statement sent with the COMMIT; elsewhere the general way.

    Both commit what the transaction wrote before, refuse what is short, expand a bundle, and raise the
    low-stock event once, when the SKU's sellable stock reaches zero.
    """
    stock_up(runtime, "SKU-001", "HZ", 3)
    stock_up(runtime, "SKU-002", "HZ", 5)
    inventory.set_safety(runtime.uow(), sku="SKU-002", safety=1, actor=WORKER)
    catalog.create_sku(runtime.uow(), code="TEA-PAIR", title="茶叶两盒装", components=[("SKU-002", 2)])

    def reserve(order_id: int, sku: str, qty: int) -> list[tuple[str, int, int]]:
        with runtime.uow() as uow:
            add_event(uow.session, topic="test.before_reserving", key=str(order_id), payload={}, at=uow.now())
            shortages = inventory.reserve_and_commit(uow, inventory.Demand(order_id, f"T-{order_id}", [(sku, qty)]),
                                                     at=uow.now(), actor=WORKER)
        return [(s.sku, s.requested, s.available) for s in shortages]

    assert reserve(9201, "SKU-001", 2) == []
    assert reserve(9202, "SKU-001", 2) == [("SKU-001", 2, 1)]
    assert reserve(9203, "TEA-PAIR", 1) == []  # a bundle of one component: 2 × SKU-002
    assert low_stock_events(runtime) == []
    assert reserve(9204, "SKU-002", 2) == []  # 5 on hand − 4 reserved − 1 safety: nothing left to sell
    assert reserve(9205, "SKU-002", 1) == []  # still reservable (safety stops channel sales, not orders)
    assert reserve(9206, "GIFT-SET", 1) == [("SKU-002", 2, 0)]  # two stock SKUs: the general way
    assert reserve(9207, "NO-SUCH", 1) == []
    assert reservations(runtime, "T-9201") == [("active", 2, "pool")]
    assert reservations(runtime, "T-9202") == [("short", 2, "pool")]
    assert reservations(runtime, "T-9203") == [("active", 2, "pool")]
    assert reservations(runtime, "T-9205") == [("active", 1, "pool")]
    assert low_stock_events(runtime) == [{"sku": "SKU-002", "on_hand": 5, "reserved": 4, "safety": 1, "available": 0}]
    with runtime.reading() as session:
        before = session.scalars(select(OutboxEvent.key).where(OutboxEvent.topic == "test.before_reserving"))
        assert sorted(before) == [str(n) for n in range(9201, 9208)]
        assert session.scalar(select(SkuStock.low).join(Sku, Sku.id == SkuStock.sku_id)
                              .where(Sku.code == "SKU-002")) is True
    assert (stock(runtime, "SKU-001")["reserved"], stock(runtime, "SKU-002")["reserved"]) == (2, 5)
    assert verified(runtime) == []
