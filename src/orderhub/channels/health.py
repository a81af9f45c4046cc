"""Channel health per shop: last success, calls and failures in the last hour, lag behind the platform.

When callbacks or pulls of a shop keep failing (by default more than 95 % over 5 minutes) a
`channel.health_degraded` event goes to the outbox, once per window; the alerts work turns those
into notifications.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from orderhub.channels.model import ChannelCall, DeadLetter, PullCursor, Shop
from orderhub.core.db import UnitOfWork
from orderhub.core.outbox import OutboxEvent, add_event

HOUR = timedelta(hours=1)
DEGRADED_TOPIC = "channel.health_degraded"


@dataclass(frozen=True)
class ShopHealth:
    shop_id: int
    channel: str
    code: str
    name: str
    last_success_at: datetime | None
    calls: int
    failures: int
    lag: timedelta | None  # how far behind the platform the pull cursor is
    open_dead_letters: int
    rejected_pushes: int
    last_error: str | None

    @property
    def failure_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0


def _call_counts(session: Session, since: datetime) -> dict[int, tuple[int, int, datetime | None]]:
    rows = session.execute(
        select(
            ChannelCall.shop_id, func.count(), func.sum(case((ChannelCall.ok.is_(False), 1), else_=0)),
            func.max(case((ChannelCall.ok.is_(True), ChannelCall.at))),
        ).where(ChannelCall.at >= since).group_by(ChannelCall.shop_id)
    )
    return {shop_id: (calls, int(failures or 0), last_ok) for shop_id, calls, failures, last_ok in rows}


def shop_health(session: Session, now: datetime) -> list[ShopHealth]:
    counts = _call_counts(session, now - HOUR)
    letters = dict(session.execute(
        select(DeadLetter.shop_id, func.count()).where(DeadLetter.status == "open").group_by(DeadLetter.shop_id)
    ).all())
    rejected = dict(session.execute(
        select(DeadLetter.shop_id, func.count())
        .where(DeadLetter.status == "rejected", DeadLetter.received_at >= now - HOUR).group_by(DeadLetter.shop_id)
    ).all())
    last_ok = dict(session.execute(
        select(ChannelCall.shop_id, func.max(ChannelCall.at)).where(ChannelCall.ok.is_(True))
        .group_by(ChannelCall.shop_id)
    ).all())
    report = []
    for shop in session.scalars(select(Shop).order_by(Shop.channel, Shop.code)):
        cursor = session.get(PullCursor, shop.id)
        calls, failures, _ = counts.get(shop.id, (0, 0, None))
        report.append(ShopHealth(
            shop_id=shop.id, channel=shop.channel, code=shop.code, name=shop.name,
            last_success_at=last_ok.get(shop.id), calls=calls, failures=failures,
            lag=(now - cursor.modified_until) if cursor else None, open_dead_letters=letters.get(shop.id, 0),
            rejected_pushes=rejected.get(shop.id, 0), last_error=cursor.last_error if cursor else None,
        ))
    return report


def raise_degraded(uow: UnitOfWork, *, threshold: float, window: timedelta, min_calls: int = 5) -> list[str]:
    """Emit one `channel.health_degraded` event per failing shop per window; returns the shops flagged."""
    flagged = []
    with uow:
        session = uow.session
        now = uow.now()
        for shop_id, (calls, failures, _) in _call_counts(session, now - window).items():
            if calls < min_calls or failures / calls <= threshold:
                continue
            shop = session.get(Shop, shop_id)
            assert shop is not None
            key = f"{shop.channel}/{shop.code}"
            already = session.scalar(select(OutboxEvent.id).where(
                OutboxEvent.topic == DEGRADED_TOPIC, OutboxEvent.key == key, OutboxEvent.created_at >= now - window))
            if already is not None:
                continue
            add_event(session, topic=DEGRADED_TOPIC, key=key, at=now, payload={
                "shop": key, "calls": calls, "failures": failures, "failure_rate": round(failures / calls, 3),
                "window_minutes": int(window.total_seconds() // 60)})
            flagged.append(key)
        uow.commit()
    return flagged


def prune_calls(uow: UnitOfWork, *, keep: timedelta = timedelta(days=7)) -> int:
    """Health needs the last hour; a week is kept for looking back at an incident."""
    with uow:
        result = uow.session.execute(ChannelCall.__table__.delete().where(ChannelCall.at < uow.now() - keep))
        uow.commit()
        return int(result.rowcount or 0)
