"""Stock movements on SQLite and PostgreSQL: balances, the ledger behind them, and bad requests."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import func, select, update

from orderhub.core.errors import OrderHubError
from orderhub.core.outbox import OutboxEvent
from orderhub.inventory import service as inventory
from orderhub.inventory.model import LedgerEntry, SkuStock
from orderhub.runtime import Runtime
from tests.integration.inventory.conftest import CLERK, stock_up

pytestmark = pytest.mark.usefixtures("warehouses")


def balances(runtime: Runtime, sku: str) -> dict[str, Any]:
    with runtime.reading() as session:
        return inventory.availability(session, sku).to_json()


def ledger_rows(runtime: Runtime) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def verified(runtime: Runtime) -> list[str]:
    with runtime.reading() as session:
        return [str(m) for m in inventory.verify(session)]


def test_receipts_adjustments_counts_and_transfers_move_balances_through_the_ledger(runtime: Runtime) -> None:
    change = inventory.receive(runtime.uow(), sku="SKU-001", warehouse="HZ", qty=50, idempotency_key="po-1",
                               actor=CLERK, reference="PO-20261205-1")
    assert (change.on_hand, change.available, change.replayed) == (50, 50, False)
    inventory.adjust(runtime.uow(), sku="SKU-001", warehouse="HZ", delta=-3, reason="破损", idempotency_key="adj-1",
                     actor=CLERK)
    moved = inventory.transfer(runtime.uow(), sku="SKU-001", from_warehouse="HZ", to_warehouse="GZ", qty=20,
                               reason="补货广州", idempotency_key="tr-1", actor=CLERK)
    assert moved.on_hand == 27 and moved.transfer_id is not None
    stock = balances(runtime, "SKU-001")
    assert (stock["on_hand"], stock["in_transit"], stock["available"]) == (27, 20, 27)
    assert {w["warehouse"]: (w["on_hand"], w["in_transit"]) for w in stock["warehouses"]} == {
        "GZ": (0, 20), "HZ": (27, 0)}
    arrived = inventory.receive_transfer(runtime.uow(), transfer_id=moved.transfer_id, actor=CLERK)
    assert (arrived.warehouse, arrived.on_hand, arrived.in_transit) == ("GZ", 20, 0)
    assert inventory.receive_transfer(runtime.uow(), transfer_id=moved.transfer_id, actor=CLERK).replayed
    counted = inventory.count(runtime.uow(), sku="SKU-001", warehouse="GZ", counted=18, reason="月末盘点",
                              idempotency_key="count-1", actor=CLERK)
    assert counted.on_hand == 18
    assert balances(runtime, "SKU-001")["on_hand"] == 45
    with runtime.reading() as session:
        kinds = [line.kind for line in inventory.ledger(session, "SKU-001")]
    assert kinds == ["count", "transfer_in", "transfer_out", "transfer_out", "adjust", "receipt"]
    assert verified(runtime) == []


def test_a_repeated_key_replays_its_first_result_and_a_reused_key_is_refused(runtime: Runtime) -> None:
    first = inventory.receive(runtime.uow(), sku="SKU-002", warehouse="HZ", qty=10, idempotency_key="po-9",
                              actor=CLERK)
    again = inventory.receive(runtime.uow(), sku="SKU-002", warehouse="HZ", qty=10, idempotency_key="po-9",
                              actor=CLERK)
    assert again.replayed and again.on_hand == first.on_hand == 10
    with pytest.raises(OrderHubError) as refused:
        inventory.receive(runtime.uow(), sku="SKU-002", warehouse="HZ", qty=11, idempotency_key="po-9", actor=CLERK)
    assert refused.value.code == "inventory.idempotency_conflict" and refused.value.status == 409
    assert balances(runtime, "SKU-002")["on_hand"] == 10 and ledger_rows(runtime) == 1


BAD_MOVES: list[tuple[str, dict[str, Any], str]] = [
    ("adjust", {"delta": -1.5}, "inventory.invalid_quantity"),
    ("adjust", {"delta": 0}, "inventory.invalid_quantity"),
    ("adjust", {"delta": True}, "inventory.invalid_quantity"),
    ("adjust", {"delta": "5"}, "inventory.invalid_quantity"),
    ("receive", {"qty": -4}, "inventory.invalid_quantity"),
    ("receive", {"qty": 2.5}, "inventory.invalid_quantity"),
    ("adjust", {"delta": -11}, "inventory.below_reserved"),
    ("adjust", {"sku": "NO-SUCH"}, "catalog.unknown_sku"),
    ("adjust", {"warehouse": "XX"}, "inventory.unknown_warehouse"),
    ("adjust", {"sku": "GIFT-SET"}, "inventory.bundle_not_stocked"),
    ("adjust", {"reason": "  "}, "inventory.reason_required"),
    ("adjust", {"idempotency_key": ""}, "inventory.idempotency_key_required"),
    ("adjust", {"idempotency_key": "k" * 101}, "inventory.idempotency_key_required"),
    ("count", {"counted": -1}, "inventory.invalid_quantity"),
    ("transfer", {"to_warehouse": "HZ"}, "inventory.same_warehouse"),
    ("transfer", {"qty": 11}, "inventory.below_reserved"),
    ("transfer", {"qty": 0}, "inventory.invalid_quantity"),
]


@pytest.mark.parametrize(("move", "changes", "code"), BAD_MOVES, ids=[f"{m}-{c}" for m, _, c in BAD_MOVES])
def test_a_bad_movement_is_refused_and_changes_nothing(
    runtime: Runtime, move: str, changes: dict[str, Any], code: str
) -> None:
    stock_up(runtime, "SKU-001", "HZ", 10)
    before, rows = balances(runtime, "SKU-001"), ledger_rows(runtime)
    request: dict[str, Any] = {"sku": "SKU-001", "reason": "test", "idempotency_key": "bad-1", "actor": CLERK}
    call = {
        "adjust": lambda: inventory.adjust(runtime.uow(), **({"warehouse": "HZ", "delta": 1} | request | changes)),
        "receive": lambda: inventory.receive(runtime.uow(), **({"warehouse": "HZ", "qty": 1} | request | changes)),
        "count": lambda: inventory.count(runtime.uow(), **({"warehouse": "HZ", "counted": 1} | request | changes)),
        "transfer": lambda: inventory.transfer(
            runtime.uow(), **({"from_warehouse": "HZ", "to_warehouse": "GZ", "qty": 1} | request | changes)),
    }[move]
    with pytest.raises(OrderHubError) as refused:
        call()
    assert refused.value.code == code and 400 <= refused.value.status < 500
    assert balances(runtime, "SKU-001") == before and ledger_rows(runtime) == rows
    assert verified(runtime) == []


def test_random_movements_keep_every_balance_equal_to_the_ledger(runtime: Runtime) -> None:
    """A fuzz: hundreds of random movements, refused ones included; the ledger always explains the balances."""
    rng = random.Random(20261205)
    skus, places = ["SKU-001", "SKU-002", "SKU-003"], ["HZ", "GZ"]
    transfers: list[int] = []
    for step in range(300):
        sku, here, there = rng.choice(skus), rng.choice(places), rng.choice(places)
        key = f"fuzz-{step}-{rng.randrange(3)}" if rng.random() < 0.1 else f"fuzz-{step}"
        move = rng.choice(["receive", "adjust", "adjust", "count", "transfer", "arrive", "safety"])
        try:
            if move == "receive":
                inventory.receive(runtime.uow(), sku=sku, warehouse=here, qty=rng.randint(1, 30), idempotency_key=key,
                                  actor=CLERK)
            elif move == "adjust":
                inventory.adjust(runtime.uow(), sku=sku, warehouse=here, delta=rng.randint(-25, 25) or 1,
                                 reason="fuzz", idempotency_key=key, actor=CLERK)
            elif move == "count":
                inventory.count(runtime.uow(), sku=sku, warehouse=here, counted=rng.randint(0, 40), reason="fuzz",
                                idempotency_key=key, actor=CLERK)
            elif move == "transfer":
                moved = inventory.transfer(runtime.uow(), sku=sku, from_warehouse=here, to_warehouse=there,
                                           qty=rng.randint(1, 15), reason="fuzz", idempotency_key=key, actor=CLERK)
                transfers.append(moved.transfer_id or 0)
            elif move == "arrive" and transfers:
                inventory.receive_transfer(runtime.uow(), transfer_id=rng.choice(transfers), actor=CLERK)
            elif move == "safety":
                inventory.set_safety(runtime.uow(), sku=sku, safety=rng.randint(0, 5), actor=CLERK,
                                     warehouse=rng.choice([None, here]))
        except OrderHubError as refused:
            assert refused.status in (409, 422)
        if step % 50 == 0:
            assert verified(runtime) == []
    assert verified(runtime) == []
    with runtime.reading() as session:
        for row in session.scalars(select(SkuStock)):
            assert row.on_hand >= row.reserved >= 0 and row.in_transit >= 0


def test_verify_reports_a_balance_changed_outside_the_ledger(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-003", "HZ", 7)
    with runtime.uow() as uow:
        uow.session.execute(update(SkuStock).values(on_hand=SkuStock.on_hand + 1))
        uow.commit()
    assert verified(runtime) == [
        "SKU-003 on_hand: stored 8, expected 7", "SKU-003 on_hand (warehouses): stored 8, expected 7"]


def test_safety_stock_stops_selling_and_raises_low_stock_once(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-002", "HZ", 12)
    inventory.set_safety(runtime.uow(), sku="SKU-002", safety=5, actor=CLERK)
    inventory.set_safety(runtime.uow(), sku="SKU-002", warehouse="HZ", safety=2, actor=CLERK)
    assert balances(runtime, "SKU-002")["available"] == 5
    inventory.adjust(runtime.uow(), sku="SKU-002", warehouse="HZ", delta=-5, reason="破损", idempotency_key="a1",
                     actor=CLERK)
    inventory.adjust(runtime.uow(), sku="SKU-002", warehouse="HZ", delta=-1, reason="破损", idempotency_key="a2",
                     actor=CLERK)
    stock = balances(runtime, "SKU-002")
    assert (stock["on_hand"], stock["available"], stock["low"]) == (6, 0, True)
    with runtime.reading() as session:
        topics = list(session.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic.like("inventory.%"))
                                      .order_by(OutboxEvent.id)))
    assert topics.count("inventory.low_stock") == 1
    stock_up(runtime, "SKU-002", "GZ", 10)
    assert balances(runtime, "SKU-002")["available"] == 9
    with runtime.reading() as session:
        assert "inventory.back_in_stock" in session.scalars(select(OutboxEvent.topic)).all()


def test_a_bundle_is_available_as_far_as_its_components_go(runtime: Runtime) -> None:
    stock_up(runtime, "SKU-001", "HZ", 5)
    stock_up(runtime, "SKU-002", "HZ", 7)
    stock_up(runtime, "SKU-001", "GZ", 9)
    gift = balances(runtime, "GIFT-SET")
    assert gift["bundle"] and gift["available"] == 3
    assert [(w["warehouse"], w["available"]) for w in gift["warehouses"]] == [("HZ", 3)]


def test_a_bundle_with_a_missing_nested_or_repeated_component_is_refused_whole(runtime: Runtime) -> None:
    from orderhub.catalog import service as catalog

    with pytest.raises(OrderHubError) as refused:
        catalog.create_sku(runtime.uow(), code="BAD-SET", title="坏套装",
                           components=[("SKU-001", 1), ("NO-SUCH", 1), ("GIFT-SET", 1), ("SKU-001", 0)])
    assert refused.value.code == "catalog.invalid_bundle"
    rules = {(d["field"], d["rule"]) for d in refused.value.details}
    assert rules == {("components[1]", "bundle.unknown_component"), ("components[2]", "bundle.nested"),
                     ("components[0]", "bundle.repeated"), ("components[3]", "bundle.repeated"),
                     ("components[3]", "bundle.qty")}
    with runtime.reading() as session:
        assert "BAD-SET" not in catalog.skus_by_code(session, ["BAD-SET"])
