"""The channels domain's background work: incremental pulls, fetching notified orders, backfills.

A pull reads the platform's modified-time axis from the shop's cursor (minus an overlap, because
platforms index late) up to a little before now, in windows the platforms accept, page by page.
Each page is ingested in its own transaction, so a crash loses at most the page in flight and the
overlap plus exactly-once ingestion make the re-read harmless. The cursor only moves when the
whole range was read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from orderhub.channels import service as shops
from orderhub.channels.ingest import Incoming, Tally, ingest, ingest_batch, shop_ref
from orderhub.channels.model import ChannelCall, InboundMessage, PullCursor, Shop
from orderhub.channels.platforms.base import PlatformClient, PlatformError, RateLimited, client_for
from orderhub.core.actor import Actor
from orderhub.core.jobs import take_lease, worker_identity
from orderhub.core.logging import log
from orderhub.runtime import Runtime

OVERLAP = timedelta(minutes=5)
# The newest seconds are left for the next run: platforms make late writes visible a little late.
SETTLE = timedelta(seconds=30)
# Windows every platform accepts (PDD's increment API allows 30 minutes at most).
WINDOW = timedelta(minutes=30)
FIRST_PULL_LOOKBACK = timedelta(days=1)
NORMAL_INTERVAL = timedelta(minutes=15)
PROMOTION_INTERVAL = timedelta(minutes=5)
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ATTEMPTS = 4
FETCH_BATCH = 100
MAX_FETCH_ATTEMPTS = 10


@dataclass
class PullReport:
    shop: str
    pages: int = 0
    tally: Tally = field(default_factory=lambda: Tally.of([]))
    error: str | None = None


def _wait(state: RetryCallState) -> float:
    """Back off exponentially, or as long as a rate limit says."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, RateLimited) and error.retry_after:
        return error.retry_after
    return wait_exponential(multiplier=0.5, max=8)(state)


def _retrying() -> Retrying:
    return Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, PlatformError) and exc.retryable),
        stop=stop_after_attempt(ATTEMPTS), wait=_wait, reraise=True,
    )


def windows(start: datetime, end: datetime, size: timedelta = WINDOW) -> Iterator[tuple[datetime, datetime]]:
    while start < end:
        yield start, min(start + size, end)
        start += size


def _record_call(runtime: Runtime, shop_id: int, kind: str, started: float, error: PlatformError | None) -> None:
    with runtime.uow() as uow:
        uow.session.add(ChannelCall(
            shop_id=shop_id, kind=kind, at=uow.now(), ok=error is None, error_code=error.code[:64] if error else "",
            latency_ms=int((time.perf_counter() - started) * 1000),
        ))
        uow.commit()


def _client(runtime: Runtime, shop: Shop, http: httpx.Client) -> PlatformClient:
    return client_for(shop.channel, shops.credentials_of(shop, runtime.secrets), http)


def read_range(runtime: Runtime, shop: Shop, http: httpx.Client, start: datetime, end: datetime, *, source: str
               ) -> PullReport:
    """Read every order the platform modified in [start, end) and ingest it, page by page."""
    report = PullReport(shop=f"{shop.channel}/{shop.code}")
    client = _client(runtime, shop, http)
    ref = shop_ref(shop)
    actor = Actor(shop.channel, "channel")
    for window_start, window_end in windows(start, end):
        page: str | None = None
        while True:
            started = time.perf_counter()
            try:
                result = _retrying()(client.list_modified, window_start, window_end, page)
            except PlatformError as exc:
                _record_call(runtime, shop.id, "pull", started, exc)
                report.error = f"{exc.code}: {exc.message}"
                return report
            _record_call(runtime, shop.id, "pull", started, None)
            items = [Incoming(raw="", source=source, payload=order) for order in result.orders]
            if items:
                report.tally.add(ingest(runtime.uow(), shop=ref, items=items, policy=runtime.policy, actor=actor))
            report.pages += 1
            page = result.next_page
            if page is None:
                break
    return report


def pull_shop(runtime: Runtime, shop_id: int, http: httpx.Client) -> PullReport:
    """One incremental pull of a shop from its cursor; the cursor advances only after a complete read."""
    now = runtime.clock.now()
    with runtime.reading() as session:
        shop = session.get(Shop, shop_id)
        assert shop is not None
        cursor = session.get(PullCursor, shop_id)
        start = (cursor.modified_until - OVERLAP) if cursor else now - FIRST_PULL_LOOKBACK
    end = now - SETTLE
    report = read_range(runtime, shop, http, start, end, source="pull")
    with runtime.uow() as uow:
        cursor = uow.session.get(PullCursor, shop_id)
        if cursor is None:
            cursor = PullCursor(shop_id=shop_id, modified_until=start)
            uow.session.add(cursor)
        cursor.last_run_at = now
        cursor.last_error = report.error
        if report.error is None:
            cursor.modified_until = max(cursor.modified_until, end)
            cursor.last_success_at = now
        uow.commit()
    log.info("pull_done", shop=report.shop, pages=report.pages, counts=dict(report.tally.counts), error=report.error)
    return report


def backfill(runtime: Runtime, *, channel: str, shop_code: str, start: datetime, end: datetime) -> PullReport:
    """Re-read a time range after an outage; exactly-once ingestion makes every missed order appear once."""
    with runtime.reading() as session:
        shop = shops.get_shop(session, channel=channel, code=shop_code)
    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        return read_range(runtime, shop, http, start, end, source="backfill")


def _due(shop: Shop, cursor: PullCursor | None, now: datetime) -> bool:
    interval = PROMOTION_INTERVAL if shop.promotion_mode else NORMAL_INTERVAL
    return cursor is None or cursor.last_run_at is None or now - cursor.last_run_at >= interval


def pull_due_shops(runtime: Runtime) -> list[PullReport]:
    """Every connected shop whose interval has passed, each under its own lease (one worker per shop)."""
    now = runtime.clock.now()
    holder = worker_identity()
    with runtime.reading() as session:
        candidates = [
            (shop.id, shop.promotion_mode)
            for shop in session.scalars(select(Shop).where(Shop.pull_enabled.is_(True), Shop.app_key != ""))
            if _due(shop, session.get(PullCursor, shop.id), now)
        ]
    reports = []
    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        for shop_id, promotion in candidates:
            lease = PROMOTION_INTERVAL if promotion else NORMAL_INTERVAL
            if take_lease(runtime.session_factory, name=f"pull:{shop_id}", holder=holder, ttl=lease, now=now):
                reports.append(pull_shop(runtime, shop_id, http))
    return reports


def fetch_notified(runtime: Runtime) -> int:
    """Fetch the orders that push notices named (Douyin, Taobao, JD, PDD, Kuaishou) and ingest them."""
    done = 0
    with runtime.reading() as session:
        waiting = session.execute(
            select(InboundMessage.id, InboundMessage.shop_id, InboundMessage.channel_order_id)
            .where(InboundMessage.fetch_pending.is_(True), InboundMessage.fetch_attempts < MAX_FETCH_ATTEMPTS)
            .order_by(InboundMessage.id).limit(FETCH_BATCH)
        ).all()
        shops_by_id = {shop.id: shop for shop in session.scalars(
            select(Shop).where(Shop.id.in_({shop_id for _, shop_id, _ in waiting})))}
    with httpx.Client(timeout=HTTP_TIMEOUT) as http:
        for message_id, shop_id, channel_order_id in waiting:
            shop = shops_by_id[shop_id]
            started = time.perf_counter()
            error: PlatformError | None = None
            try:
                order = _retrying()(_client(runtime, shop, http).fetch_order, channel_order_id)
            except PlatformError as exc:
                error = exc
            _record_call(runtime, shop.id, "fetch", started, error)
            with runtime.uow() as uow:
                message = uow.session.get(InboundMessage, message_id)
                assert message is not None
                if error is None:
                    # The order and the cleared notice commit together: a crash re-fetches, never loses.
                    ingest_batch(uow.session, shop=shop_ref(shop), policy=runtime.policy,
                                 items=[Incoming(raw="", source="push", payload=order)],
                                 actor=Actor(shop.channel, "channel"), at=uow.now())
                    message.fetch_pending = False
                    done += 1
                else:
                    message.fetch_attempts += 1
                    message.last_error = f"{error.code}: {error.message}"[:500]
                uow.commit()
    return done
