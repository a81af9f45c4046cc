"""Channel stock sync: what each shop may sell, pushed to its platform through the outbox when it changes.

A stock change only counts itself on its SKU (`sku_stock.change_count`, in the same transaction). The worker's
sync pushes a marked SKU once it has been quiet for `QUIET`, or `MAX_WAIT` after its last push
while it keeps changing (a flash sale never goes quiet): many changes, one push of the final
number. Each shop is sent only quantities that differ from what it was last sent. At or below
safety stock the quantity is 0 (sell-stop). A shop with a share (e.g. 30 % for a Douyin live
session) is shown that share while it lasts; the SKU's other shops are shown the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels import writeback
from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork, one_of
from orderhub.core.errors import InvalidInput
from orderhub.inventory.model import SkuStock, StockShare, StockSyncState
from orderhub.inventory.service import sellable, stock_sku

QUIET = timedelta(seconds=10)
MAX_WAIT = timedelta(seconds=60)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BATCH = 500


class InvalidShare(InvalidInput):
    code = "inventory.invalid_share"


def add_share(uow: UnitOfWork, *, channel: str, shop: str, percent: int, starts_at: datetime, ends_at: datetime,
              actor: Actor, sku: str | None = None, note: str = "") -> StockShare:
    """Keep `percent` of what may be sold for one shop from `starts_at` to `ends_at` (one SKU, or all)."""
    problems = []
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 < percent <= 100:
        problems.append({"field": "percent", "rule": "share.percent", "message": "份额须为 1–100 的整数"})
    if ends_at <= starts_at:
        problems.append({"field": "ends_at", "rule": "share.period", "message": "结束时间须晚于开始时间"})
    if problems:
        raise InvalidShare("the share is not valid / 份额设置有误", details=problems)
    with uow:
        session = uow.session
        found = channels.get_shop(session, channel=channel, code=shop)
        sku_id = stock_sku(session, sku).id if sku else None
        others = _shares(session, starts_at, ends_at, sku_id)
        taken = sum(s.percent for s in others if s.shop_id != found.id)
        if taken + percent > 100:
            raise InvalidShare(f"shares would add up to {taken + percent} % / 各店份额合计将超过 100%", details=[
                {"field": "percent", "rule": "share.total", "message": f"其他店铺同期已占 {taken}%"}])
        share = StockShare(shop_id=found.id, sku_id=sku_id, percent=percent, starts_at=starts_at, ends_at=ends_at,
                           note=note[:200], actor=actor.name[:64], created_at=uow.now())
        session.add(share)
        uow.commit()
        return share


def _shares(session: Session, starts_at: datetime, ends_at: datetime, sku_id: int | None) -> Sequence[StockShare]:
    """Shares overlapping the period that cover the SKU (or, for an all-SKU share, any SKU)."""
    query = select(StockShare).where(StockShare.starts_at < ends_at, StockShare.ends_at > starts_at)
    if sku_id is not None:
        query = query.where(or_(StockShare.sku_id.is_(None), StockShare.sku_id == sku_id))
    return session.scalars(query).all()


@dataclass(frozen=True)
class _Active:
    """The shares in force now: per (shop, SKU) for one SKU, per shop for all SKUs."""

    by_sku: dict[tuple[int, int], int]
    by_shop: dict[int, int]

    def percent(self, shop_id: int, sku_id: int) -> int | None:
        return self.by_sku.get((shop_id, sku_id), self.by_shop.get(shop_id))

    def quantity(self, shop_id: int, sku_id: int, sellable: int, shop_ids: Sequence[int]) -> int:
        own = self.percent(shop_id, sku_id)
        if own is not None:
            return sellable * own // 100
        others = sum(p for other in shop_ids if other != shop_id and (p := self.percent(other, sku_id)) is not None)
        return sellable * max(0, 100 - others) // 100


def sync_stock(uow: UnitOfWork) -> int:
    """Queue a stock write-back for every (shop, platform SKU) whose quantity changed; how many were queued."""
    with uow:
        session, now = uow.session, uow.now()
        _mark_share_changes(session, now)
        pushed_at = func.coalesce(SkuStock.synced_at, EPOCH)
        due = dict(session.execute(
            select(SkuStock.sku_id, SkuStock.change_count)
            .where(SkuStock.change_count > SkuStock.synced_count,
                   or_(SkuStock.changed_at <= now - QUIET, pushed_at <= now - MAX_WAIT))
            .order_by(SkuStock.changed_at).limit(BATCH)
        ).all())
        if not due:
            return 0
        quantities = _sellable_by_code(session, list(due))
        mapped = catalog.platform_skus(session, quantities)
        shops = [shop for shop in channels.list_shops(session) if writeback.writes_stock(shop.channel)]
        active = _active(session, now)
        states = {(s.shop_id, s.platform_sku): s for s in session.scalars(select(StockSyncState))}
        queued = 0
        for code, (sku_id, quantity) in quantities.items():
            listings = mapped.get(code, [])
            # Every shop listing the SKU, on any platform: a share of one leaves the rest to the others.
            selling = [shop.id for shop in shops if shop.channel in {channel for channel, _ in listings}]
            for channel, platform_sku in listings:
                for shop in (shop for shop in shops if shop.channel == channel):
                    shown = active.quantity(shop.id, sku_id, quantity, selling)
                    state = states.get((shop.id, platform_sku))
                    if state is not None and state.quantity == shown:
                        continue
                    if state is None:
                        state = StockSyncState(shop_id=shop.id, platform_sku=platform_sku, quantity=shown,
                                               synced_at=now)
                        session.add(state)
                        states[(shop.id, platform_sku)] = state
                    state.quantity, state.synced_at = shown, now
                    writeback.queue_stock(session, shop_id=shop.id, platform_sku=platform_sku, quantity=shown, at=now)
                    queued += 1
        for sku_id, change_count in due.items():
            # Only the changes read: one since then leaves the SKU due for the next run.
            session.execute(update(SkuStock).where(SkuStock.sku_id == sku_id)
                            .values(synced_count=change_count, synced_at=now))
        uow.commit()
        return queued


def _sellable_by_code(session: Session, sku_ids: list[int]) -> dict[str, tuple[int, int]]:
    """(SKU id, quantity channels may sell) per code: the changed SKUs, and the bundles made of them."""
    codes = catalog.codes_by_id(session, sku_ids)
    rows = session.scalars(select(SkuStock).where(one_of(session, SkuStock.sku_id, sku_ids)))
    found = {codes[row.sku_id]: (row.sku_id, sellable(row)) for row in rows}
    bundles = catalog.bundles_containing(session, sku_ids)
    if bundles:
        units = catalog.stock_units(session, bundles)
        parts = {unit.sku_id for made in units.values() for unit in made}
        stock = {row.sku_id: sellable(row) for row in
                 session.scalars(select(SkuStock).where(one_of(session, SkuStock.sku_id, list(parts))))}
        ids = {sku.code: sku.id for sku in catalog.skus_by_code(session, bundles).values()}
        for bundle, made in units.items():
            found[bundle] = (ids[bundle], min(stock.get(unit.sku_id, 0) // unit.qty for unit in made))
    return found


def _active(session: Session, now: datetime) -> _Active:
    running = session.scalars(select(StockShare).where(StockShare.starts_at <= now, StockShare.ends_at > now))
    by_sku: dict[tuple[int, int], int] = {}
    by_shop: dict[int, int] = {}
    for share in running:
        if share.sku_id is None:
            by_shop[share.shop_id] = share.percent
        else:
            by_sku[(share.shop_id, share.sku_id)] = share.percent
    return _Active(by_sku, by_shop)


def _mark_share_changes(session: Session, now: datetime) -> None:
    """A share that began or ended since the last run changes what its SKUs' shops are shown."""
    begun = session.scalars(select(StockShare).where(StockShare.phase == "scheduled", StockShare.starts_at <= now))
    ended = session.scalars(select(StockShare).where(StockShare.phase != "ended", StockShare.ends_at <= now))
    for share in [*begun, *ended]:
        share.phase = "ended" if share.ends_at <= now else "running"
        marked = update(SkuStock).values(change_count=SkuStock.change_count + 1, changed_at=now)
        session.execute(marked if share.sku_id is None else marked.where(SkuStock.sku_id == share.sku_id))
