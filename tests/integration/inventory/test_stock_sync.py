"""Channel stock sync: debounced pushes of what each shop may sell, shares for promotions, sell-stop."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.model import Channel
from orderhub.channels.writeback import STOCK_TOPIC
from orderhub.core.clock import FixedClock
from orderhub.core.errors import OrderHubError
from orderhub.core.outbox import OutboxEvent
from orderhub.inventory import service as inventory
from orderhub.inventory import sync
from orderhub.runtime import Runtime
from tests.integration.inventory.conftest import CLERK, stock_up
from tests.integration.inventory.test_reservations import order

pytestmark = pytest.mark.usefixtures("warehouses")


@pytest.fixture
def listed(runtime: Runtime, warehouses: None) -> None:
    """SKU-001 and the gift set are listed on the Douyin shop and on a Taobao shop; the phone shop takes no stock."""
    channels.create_shop(runtime.uow(), channel=Channel.TAOBAO, code="tb", name="淘宝店")
    for channel, platform_sku, code in [("douyin", "1001", "SKU-001"), ("taobao", "2001", "SKU-001"),
                                        ("douyin", "1009", "GIFT-SET")]:
        catalog.map_platform_sku(runtime.uow(), channel=channel, platform_sku=platform_sku, sku_code=code)


def pushed(runtime: Runtime) -> list[tuple[str, int]]:
    """Stock write-backs queued so far, as (platform SKU, quantity), newest last; then forgets them."""
    with runtime.uow() as uow:
        events = uow.session.scalars(select(OutboxEvent).where(OutboxEvent.topic == STOCK_TOPIC,
                                                                OutboxEvent.published_at.is_(None))
                                     .order_by(OutboxEvent.id)).all()
        for event in events:
            event.published_at = uow.now()
        uow.commit()
    return sorted((e.payload["platform_sku"], e.payload["quantity"]) for e in events)


@pytest.mark.usefixtures("listed")
def test_changes_are_pushed_once_quiet_and_only_when_a_shop_would_see_another_number(
    runtime: Runtime, clock: FixedClock
) -> None:
    stock_up(runtime, "SKU-001", "HZ", 100)
    stock_up(runtime, "SKU-002", "HZ", 10)
    assert sync.sync_stock(runtime.uow()) == 3  # never pushed before: at once, to both shops, the set too
    assert pushed(runtime) == [("1001", 100), ("1009", 5), ("2001", 100)]
    order(runtime, qty=3)
    order(runtime, qty=1)
    assert sync.sync_stock(runtime.uow()) == 0  # still changing: wait until quiet
    clock.advance(sync.QUIET)
    assert sync.sync_stock(runtime.uow()) == 2  # two orders, one push of the final number; the set is unchanged
    assert pushed(runtime) == [("1001", 96), ("2001", 96)]
    clock.advance(sync.QUIET)
    assert sync.sync_stock(runtime.uow()) == 0


@pytest.mark.usefixtures("listed")
def test_a_sku_that_keeps_changing_is_still_pushed_after_the_longest_wait(runtime: Runtime, clock: FixedClock) -> None:
    stock_up(runtime, "SKU-001", "HZ", 50)
    sync.sync_stock(runtime.uow())
    pushed(runtime)
    for _ in range(7):  # an order every 8 s: never quiet for 10 s
        clock.advance(timedelta(seconds=8))
        order(runtime, qty=1)
        assert sync.sync_stock(runtime.uow()) == 0
    clock.advance(timedelta(seconds=8))
    order(runtime, qty=1)
    sync.sync_stock(runtime.uow())  # 64 s since the last push
    assert pushed(runtime) == [("1001", 42), ("2001", 42)]


@pytest.mark.usefixtures("listed")
def test_a_live_session_share_and_safety_stock_change_what_shops_are_shown(
    runtime: Runtime, clock: FixedClock
) -> None:
    stock_up(runtime, "SKU-001", "HZ", 100)
    sync.sync_stock(runtime.uow())
    pushed(runtime)
    start = clock.now() + timedelta(minutes=5)
    sync.add_share(runtime.uow(), channel="douyin", shop="dy-flagship", percent=30, starts_at=start,
                   ends_at=start + timedelta(hours=2), actor=CLERK, sku="SKU-001", note="直播专享")
    assert sync.sync_stock(runtime.uow()) == 0  # not begun yet
    clock.advance(timedelta(minutes=5))
    sync.sync_stock(runtime.uow())
    clock.advance(sync.QUIET)
    sync.sync_stock(runtime.uow())
    assert pushed(runtime) == [("1001", 30), ("2001", 70)]
    clock.advance(timedelta(hours=2))
    sync.sync_stock(runtime.uow())
    clock.advance(sync.QUIET)
    sync.sync_stock(runtime.uow())
    assert pushed(runtime) == [("1001", 100), ("2001", 100)]
    inventory.set_safety(runtime.uow(), sku="SKU-001", safety=100, actor=CLERK)
    clock.advance(sync.QUIET)
    sync.sync_stock(runtime.uow())
    assert pushed(runtime) == [("1001", 0), ("2001", 0)]  # sell-stop (the set, short of SKU-002, showed 0 already)


@pytest.mark.usefixtures("listed")
@pytest.mark.parametrize(("changes", "rule"), [
    ({"percent": 0}, "share.percent"), ({"percent": 101}, "share.percent"), ({"percent": 12.5}, "share.percent"),
    ({"ends_in": timedelta(0)}, "share.period"), ({"percent": 80, "shop": "tb", "channel": "taobao"}, "share.total"),
])
def test_a_bad_share_is_refused(runtime: Runtime, clock: FixedClock, changes: dict[str, object], rule: str) -> None:
    sync.add_share(runtime.uow(), channel="douyin", shop="dy-flagship", percent=30, starts_at=clock.now(),
                   ends_at=clock.now() + timedelta(hours=1), actor=CLERK)
    asked = dict(changes)
    ends_in = asked.pop("ends_in", timedelta(hours=1))
    request = {"channel": "douyin", "shop": "dy-flagship", "percent": 30} | asked
    with pytest.raises(OrderHubError) as refused:
        sync.add_share(runtime.uow(), starts_at=clock.now(), ends_at=clock.now() + ends_in,  # type: ignore[operator]
                       actor=CLERK, **request)  # type: ignore[arg-type]
    assert refused.value.code == "inventory.invalid_share"
    assert rule in {d["rule"] for d in refused.value.details}
