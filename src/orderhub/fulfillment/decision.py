"""The routing decision as a pure function: which warehouses ship an order, with which carriers, and why.

No database here: `decide` takes the order's demand, the warehouses, their stock and the routing
tables, and returns the decision with a verdict for every warehouse and carrier it looked at, so
the console can say why one won and each other lost. Order of preference:

1. one warehouse that can ship everything (active, serves the province, not tripped, in stock,
   at least one carrier allowed), fastest delivery first, then cheapest, then by code;
2. otherwise a split across warehouses, fewest parcels first, then the slowest parcel's delivery
   (the order is complete when the last parcel arrives), then the total cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import combinations
from typing import Any

from orderhub.fulfillment import regions
from orderhub.fulfillment.tables import RoutingTables


class Outcome(StrEnum):
    ROUTED = "routed"
    UNROUTABLE = "unroutable"


class Unroutable(StrEnum):
    """Why no plan could be made."""

    PROVINCE_UNKNOWN = "province_unknown"
    NO_ITEMS = "no_items"
    NO_WAREHOUSE = "no_warehouse"  # none active, serving the province and untripped
    OUT_OF_STOCK = "out_of_stock"  # not even all warehouses together hold the order
    TOO_MANY_PARCELS = "too_many_parcels"
    NO_CARRIER = "no_carrier"  # stock is there, but every carrier is excluded


class WarehouseVerdict(StrEnum):
    CHOSEN = "chosen"
    IN_SPLIT = "in_split"
    SLOWER = "slower"
    PRICIER = "pricier"
    TIED = "tied"  # as fast and as cheap; the lower code won
    SHORT = "short"
    NOT_SERVING = "not_serving"
    TRIPPED = "tripped"
    INACTIVE = "inactive"
    NO_CARRIER = "no_carrier"


class CarrierVerdict(StrEnum):
    CHOSEN = "chosen"
    SLOWER = "slower"
    PRICIER = "pricier"
    TIED = "tied"
    EXCLUDED = "excluded"
    NOT_OFFERED = "not_offered"  # does not collect at this warehouse


@dataclass(frozen=True)
class Site:
    """A warehouse as routing sees it."""

    code: str
    name: str
    kind: str
    province: str
    serves: frozenset[str] = frozenset()  # full province names; empty: nationwide
    active: bool = True
    tripped_until: datetime | None = None


@dataclass(frozen=True)
class Request:
    """What is to be shipped where; `demand` has bundles already expanded into their components."""

    province: str
    city: str
    demand: Mapping[str, int]
    weights: Mapping[str, int]  # grams per unit; a SKU without a weight counts as 0 g
    cod: bool = False
    channel: str = ""


Stock = Mapping[str, Mapping[str, int]]  # SKU → warehouse code → sellable quantity


@dataclass(frozen=True)
class CarrierOption:
    code: str
    verdict: CarrierVerdict
    eta_hours: int | None = None
    cost_fen: int | None = None
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "verdict": self.verdict.value, "eta_hours": self.eta_hours,
                "cost_fen": self.cost_fen, "rule": self.rule}


@dataclass(frozen=True)
class Shortage:
    sku: str
    need: int
    have: int

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "need": self.need, "have": self.have}


@dataclass(frozen=True)
class Parcel:
    warehouse: str
    carrier: str
    lines: tuple[tuple[str, int], ...]
    weight_g: int
    eta_hours: int
    cost_fen: int
    carriers: tuple[CarrierOption, ...]  # why this carrier

    def to_json(self) -> dict[str, Any]:
        return {"warehouse": self.warehouse, "carrier": self.carrier,
                "lines": [{"sku": sku, "qty": qty} for sku, qty in self.lines], "weight_g": self.weight_g,
                "eta_hours": self.eta_hours, "cost_fen": self.cost_fen,
                "carriers": [option.to_json() for option in self.carriers]}


@dataclass(frozen=True)
class Assessment:
    """One warehouse's verdict; eta, cost and carrier are those of shipping the whole order from it."""

    code: str
    name: str
    verdict: WarehouseVerdict
    eta_hours: int | None = None
    cost_fen: int | None = None
    carrier: str | None = None
    shortages: tuple[Shortage, ...] = ()
    carriers: tuple[CarrierOption, ...] = ()
    until: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        # A warehouse's carrier list is kept only where it explains the verdict (no carrier left); the chosen
        # warehouse's is on its parcel. Stored per decision, so the rest would be bulk nobody reads.
        carriers = self.carriers if self.verdict is WarehouseVerdict.NO_CARRIER else ()
        return {"code": self.code, "name": self.name, "verdict": self.verdict.value, "eta_hours": self.eta_hours,
                "cost_fen": self.cost_fen, "carrier": self.carrier,
                "shortages": [s.to_json() for s in self.shortages],
                "carriers": [option.to_json() for option in carriers],
                "until": self.until.isoformat() if self.until else None}


@dataclass(frozen=True)
class Alternative:
    """A split that lost to the chosen one."""

    warehouses: tuple[str, ...]
    eta_hours: int
    cost_fen: int

    def to_json(self) -> dict[str, Any]:
        return {"warehouses": list(self.warehouses), "eta_hours": self.eta_hours, "cost_fen": self.cost_fen}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    province: str
    city: str
    weight_g: int
    reason: Unroutable | None = None
    parcels: tuple[Parcel, ...] = ()
    warehouses: tuple[Assessment, ...] = ()
    shortages: tuple[Shortage, ...] = ()  # out of stock: what all usable warehouses together lack
    alternatives: tuple[Alternative, ...] = ()
    # Carriers a parcel could not use, when no carrier was left (no_carrier).
    carriers: tuple[CarrierOption, ...] = ()
    # False: a plan was found, but inventory could not reserve the order's stock centrally (sold out overall).
    reserved: bool = True

    @property
    def routed(self) -> bool:
        return self.outcome is Outcome.ROUTED

    @property
    def split(self) -> bool:
        return len(self.parcels) > 1

    @property
    def eta_hours(self) -> int | None:
        return max(parcel.eta_hours for parcel in self.parcels) if self.parcels else None

    @property
    def cost_fen(self) -> int | None:
        return sum(parcel.cost_fen for parcel in self.parcels) if self.parcels else None

    def allocations(self) -> list[tuple[str, str, int]]:
        """(SKU, warehouse, qty) for inventory: what each warehouse is to ship."""
        return [(sku, parcel.warehouse, qty) for parcel in self.parcels for sku, qty in parcel.lines]

    def reasons_json(self) -> dict[str, Any]:
        """Why: every warehouse's verdict, the losing splits, what was short, what no carrier could take."""
        return {"province": self.province, "city": self.city, "weight_g": self.weight_g, "reserved": self.reserved,
                "warehouses": [a.to_json() for a in self.warehouses],
                "shortages": [s.to_json() for s in self.shortages],
                "alternatives": [a.to_json() for a in self.alternatives],
                "carriers": [option.to_json() for option in self.carriers]}


def not_reserved(decision: Decision) -> Decision:
    """The order cannot hold its central reservation: out of stock, waiting for stock, whatever the plan was.

    The plan's verdicts are dropped: "chosen" would misstate what happened.
    """
    return Decision(Outcome.UNROUTABLE, decision.province, decision.city, decision.weight_g,
                    reason=Unroutable.OUT_OF_STOCK, reserved=False)


def parcel_weight(lines: Mapping[str, int], weights: Mapping[str, int]) -> int:
    return sum(weights.get(sku, 0) * qty for sku, qty in lines.items())


def carrier_options(site: Site, *, weight_g: int, province: str, request: Request,
                    tables: RoutingTables) -> tuple[CarrierOption, ...]:
    """Every declared carrier for one parcel from `site`: the usable ones ranked (eta, cost, code), the first
    of them chosen, then those excluded by a rule or not collecting there."""
    lanes = tables.lanes_from(site.code)
    applying = [rule for rule in tables.rules
                if rule.applies(province=province, city=request.city, weight_g=weight_g, cod=request.cod,
                                warehouse=site.code, warehouse_kind=site.kind, channel=request.channel)]
    usable: list[tuple[int, int, str]] = []
    barred: list[CarrierOption] = []
    for code in tables.carriers:
        lane = lanes.get(code)
        if lane is None:
            barred.append(CarrierOption(code, CarrierVerdict.NOT_OFFERED))
            continue
        rule = next((rule for rule in applying if rule.forbids(code)), None)
        if rule is not None:
            barred.append(CarrierOption(code, CarrierVerdict.EXCLUDED, rule=rule.name))
            continue
        eta = lane.hours(province=province, city=request.city, origin_province=site.province)
        cost = tables.rates[code].cost_fen(weight_g=weight_g, province=province, city=request.city,
                                           origin_province=site.province)
        usable.append((eta, cost, code))
    usable.sort()
    ranked = [CarrierOption(code, CarrierVerdict(_standing(eta, cost, usable[0])) if index else CarrierVerdict.CHOSEN,
                            eta, cost)
              for index, (eta, cost, code) in enumerate(usable)]
    return (*ranked, *barred)


def _standing(eta: int, cost: int, best: tuple[int, int, str]) -> str:
    """How a runner-up compares with the winner: slower, as fast but pricier, or tied (lost on the code)."""
    if eta > best[0]:
        return "slower"
    return "pricier" if cost > best[1] else "tied"


def _best(options: tuple[CarrierOption, ...]) -> CarrierOption | None:
    return options[0] if options and options[0].verdict is CarrierVerdict.CHOSEN else None


def _unroutable(request: Request, province: str, weight: int, reason: Unroutable, **parts: Any) -> Decision:
    return Decision(Outcome.UNROUTABLE, province, request.city, weight, reason=reason, **parts)


def decide(request: Request, sites: Sequence[Site], stock: Stock, tables: RoutingTables, *, now: datetime) -> Decision:
    province = regions.province(request.province)
    demand = {sku: qty for sku, qty in request.demand.items() if qty > 0}
    weight = parcel_weight(demand, request.weights)
    if province is None:
        return _unroutable(request, request.province, weight, Unroutable.PROVINCE_UNKNOWN)
    if not demand:
        return _unroutable(request, province, weight, Unroutable.NO_ITEMS)

    verdicts: dict[str, Assessment] = {}
    usable: list[Site] = []
    whole: list[tuple[int, int, str]] = []
    for site in sorted(sites, key=lambda s: s.code):
        if not site.active:
            verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.INACTIVE)
        elif site.tripped_until is not None and site.tripped_until > now:
            verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.TRIPPED, until=site.tripped_until)
        elif site.serves and province not in site.serves:
            verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.NOT_SERVING)
        else:
            usable.append(site)
            shortages = tuple(Shortage(sku, need, have) for sku, need in sorted(demand.items())
                              if (have := stock.get(sku, {}).get(site.code, 0)) < need)
            if shortages:
                verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.SHORT, shortages=shortages)
                continue
            options = carrier_options(site, weight_g=weight, province=province, request=request, tables=tables)
            best = _best(options)
            if best is None or best.eta_hours is None or best.cost_fen is None:
                verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.NO_CARRIER, carriers=options)
                continue
            whole.append((best.eta_hours, best.cost_fen, site.code))
            verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.CHOSEN, best.eta_hours,
                                             best.cost_fen, best.code, carriers=options)

    if whole:
        whole.sort()
        winner = whole[0]
        for eta, cost, code in whole[1:]:
            verdicts[code] = _with_verdict(verdicts[code], WarehouseVerdict(_standing(eta, cost, winner)))
        chosen = verdicts[winner[2]]
        assert chosen.carrier is not None
        parcel = Parcel(chosen.code, chosen.carrier, tuple(sorted(demand.items())), weight, winner[0], winner[1],
                        chosen.carriers)
        return Decision(Outcome.ROUTED, province, request.city, weight, parcels=(parcel,),
                        warehouses=_ordered(verdicts, (chosen.code,)))

    if not usable:
        return _unroutable(request, province, weight, Unroutable.NO_WAREHOUSE, warehouses=_ordered(verdicts, ()))
    holders = [site for site in usable if any(stock.get(sku, {}).get(site.code, 0) > 0 for sku in demand)]
    missing = tuple(Shortage(sku, need, have) for sku, need in sorted(demand.items())
                    if (have := sum(stock.get(sku, {}).get(site.code, 0) for site in holders)) < need)
    if missing:
        return _unroutable(request, province, weight, Unroutable.OUT_OF_STOCK, warehouses=_ordered(verdicts, ()),
                           shortages=missing)
    return _split(request, province, weight, demand, holders, stock, tables, verdicts)


def _with_verdict(assessment: Assessment, verdict: WarehouseVerdict) -> Assessment:
    return Assessment(assessment.code, assessment.name, verdict, assessment.eta_hours, assessment.cost_fen,
                      assessment.carrier, assessment.shortages, assessment.carriers, assessment.until)


_VERDICT_ORDER = {verdict: index for index, verdict in enumerate(WarehouseVerdict)}


def _ordered(verdicts: dict[str, Assessment], chosen: Sequence[str]) -> tuple[Assessment, ...]:
    """Chosen warehouses first, then by verdict (the closest runners-up first), fastest, then by code."""
    return tuple(sorted(verdicts.values(), key=lambda item: (
        item.code not in chosen, _VERDICT_ORDER[item.verdict], item.eta_hours or 0, item.cost_fen or 0, item.code)))


def _split(request: Request, province: str, weight: int, demand: dict[str, int], holders: list[Site], stock: Stock,
           tables: RoutingTables, verdicts: dict[str, Assessment]) -> Decision:
    # Fill from the warehouse that is fastest to the destination first: it ships the most.
    def speed(site: Site) -> tuple[int, str]:
        lanes = tables.lanes_from(site.code).values()
        fastest = min((lane.hours(province=province, city=request.city, origin_province=site.province)
                       for lane in lanes), default=10**6)
        return fastest, site.code

    holders = sorted(holders, key=speed)
    # A warehouse holding everything that no carrier may take from is a carrier problem, not a stock one.
    refused = next((verdicts[site.code].carriers for site in holders
                    if verdicts[site.code].verdict is WarehouseVerdict.NO_CARRIER), ())
    covered = bool(refused)
    for size in range(2, min(tables.max_parcels, len(holders)) + 1):
        plans: list[tuple[int, int, tuple[str, ...], tuple[Parcel, ...]]] = []
        for combo in combinations(holders, size):
            if any(sum(stock.get(sku, {}).get(site.code, 0) for site in combo) < need for sku, need in demand.items()):
                continue
            covered = True
            parcels, refused_here = _plan(request, province, demand, combo, stock, tables)
            if parcels is None:
                refused = refused or refused_here
                continue
            plans.append((max(p.eta_hours for p in parcels), sum(p.cost_fen for p in parcels),
                          tuple(sorted(site.code for site in combo)), parcels))
        if plans:
            plans.sort(key=lambda plan: plan[:3])
            _, _, codes, parcels = plans[0]
            for code in codes:
                verdicts[code] = _with_verdict(verdicts[code], WarehouseVerdict.IN_SPLIT)
            alternatives = tuple(Alternative(plan[2], plan[0], plan[1]) for plan in plans[1:4])
            return Decision(Outcome.ROUTED, province, request.city, weight, parcels=parcels,
                            warehouses=_ordered(verdicts, codes), alternatives=alternatives)
    reason = Unroutable.NO_CARRIER if covered else Unroutable.TOO_MANY_PARCELS
    return _unroutable(request, province, weight, reason, warehouses=_ordered(verdicts, ()), carriers=refused)


def _plan(request: Request, province: str, demand: dict[str, int], combo: Sequence[Site], stock: Stock,
          tables: RoutingTables) -> tuple[tuple[Parcel, ...] | None, tuple[CarrierOption, ...]]:
    """Parcels for one combination of warehouses, or None with the carriers refused for a parcel."""
    lines: dict[str, dict[str, int]] = {site.code: {} for site in combo}
    for sku, need in sorted(demand.items()):
        for site in combo:
            take = min(need, stock.get(sku, {}).get(site.code, 0))
            if take > 0:
                lines[site.code][sku] = take
                need -= take
            if need == 0:
                break
    parcels = []
    for site in combo:
        taken = lines[site.code]
        if not taken:
            return None, ()  # a smaller combination covers the order; it was judged on its own
        weight = parcel_weight(taken, request.weights)
        options = carrier_options(site, weight_g=weight, province=province, request=request, tables=tables)
        best = _best(options)
        if best is None or best.eta_hours is None or best.cost_fen is None:
            return None, options
        parcels.append(Parcel(site.code, best.code, tuple(sorted(taken.items())), weight, best.eta_hours,
                              best.cost_fen, options))
    return tuple(parcels), ()
