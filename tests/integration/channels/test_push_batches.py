"""Group commit: several pushes in one transaction, each answered on its own."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from orderhub.channels import service as channels
from orderhub.channels.batching import GroupCommitter
from orderhub.channels.errors import PushRejected, ShopNotFound
from orderhub.channels.model import Channel, ChannelCall, DeadLetter
from orderhub.channels.push import PushReceipt, PushRequest, receive_pushes
from orderhub.channels.signing import miniprogram_signature
from orderhub.core.clock import FixedClock
from orderhub.orders.model import Order
from orderhub.runtime import Runtime

SECRET = "mp-secret"


def signed(order_id: str, event_id: str, secret: str = SECRET, **changes: Any) -> PushRequest:
    order = {
        "order_id": order_id, "status": "paid", "updated_at": "2026-11-20T10:05:00+08:00",
        "paid_at": "2026-11-20T10:00:00+08:00",
        "receiver": {"name": "张三", "phone": "13800138000", "province": "浙江省", "city": "杭州市",
                     "district": "西湖区", "address": "文三路90号"},
        "lines": [{"line_id": "1", "sku": "SKU-001", "qty": 1, "unit_price": "99.00", "discount": "0.00"}],
        "shipping_fee": "0.00", "discount": "0.00", "paid_amount": "99.00", **changes,
    }
    body = json.dumps({"event_id": event_id, "event": "order.created", "order": order}).encode()
    stamp = str(int(time.time()))
    return PushRequest("miniprogram", "mp", {"X-OrderHub-Timestamp": stamp,
                                             "X-OrderHub-Signature": miniprogram_signature(secret, stamp, body)}, body)


@pytest.fixture
def clock() -> FixedClock:
    # Mini-program pushes are signed with the wall clock and refused outside a 5-minute window.
    return FixedClock(datetime.now(UTC))


def test_a_batch_answers_each_push_and_refuses_only_the_bad_ones(runtime: Runtime, merchant: None) -> None:
    channels.create_shop(runtime.uow(), channel=Channel.MINIPROGRAM, code="mp", name="小程序")
    channels.set_credentials(runtime.uow(), channel="miniprogram", code="mp", box=runtime.secrets, app_key="k",
                             app_secret=SECRET)
    requests = [
        signed("A1", "e1"), signed("A2", "e2"), signed("A1", "e1"),  # the third repeats the first delivery
        signed("A3", "e3", secret="stolen"), PushRequest("miniprogram", "nope", {}, b"{}"), signed("A4", "e4"),
    ]
    results = receive_pushes(runtime.uow(), requests=requests, box=runtime.secrets, policy=runtime.policy)
    assert [type(r) for r in results] == [PushReceipt, PushReceipt, PushReceipt, PushRejected, ShopNotFound,
                                          PushReceipt]
    first, _, repeat, _, _, last = results
    assert isinstance(first, PushReceipt) and first.results == {"created": 1}
    assert isinstance(repeat, PushReceipt) and repeat.duplicates == 1 and repeat.accepted == 0
    assert isinstance(last, PushReceipt) and last.accepted == 1
    with runtime.reading() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 3


def test_the_group_committer_batches_concurrent_requests() -> None:
    batches: list[int] = []

    def handle(batch: list[int]) -> list[int]:
        batches.append(len(batch))
        time.sleep(0.01)
        return [n * 2 for n in batch]

    committer: GroupCommitter[int, int] = GroupCommitter(handle, max_batch=50, max_wait=0.02)

    async def many() -> list[int]:
        return list(await asyncio.gather(*(committer.submit(n) for n in range(40))))

    assert asyncio.run(many()) == [n * 2 for n in range(40)]
    assert sum(batches) == 40 and len(batches) < 40


def test_every_push_of_a_batch_is_counted_in_its_shops_health(runtime: Runtime, merchant: None) -> None:
    channels.create_shop(runtime.uow(), channel=Channel.MINIPROGRAM, code="mp", name="小程序")
    channels.set_credentials(runtime.uow(), channel="miniprogram", code="mp", box=runtime.secrets, app_key="k",
                             app_secret=SECRET)
    requests = [signed("A1", "e1"), signed("A1", "e1"), signed("A2", "e2", secret="stolen"), signed("A3", "e3")]
    receive_pushes(runtime.uow(), requests=requests, box=runtime.secrets, policy=runtime.policy)
    with runtime.reading() as session:
        calls = session.execute(select(ChannelCall.kind, ChannelCall.ok, ChannelCall.error_code)
                                .order_by(ChannelCall.id)).all()
        letter = session.scalars(select(DeadLetter)).one()
    assert [tuple(call) for call in calls] == [("push", True, ""), ("push", True, ""), ("push", False, "signature"),
                                               ("push", True, "")]
    assert letter.reason_code == "signature" and '"A2"' in letter.raw_body


def test_credentials_rotated_between_batches_apply_to_the_next_batch(runtime: Runtime, merchant: None) -> None:
    channels.create_shop(runtime.uow(), channel=Channel.MINIPROGRAM, code="mp", name="小程序")
    channels.set_credentials(runtime.uow(), channel="miniprogram", code="mp", box=runtime.secrets, app_key="k",
                             app_secret=SECRET)
    first = receive_pushes(runtime.uow(), requests=[signed("A1", "e1")], box=runtime.secrets, policy=runtime.policy)
    channels.set_credentials(runtime.uow(), channel="miniprogram", code="mp", box=runtime.secrets, app_key="k",
                             app_secret="rotated")
    old, new = receive_pushes(runtime.uow(), requests=[signed("A2", "e2"), signed("A3", "e3", secret="rotated")],
                              box=runtime.secrets, policy=runtime.policy)
    assert isinstance(first[0], PushReceipt) and isinstance(old, PushRejected) and isinstance(new, PushReceipt)


def test_a_failed_batch_answers_every_waiting_push_with_the_failure() -> None:
    def handle(batch: list[int]) -> list[int]:
        time.sleep(0.01)
        raise RuntimeError("database gone")

    committer: GroupCommitter[int, int] = GroupCommitter(handle, max_batch=50, max_wait=0.02)

    async def many() -> list[int | BaseException]:
        return list(await asyncio.gather(*(committer.submit(n) for n in range(10)), return_exceptions=True))

    answers = asyncio.run(many())
    assert len(answers) == 10 and all(isinstance(a, RuntimeError) and str(a) == "database gone" for a in answers)
