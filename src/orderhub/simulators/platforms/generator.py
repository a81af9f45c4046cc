"""Realistic orders: Chinese receivers and addresses, the platform's id shapes, a plausible history.

Every draw comes from the shop's seeded `random.Random`, so a run is repeatable. Some orders carry
the oddities real data has: cities without a district level (东莞, 中山, 儋州, 嘉峪关), a district
left out by the buyer, a SKU code the merchant never registered, presale deposits, cash on delivery,
PDD amounts typed as strings.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from orderhub.channels.platforms.base import BEIJING
from orderhub.simulators.platforms import reference
from orderhub.simulators.platforms.model import Line, Listing, Order, Receiver, SimulatedShop, Stage

# Channels whose order lists only ever show paid orders (COD orders count as payable at once).
PAID_ONLY = {"jd", "pdd"}
SINGLE_LINE = {"kuaishou", "pdd"}
STAGE_WEIGHTS = {
    Stage.PENDING_PAYMENT: 5, Stage.PAID: 35, Stage.SHIPPED: 25, Stage.FINISHED: 20,
    Stage.CANCELLED: 8, Stage.REFUNDED: 7,
}


def order_id(channel: str, rng: random.Random, created_at: datetime) -> str:
    """The platform's own id shape: 19-digit TOP tids (above 2^53), PDD's `yymmdd-…` order_sn, …"""
    local = created_at.astimezone(BEIJING)
    shapes = {
        "taobao": lambda: str(rng.randint(2 * 10**18, 4 * 10**18)),
        "tmall": lambda: str(rng.randint(2 * 10**18, 4 * 10**18)),
        "jd": lambda: str(rng.randint(280 * 10**9, 310 * 10**9)),
        "pdd": lambda: f"{local:%y%m%d}-{rng.randint(10**14, 10**15 - 1)}",
        "douyin": lambda: str(rng.randint(69 * 10**17, 70 * 10**17 - 1)),
        "kuaishou": lambda: str(rng.randint(24 * 10**14, 25 * 10**14 - 1)),
        "shopify": lambda: str(rng.randint(58 * 10**11, 60 * 10**11 - 1)),
        "miniprogram": lambda: f"MP{local:%Y%m%d}{rng.randint(0, 10**8 - 1):08d}",
    }
    return shapes[channel]()


def platform_id(rng: random.Random, digits: int) -> int:
    """A numeric id of `digits` digits that still fits the platforms' signed 64-bit longs."""
    return rng.randint(10 ** (digits - 1), 9 * 10 ** (digits - 1))


def line_id(channel: str, rng: random.Random) -> int:
    lengths = {"taobao": 19, "tmall": 19, "douyin": 19, "kuaishou": 16, "shopify": 14}
    return platform_id(rng, lengths.get(channel, 12))


def listing(channel: str, sku_code: str, rng: random.Random) -> Listing:
    """The platform's SKU and item ids for a merchant code, with a product title, spec and price."""
    title, specs, price = rng.choice(reference.PRODUCTS)
    id_digits = {"taobao": (13, 12), "tmall": (13, 12), "jd": (12, 11), "pdd": (12, 12), "douyin": (16, 19),
                 "kuaishou": (14, 14), "shopify": (14, 13), "miniprogram": (8, 8)}
    sku_digits, item_digits = id_digits[channel]
    return Listing(
        sku_code=sku_code, platform_sku_id=platform_id(rng, sku_digits), item_id=platform_id(rng, item_digits),
        title=title, spec=rng.choice(specs), price_fen=price, inventory_item_id=platform_id(rng, 14),
    )


def unknown_code(channel: str, rng: random.Random) -> str:
    """A SKU code the merchant never registered; JD sometimes sends none at all."""
    if channel == "jd" and rng.random() < 0.5:
        return ""
    return rng.choice(("GIFT-", "OLD-", "X")) + str(rng.randint(100, 9999))


def receiver(rng: random.Random) -> Receiver:
    place = rng.choice(reference.PLACES)
    district = place.district
    if district and rng.random() < 0.04:
        district = ""  # the buyer left it out
    return Receiver(
        name=reference.person_name(rng), phone=reference.mobile(rng), province=place.province, city=place.city,
        district=district, town=rng.choice(place.towns), detail=reference.street_detail(place, rng), zip=place.zip,
        adcode=place.adcode,
    )


def _line(shop: SimulatedShop, code: str, rng: random.Random) -> Line:
    if rng.random() < 0.03 or not code:
        code = unknown_code(shop.channel, rng)
    if code not in shop.catalog:
        shop.catalog[code] = listing(shop.channel, code, rng)
    sku = shop.catalog[code]
    qty = rng.choice((1, 1, 1, 1, 2, 2, 3))
    discount = rng.choice((0, 0, 0, 500, 1000)) if sku.price_fen > 1000 else 0
    return Line(line_id=line_id(shop.channel, rng), listing=sku, qty=qty, unit_price_fen=sku.price_fen,
                discount_fen=min(discount, qty * sku.price_fen - 100))


def _history(order: Order, stage: Stage, until: datetime, rng: random.Random, *, unpaid_cancel: bool) -> None:
    """Walk the order from creation towards `stage`, stopping where the clock (`until`) runs out.

    With `unpaid_cancel` a cancelled order never paid (closed by timeout); otherwise it was paid and
    cancelled before shipping (how JD and PDD show cancellations).
    """
    at = order.created_at

    def step(low: timedelta, high: timedelta) -> datetime | None:
        nonlocal at
        moved = at + timedelta(seconds=rng.uniform(low.total_seconds(), high.total_seconds()))
        if moved > until:
            return None
        at = moved.replace(microsecond=0)
        return at

    if stage is Stage.PENDING_PAYMENT:
        return
    if stage is Stage.CANCELLED and unpaid_cancel:
        closed = step(timedelta(minutes=15), timedelta(minutes=30))
        if closed:
            order.stage, order.closed_at, order.modified_at = Stage.CANCELLED, closed, closed
        return
    paid = step(timedelta(seconds=5), timedelta(minutes=10))
    if paid is None:
        return
    order.stage, order.paid_at, order.modified_at = Stage.PAID, paid, paid
    if stage in (Stage.CANCELLED, Stage.REFUNDED):
        closed = step(timedelta(minutes=20), timedelta(hours=30))
        if closed:
            order.stage, order.closed_at, order.modified_at = stage, closed, closed
        return
    if stage is Stage.PAID:
        return
    shipped = step(timedelta(hours=1), timedelta(hours=36))
    if shipped is None:
        return
    order.carrier_code = rng.choice(reference.CARRIERS)
    order.waybill_no = reference.waybill(order.carrier_code, rng)
    order.stage, order.shipped_at, order.modified_at = Stage.SHIPPED, shipped, shipped
    if stage is Stage.FINISHED:
        finished = step(timedelta(days=1), timedelta(days=6))
        if finished:
            order.stage, order.finished_at, order.modified_at = Stage.FINISHED, finished, finished


def generate_order(shop: SimulatedShop, sku_codes: list[str], created_at: datetime, until: datetime,
                   *, stage: Stage | None = None) -> Order:
    """One order of `shop`, created at `created_at`, moved along its life no later than `until`."""
    rng = shop.rng
    created_at = created_at.replace(microsecond=0)
    count = 1 if shop.channel in SINGLE_LINE else rng.choice((1, 1, 1, 2, 2, 3))
    codes = rng.sample(sku_codes, min(count, len(sku_codes))) if sku_codes else [""]
    lines = [_line(shop, code, rng) for code in codes]
    goods = sum(line.amount_fen for line in lines)
    target = stage or rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]
    if shop.channel in PAID_ONLY and target is Stage.PENDING_PAYMENT:
        target = Stage.PAID
    order = Order(
        order_id=order_id(shop.channel, rng, created_at), stage=Stage.PENDING_PAYMENT, created_at=created_at,
        modified_at=created_at, receiver=receiver(rng), lines=lines,
        shipping_fee_fen=rng.choice((0, 0, 0, 600, 800, 1000)),
        seller_discount_fen=rng.choice((0, 0, 0, 1000, 2000)) if goods > 5000 else 0,
        platform_discount_fen=rng.choice((0, 0, 300, 500)) if shop.channel in ("pdd", "douyin") else 0,
        buyer_nick=f"tb{rng.randint(10**7, 10**8 - 1)}", buyer_id=f"{rng.getrandbits(64):016x}",
        buyer_memo=rng.choice(reference.BUYER_MEMOS), seller_memo=rng.choice(reference.SELLER_MEMOS),
        payment_no=f"42000{rng.randint(10**22, 10**23 - 1)}",
        presale=shop.channel in ("taobao", "tmall") and rng.random() < 0.03,
        cod=shop.channel == "jd" and rng.random() < 0.03,
        money_as_text=shop.channel == "pdd" and rng.random() < 0.25,
        number=1001 + len(shop.orders),
    )
    _history(order, target, until, rng, unpaid_cancel=shop.channel not in PAID_ONLY)
    return order
