"""Channel health: counts per shop and one degraded event per window when calls keep failing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from orderhub.channels import service as channels
from orderhub.channels.health import DEGRADED_TOPIC, raise_degraded, shop_health
from orderhub.channels.model import Channel, ChannelCall
from orderhub.core.clock import FixedClock
from orderhub.core.outbox import OutboxEvent
from orderhub.runtime import Runtime


def calls(runtime: Runtime, shop_id: int, clock: FixedClock, ok: int, failed: int) -> None:
    with runtime.uow() as uow:
        for number in range(ok + failed):
            uow.session.add(ChannelCall(shop_id=shop_id, kind="push", at=clock.now() - timedelta(seconds=number),
                                        ok=number < ok, error_code="" if number < ok else "signature"))
        uow.commit()


def test_health_counts_the_last_hour_per_shop(runtime: Runtime, clock: FixedClock) -> None:
    shop = channels.create_shop(runtime.uow(), channel=Channel.DOUYIN, code="dy", name="抖音")
    calls(runtime, shop.id, clock, ok=3, failed=1)
    with runtime.uow() as uow:
        uow.session.add(ChannelCall(shop_id=shop.id, kind="pull", at=clock.now() - timedelta(hours=2), ok=False))
        uow.commit()
    with runtime.reading() as session:
        (row,) = shop_health(session, clock.now())
    assert (row.calls, row.failures, row.failure_rate) == (4, 1, 0.25)
    assert row.last_success_at == clock.now()


def test_callbacks_failing_over_threshold_raise_one_event_per_window(runtime: Runtime, clock: FixedClock) -> None:
    failing = channels.create_shop(runtime.uow(), channel=Channel.DOUYIN, code="dy", name="抖音")
    healthy = channels.create_shop(runtime.uow(), channel=Channel.PDD, code="pdd", name="拼多多")
    calls(runtime, failing.id, clock, ok=0, failed=20)
    calls(runtime, healthy.id, clock, ok=19, failed=1)
    window = timedelta(minutes=5)
    assert raise_degraded(runtime.uow(), threshold=0.95, window=window) == ["douyin/dy"]
    assert raise_degraded(runtime.uow(), threshold=0.95, window=window) == []
    clock.advance(timedelta(minutes=6))
    calls(runtime, failing.id, clock, ok=0, failed=20)
    assert raise_degraded(runtime.uow(), threshold=0.95, window=window) == ["douyin/dy"]
    with runtime.reading() as session:
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == DEGRADED_TOPIC)).all()
    assert len(events) == 2 and events[0].payload["failure_rate"] == 1.0
