"""Catalog use cases."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from orderhub.catalog.errors import DuplicateSku, InvalidBundle, SkuNotFound, UnknownSku
from orderhub.catalog.model import PlatformSkuMapping, Sku, SkuComponent
from orderhub.core.db import UnitOfWork, one_of, psycopg_connection


@dataclass(frozen=True)
class StockUnit:
    """What one unit of a sold SKU takes from stock: `qty` of the stock SKU `code` (id `sku_id`)."""

    sku_id: int
    code: str
    qty: int


def create_sku(
    uow: UnitOfWork,
    *,
    code: str,
    title: str,
    spec: str = "",
    weight_g: int = 0,
    cost_price_fen: int = 0,
    list_price_fen: int = 0,
    components: Sequence[tuple[str, int]] = (),
) -> Sku:
    """Create a SKU; with `components` (code, qty per bundle) it is a bundle (组合装) holding no stock."""
    with uow:
        session = uow.session
        if session.scalar(select(Sku.id).where(Sku.code == code)) is not None:
            raise DuplicateSku(f"SKU {code} already exists / 商品编码 {code} 已存在")
        parts = _check_components(session, code, components)
        sku = Sku(
            code=code,
            title=title,
            spec=spec,
            weight_g=weight_g,
            cost_price_fen=cost_price_fen,
            list_price_fen=list_price_fen,
            is_bundle=bool(parts),
            created_at=uow.now(),
        )
        session.add(sku)
        session.flush()
        session.add_all(SkuComponent(bundle_id=sku.id, component_id=part.id, qty=qty) for part, qty in parts)
        uow.commit()
        return sku


def _check_components(session: Session, code: str, components: Sequence[tuple[str, int]]) -> list[tuple[Sku, int]]:
    """Every problem of a bundle's component list at once, or the components as SKUs."""
    problems: list[dict[str, Any]] = []
    known = skus_by_code(session, (part for part, _ in components))
    repeated = {part for part, seen in Counter(part for part, _ in components).items() if seen > 1}
    for index, (part, qty) in enumerate(components):
        sku = known.get(part)
        rules = [
            ("bundle.self", part == code, f"套装不能包含自身 {part}", f"a bundle cannot contain itself ({part})"),
            ("bundle.unknown_component", sku is None and part != code, f"组件 {part} 不存在",
             f"unknown component SKU {part!r}"),
            ("bundle.nested", sku is not None and sku.is_bundle, f"组件 {part} 本身是套装",
             f"component {part} is itself a bundle"),
            ("bundle.repeated", part in repeated, f"组件 {part} 重复", f"component {part} is listed twice"),
            ("bundle.qty", isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0, "组件数量须为正整数",
             "component quantity must be a positive integer"),
        ]
        problems += [
            {"field": f"components[{index}]", "rule": rule, "message": zh, "messages": {"zh-CN": zh, "en": en}}
            for rule, broken, zh, en in rules
            if broken
        ]
    if problems:
        raise InvalidBundle(
            f"the bundle has {len(problems)} error(s) / 套装有 {len(problems)} 处错误", details=problems
        )
    return [(known[part], qty) for part, qty in components]


def get_sku(session: Session, code: str) -> Sku:
    sku = session.scalar(select(Sku).where(Sku.code == code))
    if sku is None:
        raise SkuNotFound(code)
    return sku


def bundle_components(session: Session, bundle_ids: Collection[int]) -> dict[int, list[tuple[str, int]]]:
    """For each bundle id, its (component code, qty) list in code order."""
    if not bundle_ids:
        return {}
    rows = session.execute(
        select(SkuComponent.bundle_id, Sku.code, SkuComponent.qty)
        .join(Sku, Sku.id == SkuComponent.component_id)
        .where(SkuComponent.bundle_id.in_(bundle_ids))
        .order_by(SkuComponent.bundle_id, Sku.code)
    )
    found: dict[int, list[tuple[str, int]]] = {}
    for bundle_id, code, qty in rows:
        found.setdefault(bundle_id, []).append((code, qty))
    return found


# Order entry asks this for every order: built once; on PostgreSQL straight through psycopg
# (`psycopg_connection`), a third of what SQLAlchemy's execution of it costs.
_ACTIVE_SKUS = select(Sku.id, Sku.code, Sku.is_bundle).where(
    Sku.code.in_(bindparam("codes", expanding=True)), Sku.active.is_(True))
_ACTIVE_SKUS_SQL = "SELECT id, code, is_bundle FROM sku WHERE code = ANY(%s) AND active"


def stock_units(session: Session, codes: Iterable[str]) -> dict[str, list[StockUnit]]:
    """For each active SKU among `codes`, what one unit takes from stock: itself, or a bundle's components.

    Unknown and inactive codes are absent. One query, and a second only when a bundle is among them.
    """
    wanted = set(codes)
    if not wanted:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = psycopg_connection(session).execute(_ACTIVE_SKUS_SQL, (list(wanted),)).fetchall()
    else:
        rows = session.execute(_ACTIVE_SKUS, {"codes": list(wanted)}).all()
    units = {code: [StockUnit(sku_id, code, 1)] for sku_id, code, is_bundle in rows if not is_bundle}
    bundles = {sku_id: code for sku_id, code, is_bundle in rows if is_bundle}
    if bundles:
        parts = session.execute(
            select(SkuComponent.bundle_id, Sku.id, Sku.code, SkuComponent.qty)
            .join(Sku, Sku.id == SkuComponent.component_id)
            .where(SkuComponent.bundle_id.in_(bundles))
            .order_by(Sku.id)
        )
        for bundle_id, sku_id, code, qty in parts:
            units.setdefault(bundles[bundle_id], []).append(StockUnit(sku_id, code, qty))
    return units


def components(session: Session, sku_codes: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
    """For each known SKU, the (stock SKU code, qty) one unit consumes: a bundle's components, else [(sku, 1)]."""
    return {code: [(unit.code, unit.qty) for unit in units] for code, units in stock_units(session, sku_codes).items()}


def skus_by_code(session: Session, codes: Iterable[str]) -> dict[str, Sku]:
    """The active SKUs among `codes`, keyed by code (unknown codes are simply absent)."""
    wanted = set(codes)
    if not wanted:
        return {}
    rows = session.scalars(select(Sku).where(one_of(session, Sku.code, wanted), Sku.active.is_(True)))
    return {sku.code: sku for sku in rows}


def sku_weights(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """The weight in grams of each active SKU among `codes` (unknown codes are absent), without loading SKUs."""
    wanted = set(codes)
    if not wanted:
        return {}
    query = select(Sku.code, Sku.weight_g).where(one_of(session, Sku.code, wanted), Sku.active.is_(True))
    return {code: weight for code, weight in session.execute(query)}


def list_skus(session: Session) -> list[Sku]:
    return list(session.scalars(select(Sku).where(Sku.active.is_(True)).order_by(Sku.code)))


def map_platform_sku(uow: UnitOfWork, *, channel: str, platform_sku: str, sku_code: str) -> PlatformSkuMapping:
    """Say which merchant SKU a platform's SKU id stands for (replacing an earlier mapping)."""
    with uow:
        if uow.session.scalar(select(Sku.id).where(Sku.code == sku_code)) is None:
            raise UnknownSku(f"unknown SKU {sku_code} / 商品编码 {sku_code} 不存在")
        mapping = uow.session.scalar(
            select(PlatformSkuMapping).where(
                PlatformSkuMapping.channel == channel, PlatformSkuMapping.platform_sku == platform_sku
            )
        )
        if mapping is None:
            mapping = PlatformSkuMapping(channel=channel, platform_sku=platform_sku, created_at=uow.now())
            uow.session.add(mapping)
        mapping.sku_code = sku_code
        uow.commit()
        return mapping


# Both look-ups in one statement, built once: intake resolves every batch of orders (pushes of a few),
# and building the statement each time cost more than running it.
_RESOLVE = union_all(
    select(literal(True).label("mapped"), PlatformSkuMapping.platform_sku, PlatformSkuMapping.sku_code).where(
        PlatformSkuMapping.channel == bindparam("channel"),
        PlatformSkuMapping.platform_sku.in_(bindparam("platform_skus", expanding=True))),
    select(literal(False).label("mapped"), Sku.code, Sku.code.label("sku_code")).where(
        Sku.code.in_(bindparam("codes", expanding=True)), Sku.active.is_(True)),
)


def resolve_platform_skus(
    session: Session, channel: str, lines: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Merchant SKU codes for (merchant code as the platform sent it, platform SKU id) pairs.

    A mapping of the platform SKU wins (platforms let codes go stale); else a merchant code that is a
    known SKU. Pairs that resolve to nothing are absent: the order goes on hold for a person.
    """
    pairs = set(lines)
    platform_skus = {platform_sku for _, platform_sku in pairs if platform_sku}
    codes = {code for code, _ in pairs if code}
    mapped: dict[str, str] = {}
    known: set[str] = set()
    if platform_skus or codes:
        found = session.execute(_RESOLVE, {"channel": channel, "platform_skus": list(platform_skus),
                                           "codes": list(codes)})
        for is_mapping, code, sku_code in found:
            if is_mapping:
                mapped[code] = sku_code
            else:
                known.add(code)
    resolved: dict[tuple[str, str], str] = {}
    for code, platform_sku in pairs:
        if platform_sku in mapped:
            resolved[(code, platform_sku)] = mapped[platform_sku]
        elif code in known:
            resolved[(code, platform_sku)] = code
    return resolved


def platform_skus(session: Session, codes: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """For each SKU code, the (channel, platform SKU id) pairs mapped to it."""
    wanted = list(set(codes))
    if not wanted:
        return {}
    rows = session.execute(
        select(PlatformSkuMapping.sku_code, PlatformSkuMapping.channel, PlatformSkuMapping.platform_sku)
        .where(PlatformSkuMapping.sku_code.in_(wanted)).order_by(PlatformSkuMapping.id)
    )
    found: dict[str, list[tuple[str, str]]] = {}
    for code, channel, platform_sku in rows:
        found.setdefault(code, []).append((channel, platform_sku))
    return found


def bundles_containing(session: Session, sku_ids: Collection[int]) -> list[str]:
    """Codes of the bundles that consume any of these SKUs."""
    if not sku_ids:
        return []
    query = (select(Sku.code).join(SkuComponent, SkuComponent.bundle_id == Sku.id)
             .where(SkuComponent.component_id.in_(list(sku_ids))).distinct().order_by(Sku.code))
    return list(session.scalars(query))


def codes_by_id(session: Session, sku_ids: Collection[int] | None = None) -> dict[int, str]:
    """SKU codes by id (of these ids, or of every SKU)."""
    query = select(Sku.id, Sku.code)
    if sku_ids is not None:
        if not sku_ids:
            return {}
        query = query.where(Sku.id.in_(list(sku_ids)))
    return dict(session.execute(query).all())
