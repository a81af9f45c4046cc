"""Ingestion on SQLite and PostgreSQL: every platform order ends as exactly one order, nothing lost."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.ingest import DEAD_LETTERED, Incoming, ingest, ingest_batch, shop_ref
from orderhub.channels.model import Channel, DeadLetter
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.db import UnitOfWork
from orderhub.core.outbox import OutboxEvent
from orderhub.orders import service as orders
from orderhub.orders.model import Order, OrderEvent
from orderhub.runtime import Runtime

PLATFORM = Actor("taobao", "channel")
BEIJING = "%Y-%m-%d %H:%M:%S"


@pytest.fixture
def shops(runtime: Runtime, merchant: None) -> dict[str, Any]:
    made = {}
    for channel, code in [(Channel.TAOBAO, "tb"), (Channel.PDD, "pdd"), (Channel.DOUYIN, "dy")]:
        made[code] = shop_ref(channels.create_shop(runtime.uow(), channel=channel, code=code, name=code))
    return made


def trade(
    tid: int = 4123456789012345678,
    status: str = "WAIT_SELLER_SEND_GOODS",
    modified: str = "2026-11-20 10:05:00",
    payment: str = "207.00",
    **changes: Any,
) -> dict[str, Any]:
    return {
        "tid": tid,
        "tid_str": str(tid),
        "status": status,
        "modified": modified,
        "pay_time": "2026-11-20 10:00:00",
        "buyer_nick": "tb_buyer",
        "receiver_name": "张三",
        "receiver_mobile": "13800138000",
        "receiver_state": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": "文三路90号",
        "post_fee": "10.00",
        "payment": payment,
        "orders": {
            "order": [
                {
                    "outer_sku_id": "SKU-001",
                    "sku_id": "5012",
                    "title": "保温杯",
                    "num": 2,
                    "price": "99.00",
                    "total_fee": "198.00",
                }
            ]
        },
        **changes,
    }


def push(runtime: Runtime, shop: Any, *payloads: dict[str, Any], source: str = "push") -> list[Any]:
    items = [Incoming(raw=json.dumps(p, ensure_ascii=False), source=source) for p in payloads]
    return ingest(runtime.uow(), shop=shop, items=items, policy=runtime.policy, actor=PLATFORM)


def count(runtime: Runtime, model: type) -> int:
    with runtime.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def the_order(runtime: Runtime) -> Order:
    with runtime.reading() as session:
        order = session.scalars(select(Order)).one()
        order.lines  # noqa: B018 - load before the session closes
        return order


def kinds(runtime: Runtime, order_no: str) -> list[str]:
    with runtime.reading() as session:
        return [e.kind for e in orders.order_timeline(session, order_no)]


def test_the_same_order_arriving_many_times_is_one_order(runtime: Runtime, shops: dict[str, Any]) -> None:
    first = push(runtime, shops["tb"], trade(), trade())
    assert [o.result for o in first] == ["stale", "created"] or [o.result for o in first] == ["created", "stale"]
    again = push(runtime, shops["tb"], trade(), source="pull")
    assert [o.result for o in again] == ["unchanged"]
    assert count(runtime, Order) == 1
    order = the_order(runtime)
    assert order.channel_order_id == "4123456789012345678" and order.status == "paid"
    assert order.receiver_adcode == "330106" and order.lines[0].sku == "SKU-001"
    assert kinds(runtime, order.order_no) == ["created"]
    with runtime.reading() as session:
        assert [e.topic for e in session.scalars(select(OutboxEvent))] == ["order.created"]


def test_an_older_update_never_moves_status_or_data_backwards(runtime: Runtime, shops: dict[str, Any]) -> None:
    push(runtime, shops["tb"], trade(status="WAIT_BUYER_CONFIRM_GOODS", modified="2026-11-20 12:00:00"))
    late = push(
        runtime, shops["tb"], trade(status="WAIT_SELLER_SEND_GOODS", modified="2026-11-20 10:05:00", payment="1.00")
    )
    assert [o.result for o in late] == ["stale"]
    order = the_order(runtime)
    assert order.status == "shipped" and order.paid_amount_fen == 20700


def test_changed_amounts_and_lines_are_taken_and_recorded(runtime: Runtime, shops: dict[str, Any]) -> None:
    push(runtime, shops["tb"], trade())
    changed = trade(modified="2026-11-20 10:30:00", payment="306.00")
    changed["orders"]["order"].append(
        {"outer_sku_id": "SKU-003", "sku_id": "5013", "title": "餐具", "num": 1, "price": "99.00", "total_fee": "99.00"}
    )
    assert [o.result for o in push(runtime, shops["tb"], changed)] == ["updated"]
    order = the_order(runtime)
    assert order.paid_amount_fen == 30600 and [line.sku for line in order.lines] == ["SKU-001", "SKU-003"]
    with runtime.reading() as session:
        amended = [e for e in orders.order_timeline(session, order.order_no) if e.kind == "amended"]
    assert len(amended) == 1 and "实付 207.00→306.00" in amended[0].reason and "1→2 行" in amended[0].reason


def test_the_platform_moves_an_order_forward_but_our_own_progress_is_kept(
    runtime: Runtime, shops: dict[str, Any]
) -> None:
    created = push(runtime, shops["tb"], trade())[0]
    ops = Actor("ops", "console", frozenset({"orders.transition"}))
    for target in ("approved", "allocated"):
        orders.transition_order(
            runtime.uow(),
            order_no=created.order_no,
            target=orders.OrderStatus(target),
            reason="",
            actor=ops,
            policy=runtime.policy,
        )
    push(runtime, shops["tb"], trade(modified="2026-11-20 10:06:00", seller_memo="加急"))
    assert the_order(runtime).status == "allocated"
    push(runtime, shops["tb"], trade(status="WAIT_BUYER_CONFIRM_GOODS", modified="2026-11-20 11:00:00"))
    assert the_order(runtime).status == "shipped"
    assert kinds(runtime, created.order_no)[-1] == "channel_update"


def test_a_cancellation_after_picking_started_holds_the_order_for_interception(
    runtime: Runtime, shops: dict[str, Any]
) -> None:
    created = push(runtime, shops["tb"], trade())[0]
    ops = Actor("ops", "console", frozenset({"orders.transition"}))
    for target in ("approved", "allocated", "picking"):
        orders.transition_order(
            runtime.uow(),
            order_no=created.order_no,
            target=orders.OrderStatus(target),
            reason="",
            actor=ops,
            policy=runtime.policy,
        )
    push(runtime, shops["tb"], trade(status="TRADE_CLOSED_BY_TAOBAO", modified="2026-11-20 11:00:00"))
    order = the_order(runtime)
    assert order.status == "on_hold" and "拦截" in (order.hold_reason or "") and order.held_from == "picking"


def test_paid_cancelled_paid_within_two_hours_raises_a_status_drift(
    runtime: Runtime, shops: dict[str, Any], clock: FixedClock
) -> None:
    push(runtime, shops["tb"], trade())
    clock.advance(timedelta(minutes=10))
    push(runtime, shops["tb"], trade(status="TRADE_CLOSED_BY_TAOBAO", modified="2026-11-20 10:15:00"))
    clock.advance(timedelta(minutes=30))
    push(runtime, shops["tb"], trade(modified="2026-11-20 10:45:00"))
    order = the_order(runtime)
    assert order.status == "paid"
    assert kinds(runtime, order.order_no) == ["created", "transition", "status_drift", "channel_update"]
    with runtime.reading() as session:
        assert "channel.status_drift" in set(session.scalars(select(OutboxEvent.topic)))


def pdd_order(phone: str, modified: str, order_status: int = 1) -> dict[str, Any]:
    return {
        "order_sn": "241120-563820194736052",
        "order_status": order_status,
        "refund_status": 1,
        "confirm_status": 1,
        "updated_at": modified,
        "pay_time": "2026-11-20 10:00:00",
        "receiver_name": "李四",
        "receiver_phone": phone,
        "province": "广东省",
        "city": "东莞市",
        "town": "",
        "receiver_address": "长安镇振安路1号",
        "postage": 0,
        "pay_amount": 149.8,
        "item_list": [
            {"outer_id": "SKU-002", "sku_id": 77, "goods_name": "茶", "goods_count": 1, "goods_price": 159.8}
        ],
    }


def test_a_masked_phone_never_overwrites_the_plaintext_we_hold(runtime: Runtime, shops: dict[str, Any]) -> None:
    push(runtime, shops["pdd"], pdd_order("13900139000", "2026-11-20 10:00:00"))
    push(runtime, shops["pdd"], pdd_order("1390013****", "2026-11-21 09:00:00", order_status=2))
    order = the_order(runtime)
    assert order.status == "shipped" and order.receiver_phone == "13900139000"
    assert order.paid_amount_fen == 14980 and order.discount_fen == 1000


def test_an_order_with_encrypted_contacts_is_kept_pending_decryption(runtime: Runtime, shops: dict[str, Any]) -> None:
    payload = {
        "order_id": "6920000000000000001",
        "order_status": 105,
        "update_time": 1763604300,
        "pay_time": 1763604000,
        "encrypt_post_tel": "#x9a#",
        "encrypt_post_receiver": "#b2#",
        "mask_post_tel": "138****0000",
        "mask_post_receiver": "王*",
        "mask_post_addr": {"detail": "文三路**号"},
        "post_addr": {"province": {"name": "浙江省"}, "city": {"name": "杭州市"}, "town": {"name": "西湖区"}},
        "post_amount": 0,
        "pay_amount": 9900,
        "sku_order_list": [
            {"code": "SKU-001", "sku_id": 9001, "product_name": "杯", "item_num": 1, "origin_amount": 9900}
        ],
    }
    assert [o.result for o in push(runtime, shops["dy"], payload)] == ["created"]
    order = the_order(runtime)
    assert order.pii_pending_decryption and order.receiver_phone == "138****0000" and order.status == "paid"


def test_unreadable_payloads_become_dead_letters_without_failing_their_batch(
    runtime: Runtime, shops: dict[str, Any]
) -> None:
    items = [
        Incoming(raw=json.dumps(trade(tid=1)), source="pull"),
        Incoming(raw='{"tid": 2, "status": "WAIT_SELLER', source="pull"),
        Incoming(raw=json.dumps(trade(tid=3, status="SOMETHING_NEW")), source="pull"),
        Incoming(raw=json.dumps(trade(tid=4, orders={"order": []})), source="pull"),
        Incoming(raw="[1, 2]", source="pull"),
        Incoming(raw=json.dumps(trade(tid=5)), source="pull"),
    ]
    outcomes = ingest(runtime.uow(), shop=shops["tb"], items=items, policy=runtime.policy, actor=PLATFORM)
    assert [o.result for o in outcomes] == [
        "created",
        DEAD_LETTERED,
        DEAD_LETTERED,
        DEAD_LETTERED,
        DEAD_LETTERED,
        "created",
    ]
    with runtime.reading() as session:
        letters = session.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
        assert [letter.reason_code for letter in letters] == ["payload", "mapping", "validation", "payload"]
        assert letters[1].channel_order_id == "3"
        assert letters[0].raw_body == '{"tid": 2, "status": "WAIT_SELLER' and letters[1].source == "pull"
        assert "SOMETHING_NEW" in letters[1].reason and letters[2].channel_order_id == "4"
    assert all(o.dead_letter_id for o in outcomes if o.result == DEAD_LETTERED)
    assert count(runtime, Order) == 2


def test_a_payload_seen_again_points_at_its_open_dead_letter_instead_of_a_new_one(
    runtime: Runtime, shops: dict[str, Any]
) -> None:
    bad = json.dumps(trade(tid=9, status="SOMETHING_NEW"))
    first = ingest(runtime.uow(), shop=shops["tb"], items=[Incoming(raw=bad, source="pull")],
                   policy=runtime.policy, actor=PLATFORM)
    # The next pull's window overlaps, a push re-sends it, and it comes twice within one batch.
    again = ingest(runtime.uow(), shop=shops["tb"], items=[Incoming(raw=bad, source="pull"),
                   Incoming(raw=bad, source="push")], policy=runtime.policy, actor=PLATFORM)
    assert count(runtime, DeadLetter) == 1
    assert {o.dead_letter_id for o in [*first, *again]} == {first[0].dead_letter_id}
    with runtime.uow() as uow:
        uow.session.get(DeadLetter, first[0].dead_letter_id).status = "discarded"
        uow.commit()
    # Once its letter is closed, a new arrival is a new problem and gets a letter of its own.
    later = ingest(runtime.uow(), shop=shops["tb"], items=[Incoming(raw=bad, source="pull")],
                   policy=runtime.policy, actor=PLATFORM)
    assert count(runtime, DeadLetter) == 2 and later[0].dead_letter_id != first[0].dead_letter_id


def test_an_unknown_sku_holds_the_order_until_it_is_mapped(runtime: Runtime, shops: dict[str, Any]) -> None:
    unknown = trade()
    unknown["orders"]["order"][0]["outer_sku_id"] = "OLD-CODE-9"
    assert [o.result for o in push(runtime, shops["tb"], unknown)] == ["held"]
    order = the_order(runtime)
    assert order.status == "on_hold" and "OLD-CODE-9" in (order.hold_reason or "")
    catalog.map_platform_sku(runtime.uow(), channel="taobao", platform_sku="5099", sku_code="SKU-002")
    mapped = trade(tid=77)
    mapped["orders"]["order"][0] |= {"outer_sku_id": "", "sku_id": "5099"}
    push(runtime, shops["tb"], mapped)
    with runtime.reading() as session:
        new = session.scalars(select(Order).where(Order.channel_order_id == "77")).one()
        assert new.status == "paid" and new.lines[0].sku == "SKU-002"


@pytest.mark.parametrize("threads", [24])
def test_concurrent_deliveries_of_one_new_order_create_it_exactly_once(
    runtime: Runtime, shops: dict[str, Any], threads: int
) -> None:
    """Pushes and pulls racing on many connections: one order, one created event, the rest updates."""
    barrier = threading.Barrier(threads)
    results: list[str] = []
    errors: list[BaseException] = []

    def deliver(number: int) -> None:
        payload = trade(modified=(datetime(2026, 11, 20, 10, 5) + timedelta(seconds=number)).strftime(BEIJING))
        try:
            barrier.wait()
            uow = UnitOfWork(runtime.session_factory, FixedClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC)))
            outcome = ingest(
                uow,
                shop=shops["tb"],
                items=[Incoming(raw=json.dumps(payload), source="push")],
                policy=runtime.policy,
                actor=PLATFORM,
            )
            results.extend(o.result for o in outcome)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=deliver, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert results.count("created") == 1 and len(results) == threads
    assert count(runtime, Order) == 1
    with runtime.reading() as session:
        created = session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.kind == "created"))
    assert created == 1
    assert the_order(runtime).platform_modified_at == datetime(2026, 11, 20, 2, 5, threads - 1, tzinfo=UTC)


@pytest.mark.parametrize("orders", [4, 40], ids=["a few orders", "a bulk batch"])
def test_order_numbers_that_collide_are_drawn_again_until_every_order_is_stored(
    runtime: Runtime, shops: dict[str, Any], monkeypatch: pytest.MonkeyPatch, orders: int
) -> None:
    """A day with millions of orders of one channel makes 6-hex numbers collide: never lose an order."""
    draws = iter(["TB_20261120_aaaaaa"] * 4 + [f"TB_20261120_{n:06x}" for n in range(100)])
    monkeypatch.setattr("orderhub.orders.intake.new_order_nos",
                        lambda channel, day, count: [next(draws) for _ in range(count)])
    outcomes = push(runtime, shops["tb"], *(trade(tid=n) for n in range(1, orders + 1)))
    assert [o.result for o in outcomes] == ["created"] * orders
    assert len({o.order_no for o in outcomes}) == orders and count(runtime, Order) == orders


def test_the_order_keeps_the_text_the_platform_sent_with_its_big_ids_and_amounts_exact(
    runtime: Runtime, shops: dict[str, Any]
) -> None:
    # Stored as it came (not re-encoded): a JSON number id above 2^53 and an amount written "1.50".
    text = json.dumps(trade(tid=4123456789012345678), ensure_ascii=False).replace('"post_fee": "10.00"',
                                                                                    '"post_fee": 10.00')
    assert [o.result for o in push_texts(runtime, shops["tb"], text)] == ["created"]
    order = the_order(runtime)
    assert order.raw_payload is not None and order.raw_payload["tid"] == 4123456789012345678
    assert order.shipping_fee_fen == 1000 and order.raw_payload == json.loads(text)


def test_a_payload_that_came_as_an_object_is_written_out_only_for_its_dead_letter(
    runtime: Runtime, shops: dict[str, Any]
) -> None:
    good, bad = trade(tid=1), trade(tid=4123456789012345678, status="SOMETHING_NEW")
    items = [Incoming(raw="", source="pull", payload=good), Incoming(raw="", source="pull", payload=bad)]
    outcomes = ingest(runtime.uow(), shop=shops["tb"], items=items, policy=runtime.policy, actor=PLATFORM)
    assert [o.result for o in outcomes] == ["created", DEAD_LETTERED]
    with runtime.reading() as session:
        letter = session.scalars(select(DeadLetter)).one()
        assert json.loads(letter.raw_body) == bad and letter.channel_order_id == "4123456789012345678"
        stored = session.scalars(select(Order)).one()
        assert stored.raw_payload == good


def test_several_batches_in_one_transaction_each_store_their_own_orders(
    runtime: Runtime, shops: dict[str, Any]
) -> None:
    """A group commit ingests one batch per shop in one transaction: each writes its orders once."""
    with runtime.uow() as uow:
        for shop, tids in ((shops["tb"], [1, 2]), (shops["tb"], [3]), (shops["pdd"], [])):
            items = [Incoming(raw=json.dumps(trade(tid=tid)), source="push") for tid in tids]
            outcomes = ingest_batch(uow.session, shop=shop, items=items, policy=runtime.policy, actor=PLATFORM,
                                    at=uow.now())
            assert [o.result for o in outcomes] == ["created"] * len(tids)
        uow.commit()
    with runtime.reading() as session:
        stored = session.scalars(select(Order).order_by(Order.id)).all()
        assert [o.channel_order_id for o in stored] == ["1", "2", "3"]
        assert [[line.qty for line in o.lines] for o in stored] == [[2], [2], [2]]
    assert count(runtime, OrderEvent) == 3


def test_a_batch_rolled_back_leaves_nothing_and_the_next_one_goes_through(
    runtime: Runtime, shops: dict[str, Any]
) -> None:
    with runtime.uow() as uow:
        items = [Incoming(raw=json.dumps(trade(tid=tid)), source="push") for tid in (1, 2)]
        ingest_batch(uow.session, shop=shops["tb"], items=items, policy=runtime.policy, actor=PLATFORM, at=uow.now())
        # no commit: the unit of work rolls back (on PostgreSQL with the staging table it made)
    assert count(runtime, Order) == 0
    assert [o.result for o in push(runtime, shops["tb"], trade(tid=1), trade(tid=3))] == ["created", "created"]
    assert count(runtime, Order) == 2 and count(runtime, OrderEvent) == 2


def push_texts(runtime: Runtime, shop: Any, *texts: str) -> list[Any]:
    items = [Incoming(raw=text, source="push") for text in texts]
    return ingest(runtime.uow(), shop=shop, items=items, policy=runtime.policy, actor=PLATFORM)


def test_the_lookup_of_known_orders_is_planned_for_each_batch_never_kept_prepared(
    runtime: Runtime, shops: dict[str, Any]
) -> None:
    """A plan cached while a shop had few orders would scan them all for every id once it has many."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("prepared statements and their cached plans are PostgreSQL's")
    with runtime.uow() as uow:
        for tid in range(1, 11):  # psycopg prepares a statement on its fifth run
            items = [Incoming(raw=json.dumps(trade(tid=tid)), source="push")]
            ingest_batch(uow.session, shop=shops["tb"], items=items, policy=runtime.policy, actor=PLATFORM,
                         at=uow.now())
        connection = uow.session.connection()
        prepared = connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
        uow.commit()
    assert prepared, "the batches' other statements are prepared as usual"
    assert not [statement for statement in prepared if "CROSS JOIN LATERAL" in statement]
    assert count(runtime, Order) == 10
