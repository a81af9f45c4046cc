"""Routing tables as data: carriers, delivery times, rates and carrier rules, read from a YAML file.

The file is validated when it is loaded (shapes and ranges by Pydantic, then every cross-reference:
carriers, provinces, region groups, cities), and every problem is reported with where it is. What
routing uses is the compiled form below: flat lookups by province, with region groups expanded.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from orderhub.core.datafile import DataFileError, load_model
from orderhub.fulfillment import regions
from orderhub.inventory.model import WarehouseKind

V = TypeVar("V")


class RoutingTablesError(DataFileError):
    title = "invalid routing tables / 分单规则文件无效"


# ---------------------------------------------------------------------------------------------
# The file as written
# ---------------------------------------------------------------------------------------------

_DURATION = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[mhd])")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60}


def _duration(text: str) -> str:
    match = _DURATION.fullmatch(text.strip())
    if match is None or float(match["amount"]) <= 0:
        raise ValueError("a positive duration such as 30m, 12h or 2d is needed")
    return text


Duration = Annotated[str, AfterValidator(_duration)]


def minutes(text: str) -> int:
    match = _DURATION.fullmatch(text.strip())
    assert match is not None, "validated by Duration"
    return max(1, round(float(match["amount"]) * _UNIT_MINUTES[match["unit"]]))


def hours(text: str) -> int:
    """Delivery times are whole hours (at least one)."""
    return max(1, math.ceil(minutes(text) / 60))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CarrierSpec(_Section):
    name: str = Field(min_length=1, max_length=32)
    name_en: str = Field(min_length=1, max_length=32)


class EtaRow(_Section):
    """Hours in transit from one warehouse with one carrier: by city, same province, province, else default."""

    default: Duration
    same_province: Duration | None = None
    provinces: dict[str, Duration] = Field(default_factory=dict)
    cities: dict[str, Duration] = Field(default_factory=dict)


class Price(_Section):
    first_fen: int = Field(ge=0)  # 首重
    extra_fen: int = Field(ge=0)  # 续重, per started step beyond the first weight


class RateCard(_Section):
    first_weight_g: int = Field(default=1000, ge=1)
    step_g: int = Field(default=1000, ge=1)
    default: Price
    same_province: Price | None = None
    provinces: dict[str, Price] = Field(default_factory=dict)
    cities: dict[str, Price] = Field(default_factory=dict)


class RuleCondition(_Section):
    """When a carrier rule applies: every condition given must hold (none given: always)."""

    provinces: list[str] = Field(default_factory=list)
    cities: list[str] = Field(default_factory=list)
    weight_over_g: int | None = Field(default=None, ge=0)
    cod: bool | None = None
    # Enum values are read from their YAML strings (strict mode alone would want enum instances).
    warehouse_kinds: list[Annotated[WarehouseKind, Field(strict=False)]] = Field(default_factory=list)
    warehouses: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)


class CarrierRuleSpec(_Section):
    name: str = Field(min_length=1, max_length=60)
    when: RuleCondition = Field(default_factory=RuleCondition)
    exclude: list[str] = Field(default_factory=list)
    only: list[str] = Field(default_factory=list)


class RoutingSpec(_Section):
    max_parcels: int = Field(default=3, ge=1, le=10)
    # An order nothing can ship is tried again after this, then after twice as long, up to retry_max.
    retry_after: Duration = "10m"
    retry_max: Duration = "2h"


class BreakerSpec(_Section):
    breaches: int = Field(default=3, ge=1)
    open_for: Duration = "2h"


class TablesFile(_Section):
    version: Literal[1] = 1
    carriers: dict[str, CarrierSpec] = Field(min_length=1)
    regions: dict[str, list[str]] = Field(default_factory=dict)
    routing: RoutingSpec = Field(default_factory=RoutingSpec)
    circuit_breaker: BreakerSpec = Field(default_factory=BreakerSpec)
    eta: dict[str, dict[str, EtaRow]] = Field(default_factory=dict)
    eta_default: dict[str, EtaRow] = Field(default_factory=dict)
    rates: dict[str, RateCard]
    rules: list[CarrierRuleSpec] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The compiled tables
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Lane:
    """Hours in transit from one warehouse with one carrier."""

    default: int
    same_province: int | None
    provinces: dict[str, int]
    cities: dict[str, int]

    def hours(self, *, province: str, city: str, origin_province: str) -> int:
        if city in self.cities:
            return self.cities[city]
        if self.same_province is not None and province == origin_province:
            return self.same_province
        return self.provinces.get(province, self.default)


@dataclass(frozen=True)
class Rate:
    first_weight_g: int
    step_g: int
    default: tuple[int, int]
    same_province: tuple[int, int] | None
    provinces: dict[str, tuple[int, int]]
    cities: dict[str, tuple[int, int]]

    def price(self, *, province: str, city: str, origin_province: str) -> tuple[int, int]:
        """(first weight's price, price per further step) to the destination."""
        if city in self.cities:
            return self.cities[city]
        if self.same_province is not None and province == origin_province:
            return self.same_province
        return self.provinces.get(province, self.default)

    def cost_fen(self, *, weight_g: int, province: str, city: str, origin_province: str) -> int:
        first, extra = self.price(province=province, city=city, origin_province=origin_province)
        return first + steps_beyond(weight_g, self.first_weight_g, self.step_g) * extra


def steps_beyond(weight_g: int, first_weight_g: int, step_g: int) -> int:
    """Started weight steps beyond the first weight (续重步数)."""
    return -(-max(0, weight_g - first_weight_g) // step_g)


@dataclass(frozen=True)
class CarrierRule:
    name: str
    provinces: frozenset[str]
    cities: frozenset[str]
    weight_over_g: int | None
    cod: bool | None
    warehouse_kinds: frozenset[str]
    warehouses: frozenset[str]
    channels: frozenset[str]
    exclude: frozenset[str]
    only: frozenset[str]

    def applies_to_route(self, *, province: str, city: str, cod: bool, warehouse: str, warehouse_kind: str,
                         channel: str) -> bool:
        """Every condition but the weight holds (`weight_over_g` is left to each parcel: see `Offer.bars`)."""
        return not (
            (self.provinces and province not in self.provinces)
            or (self.cities and city not in self.cities)
            or (self.cod is not None and cod != self.cod)
            or (self.warehouse_kinds and warehouse_kind not in self.warehouse_kinds)
            or (self.warehouses and warehouse not in self.warehouses)
            or (self.channels and channel not in self.channels)
        )

    def forbids(self, carrier: str) -> bool:
        return carrier in self.exclude or bool(self.only and carrier not in self.only)


@dataclass(frozen=True)
class BreakerPolicy:
    """How many SLA breaches in a row take a warehouse out of routing, and for how long."""

    threshold: int = 3
    open_for: timedelta = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Offer:
    """One carrier on one route (warehouse → destination, cash on delivery or not, channel), whatever the
    parcel weighs: what is left to work out per parcel is the price of its weight and the weight rules."""

    carrier: str
    eta_hours: int | None  # None: the carrier does not collect at the warehouse
    first_fen: int
    extra_fen: int
    first_weight_g: int
    step_g: int
    # The rules that forbid the carrier on this route, in file order, with the weight above which each
    # applies (None: any weight). The first that applies to a parcel is the one that bars it.
    bars: tuple[tuple[str, int | None], ...]
    # What the bars come to: barred whatever the weight, or above this weight (None: no limit).
    always_barred: bool
    max_weight_g: int | None

    def cost_fen(self, weight_g: int) -> int:
        return self.first_fen + steps_beyond(weight_g, self.first_weight_g, self.step_g) * self.extra_fen

    def barred_by(self, weight_g: int) -> str | None:
        """The name of the rule that bars a parcel of this weight, if one does."""
        return next((name for name, over in self.bars if over is None or weight_g > over), None)


@dataclass(frozen=True, slots=True)
class Offers:
    """Every declared carrier on one route, in declaration order, and those collecting there, fastest first."""

    declared: tuple[Offer, ...]
    by_speed: tuple[Offer, ...]


@dataclass(frozen=True)
class RoutingTables:
    carriers: dict[str, Carrier]
    eta: dict[str, dict[str, Lane]]
    eta_default: dict[str, Lane]
    rates: dict[str, Rate]
    rules: tuple[CarrierRule, ...]
    max_parcels: int
    retry_after: timedelta
    retry_max: timedelta
    breaker: BreakerPolicy
    # Which file and which content decided: stored with every decision.
    source: str
    fingerprint: str
    # The offers of each route asked for so far: they depend on the tables alone, which never change.
    _offers: dict[tuple[str, str, str, str, str, bool, str], Offers] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def lanes_from(self, warehouse: str) -> dict[str, Lane]:
        """The carriers that collect at `warehouse`; a warehouse the file does not list gets the default row."""
        return self.eta.get(warehouse, self.eta_default)

    def offers(self, warehouse: str, warehouse_kind: str, origin_province: str, province: str, city: str, cod: bool,
               channel: str) -> Offers:
        """The carriers from `warehouse` (of that kind, in that province) to the destination (memoised).

        A city, warehouse or channel no table or rule names is looked up as "any other", so the memo
        grows with the tables, not with the addresses routed.
        """
        named = self._named
        key = (warehouse if warehouse in named.warehouses else "", warehouse_kind, origin_province, province,
               city if city in named.cities else "", cod, channel if channel in named.channels else "")
        found = self._offers.get(key)
        if found is None:
            found = self._offers[key] = self._offers_on(warehouse, warehouse_kind, origin_province, province, city,
                                                        cod, channel)
        return found

    def _offers_on(self, warehouse: str, warehouse_kind: str, origin_province: str, province: str, city: str,
                   cod: bool, channel: str) -> Offers:
        lanes = self.lanes_from(warehouse)
        applying = [rule for rule in self.rules
                    if rule.applies_to_route(province=province, city=city, cod=cod, warehouse=warehouse,
                                             warehouse_kind=warehouse_kind, channel=channel)]
        declared = []
        for code in self.carriers:
            lane = lanes.get(code)
            rate = self.rates[code]
            first, extra = rate.price(province=province, city=city, origin_province=origin_province)
            eta = lane.hours(province=province, city=city, origin_province=origin_province) if lane else None
            bars = tuple((rule.name, rule.weight_over_g) for rule in applying if rule.forbids(code))
            limits = [over for _, over in bars if over is not None]
            declared.append(Offer(code, eta, first, extra, rate.first_weight_g, rate.step_g, bars,
                                  always_barred=any(over is None for _, over in bars),
                                  max_weight_g=min(limits) if limits else None))
        by_speed = sorted((offer for offer in declared if offer.eta_hours is not None),
                          key=lambda offer: (offer.eta_hours, offer.carrier))
        return Offers(tuple(declared), tuple(by_speed))

    @cached_property
    def _named(self) -> _Named:
        """The cities, warehouses and channels the tables name: every other one is routed alike."""
        cities = {city for rows in (*self.eta.values(), self.eta_default) for lane in rows.values()
                  for city in lane.cities}
        cities |= {city for rate in self.rates.values() for city in rate.cities}
        cities |= {city for rule in self.rules for city in rule.cities}
        warehouses = set(self.eta) | {code for rule in self.rules for code in rule.warehouses}
        return _Named(frozenset(cities), frozenset(warehouses),
                      frozenset(channel for rule in self.rules for channel in rule.channels))


@dataclass(frozen=True)
class _Named:
    cities: frozenset[str]
    warehouses: frozenset[str]
    channels: frozenset[str]


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


class _References:
    """Cross-reference checks over the parsed file; each problem names its path."""

    def __init__(self, spec: TablesFile) -> None:
        self.spec = spec
        self.problems: list[str] = []
        self.groups: dict[str, frozenset[str]] = {}

    def check_regions(self) -> None:
        for name, members in self.spec.regions.items():
            if regions.province(name) is not None:
                self.problems.append(f"regions.{name}: a region group cannot be named like a province")
            if not members:
                self.problems.append(f"regions.{name}: a region group needs at least one province")
            resolved = set()
            for index, member in enumerate(members):
                full = regions.province(member)
                if full is None:
                    self.problems.append(f"regions.{name}.{index}: unknown province {member!r}")
                else:
                    resolved.add(full)
            self.groups[name] = frozenset(resolved)

    def carrier(self, code: str, where: str) -> None:
        if code not in self.spec.carriers:
            self.problems.append(f"{where}: unknown carrier {code!r} (declared: {', '.join(self.spec.carriers)})")

    def places(self, names: Iterable[str], where: str) -> frozenset[str]:
        """Provinces named directly or through region groups."""
        found: set[str] = set()
        for index, name in enumerate(names):
            full = regions.province(name)
            if full is not None:
                found.add(full)
            elif name in self.groups:
                found |= self.groups[name]
            else:
                self.problems.append(f"{where}.{index}: unknown province or region {name!r}")
        return frozenset(found)

    def by_province(self, entries: dict[str, V], where: str) -> dict[str, V]:
        """Expand region groups; a province named directly wins over its group, two groups may not overlap."""
        direct: dict[str, V] = {}
        grouped: dict[str, tuple[str, V]] = {}
        for key, value in entries.items():
            full = regions.province(key)
            if full is not None:
                if full in direct:
                    self.problems.append(f"{where}.{key}: {full} is listed twice")
                direct[full] = value
            elif key in self.groups:
                for member in self.groups[key]:
                    if member in grouped:
                        self.problems.append(
                            f"{where}.{key}: {member} is also in region {grouped[member][0]}; name it directly")
                    grouped[member] = (key, value)
            else:
                self.problems.append(f"{where}.{key}: unknown province or region {key!r}")
        return {**{member: value for member, (_, value) in grouped.items()}, **direct}

    def by_city(self, entries: dict[str, V], where: str) -> dict[str, V]:
        found: dict[str, V] = {}
        for key, value in entries.items():
            full = regions.city(key)
            if full is None:
                self.problems.append(f"{where}.{key}: unknown city {key!r}")
            else:
                found[full] = value
        return found

    def cities(self, names: Iterable[str], where: str) -> frozenset[str]:
        return frozenset(self.by_city(dict.fromkeys(names, True), where))

    def lane(self, row: EtaRow, where: str) -> Lane:
        return Lane(
            default=hours(row.default),
            same_province=hours(row.same_province) if row.same_province else None,
            provinces={p: hours(v) for p, v in self.by_province(row.provinces, f"{where}.provinces").items()},
            cities={c: hours(v) for c, v in self.by_city(row.cities, f"{where}.cities").items()},
        )

    def rate(self, card: RateCard, where: str) -> Rate:
        def pair(price: Price) -> tuple[int, int]:
            return price.first_fen, price.extra_fen

        return Rate(
            first_weight_g=card.first_weight_g,
            step_g=card.step_g,
            default=pair(card.default),
            same_province=pair(card.same_province) if card.same_province else None,
            provinces={p: pair(v) for p, v in self.by_province(card.provinces, f"{where}.provinces").items()},
            cities={c: pair(v) for c, v in self.by_city(card.cities, f"{where}.cities").items()},
        )

    def rule(self, index: int, rule: CarrierRuleSpec) -> CarrierRule:
        where = f"rules.{index}"
        if bool(rule.exclude) == bool(rule.only):
            self.problems.append(f"{where}: give exactly one of `exclude` or `only` (a list of carriers)")
        for key in ("exclude", "only"):
            for position, code in enumerate(getattr(rule, key)):
                self.carrier(code, f"{where}.{key}.{position}")
        when = rule.when
        return CarrierRule(
            name=rule.name,
            provinces=self.places(when.provinces, f"{where}.when.provinces"),
            cities=self.cities(when.cities, f"{where}.when.cities"),
            weight_over_g=when.weight_over_g,
            cod=when.cod,
            warehouse_kinds=frozenset(kind.value for kind in when.warehouse_kinds),
            warehouses=frozenset(when.warehouses),
            channels=frozenset(when.channels),
            exclude=frozenset(rule.exclude),
            only=frozenset(rule.only),
        )


def compile_tables(spec: TablesFile, *, source: str, fingerprint: str) -> tuple[RoutingTables | None, list[str]]:
    refs = _References(spec)
    refs.check_regions()
    eta: dict[str, dict[str, Lane]] = {}
    for warehouse, rows in spec.eta.items():
        eta[warehouse] = {}
        for code, row in rows.items():
            refs.carrier(code, f"eta.{warehouse}.{code}")
            eta[warehouse][code] = refs.lane(row, f"eta.{warehouse}.{code}")
    eta_default = {}
    for code, row in spec.eta_default.items():
        refs.carrier(code, f"eta_default.{code}")
        eta_default[code] = refs.lane(row, f"eta_default.{code}")
    rates = {}
    for code, card in spec.rates.items():
        refs.carrier(code, f"rates.{code}")
        rates[code] = refs.rate(card, f"rates.{code}")
    for code in spec.carriers:
        if code not in spec.rates:
            refs.problems.append(f"rates: no rate card for carrier {code}")
    names = [rule.name for rule in spec.rules]
    for index, name in enumerate(names):
        if name in names[:index]:
            refs.problems.append(f"rules.{index}.name: the rule name {name!r} is used twice")
    rules = tuple(refs.rule(index, rule) for index, rule in enumerate(spec.rules))
    if minutes(spec.routing.retry_max) < minutes(spec.routing.retry_after):
        refs.problems.append("routing.retry_max: shorter than routing.retry_after")
    if refs.problems:
        return None, refs.problems
    tables = RoutingTables(
        carriers={code: Carrier(code, c.name, c.name_en) for code, c in spec.carriers.items()},
        eta=eta,
        eta_default=eta_default,
        rates=rates,
        rules=rules,
        max_parcels=spec.routing.max_parcels,
        retry_after=timedelta(minutes=minutes(spec.routing.retry_after)),
        retry_max=timedelta(minutes=minutes(spec.routing.retry_max)),
        breaker=BreakerPolicy(spec.circuit_breaker.breaches, timedelta(minutes=minutes(spec.circuit_breaker.open_for))),
        source=source,
        fingerprint=fingerprint,
    )
    return tables, []


def default_tables_path() -> Path:
    return Path(__file__).with_name("routing") / "default.yaml"


def load_tables(path: Path | None = None) -> RoutingTables:
    """Read and validate a routing tables file (None: the default); `RoutingTablesError` lists every problem."""
    path = default_tables_path() if path is None else Path(path)
    spec = load_model(path, TablesFile, RoutingTablesError)
    fingerprint = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    tables, problems = compile_tables(spec, source=path.name, fingerprint=fingerprint)
    if tables is None:
        raise RoutingTablesError(path, problems)
    return tables


@cache
def tables_at(path: Path | None) -> RoutingTables:
    """The tables a process routes with (`ORDERHUB_ROUTING_FILE`), loaded once; restart to take an edit."""
    return load_tables(path)
