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
from orderhub.channels.model import Channel
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
