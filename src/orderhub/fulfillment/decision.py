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
from typing import Any, NamedTuple

from orderhub.fulfillment import regions
from orderhub.fulfillment.tables import Offers, RoutingTables


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


# The verdicts below are named tuples, not dataclasses: a decision makes a dozen or two of them, and a
# frozen dataclass takes several times as long to build (its fields are set one by one through
# object.__setattr__), which showed as a third of the time `decide` took.
class CarrierOption(NamedTuple):
    code: str
    verdict: CarrierVerdict
    eta_hours: int | None = None
    cost_fen: int | None = None
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "verdict": self.verdict.value, "eta_hours": self.eta_hours,
                "cost_fen": self.cost_fen, "rule": self.rule}


class Shortage(NamedTuple):
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


class Assessment(NamedTuple):
    """One warehouse's verdict; eta, cost and carrier are those of shipping the whole order from it."""

    code: str
    name: str
    verdict: WarehouseVerdict
    eta_hours: int | None = None
    cost_fen: int | None = None
    carrier: str | None = None
    shortages: tuple[Shortage, ...] = ()
    # Worked out for the chosen warehouse (its parcel's) and where no carrier may take the order; the
    # runners-up are judged on their best carrier alone.
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


class Alternative(NamedTuple):
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
        """Why: every warehouse's verdict, the losing splits, what was short, what no carrier could take.

        Stored with every decision, beside its own columns (province, city, weight): only what those do not
        hold, and `reserved` only when the central reservation failed (readers take a missing one as true).
        """
        reasons = {"warehouses": [a.to_json() for a in self.warehouses],
                   "shortages": [s.to_json() for s in self.shortages],
                   "alternatives": [a.to_json() for a in self.alternatives],
                   "carriers": [option.to_json() for option in self.carriers]}
        return reasons if self.reserved else {**reasons, "reserved": False}


def not_reserved(decision: Decision) -> Decision:
    """The order cannot hold its central reservation: out of stock, waiting for stock, whatever the plan was.

    The plan's verdicts are dropped: "chosen" would misstate what happened.
    """
    return Decision(Outcome.UNROUTABLE, decision.province, decision.city, decision.weight_g,
                    reason=Unroutable.OUT_OF_STOCK, reserved=False)


def parcel_weight(lines: Mapping[str, int], weights: Mapping[str, int]) -> int:
    return sum(weights.get(sku, 0) * qty for sku, qty in lines.items())


def _offers(site: Site, province: str, request: Request, tables: RoutingTables) -> Offers:
    return tables.offers(site.code, site.kind, site.province, province, request.city, request.cod, request.channel)


def _options(offers: Offers, weight_g: int) -> tuple[CarrierOption, ...]:
    """Every declared carrier for one parcel: the usable ones ranked (eta, cost, code), the first of them
    chosen, then those excluded by a rule or not collecting there."""
    usable: list[tuple[int, int, str]] = []
    barred: list[CarrierOption] = []
    for offer in offers.declared:
        if offer.eta_hours is None:
            barred.append(CarrierOption(offer.carrier, CarrierVerdict.NOT_OFFERED))
            continue
        rule = offer.barred_by(weight_g) if offer.bars else None
        if rule is not None:
            barred.append(CarrierOption(offer.carrier, CarrierVerdict.EXCLUDED, rule=rule))
            continue
        usable.append((offer.eta_hours, offer.cost_fen(weight_g), offer.carrier))
    usable.sort()
    best_eta, best_cost = usable[0][:2] if usable else (0, 0)
    ranked = [CarrierOption(code, CarrierVerdict(_standing(eta, cost, best_eta, best_cost)) if index
                            else CarrierVerdict.CHOSEN, eta, cost)
              for index, (eta, cost, code) in enumerate(usable)]
    return (*ranked, *barred)


def _fastest(offers: Offers, weight_g: int) -> tuple[int, int, str] | None:
    """(eta, cost, code) of the carrier `_options` would choose, without ranking the others: most
    warehouses and split plans looked at lose, and only the winners' carrier verdicts are kept."""
    best = None
    for offer in offers.by_speed:  # collecting here, fastest first
        eta = offer.eta_hours
        assert eta is not None
        if best is not None and eta > best[0]:
            break
        if offer.always_barred or (offer.max_weight_g is not None and weight_g > offer.max_weight_g):
            continue
        option = (eta, offer.cost_fen(weight_g), offer.carrier)
        if best is None or option < best:
            best = option
    return best


def _standing(eta: int, cost: int, best_eta: int, best_cost: int) -> str:
    """How a runner-up compares with the winner: slower, as fast but pricier, or tied (lost on the code)."""
    if eta > best_eta:
        return "slower"
    return "pricier" if cost > best_cost else "tied"


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
    whole: list[tuple[int, int, str, str, str]] = []  # (eta, cost, code, carrier, name) of each that ships all
    lines = sorted(demand.items())
    held = [(sku, need, stock.get(sku, {})) for sku, need in lines]  # each line's stock by warehouse
    offers: dict[str, Offers] = {}
    for site in sorted(sites, key=lambda s: s.code):
        if not site.active:
            verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.INACTIVE)
        elif site.tripped_until is not None and site.tripped_until > now:
            verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.TRIPPED, until=site.tripped_until)
        elif site.serves and province not in site.serves:
            verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.NOT_SERVING)
        else:
            usable.append(site)
            shortages = tuple(Shortage(sku, need, have) for sku, need, there in held
                              if (have := there.get(site.code, 0)) < need)
            if shortages:
                verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.SHORT, shortages=shortages)
                continue
            offers[site.code] = _offers(site, province, request, tables)
            best = _fastest(offers[site.code], weight)
            if best is None:
                verdicts[site.code] = Assessment(site.code, site.name, WarehouseVerdict.NO_CARRIER,
                                                 carriers=_options(offers[site.code], weight))
                continue
            eta, cost, carrier = best
            whole.append((eta, cost, site.code, carrier, site.name))

    if whole:
        whole.sort()
        eta, cost, code, carrier, name = whole[0]
        options = _options(offers[code], weight)
        verdicts[code] = Assessment(code, name, WarehouseVerdict.CHOSEN, eta, cost, carrier, carriers=options)
        for other_eta, other_cost, other, other_carrier, other_name in whole[1:]:
            standing = WarehouseVerdict(_standing(other_eta, other_cost, eta, cost))
            verdicts[other] = Assessment(other, other_name, standing, other_eta, other_cost, other_carrier)
        parcel = Parcel(code, carrier, tuple(lines), weight, eta, cost, options)
        return Decision(Outcome.ROUTED, province, request.city, weight, parcels=(parcel,),
                        warehouses=_ordered(verdicts, (code,)))

    if not usable:
        return _unroutable(request, province, weight, Unroutable.NO_WAREHOUSE, warehouses=_ordered(verdicts, ()))
    holders = [site for site in usable if any(stock.get(sku, {}).get(site.code, 0) > 0 for sku in demand)]
    missing = tuple(Shortage(sku, need, have) for sku, need in sorted(demand.items())
                    if (have := sum(stock.get(sku, {}).get(site.code, 0) for site in holders)) < need)
    if missing:
        return _unroutable(request, province, weight, Unroutable.OUT_OF_STOCK, warehouses=_ordered(verdicts, ()),
                           shortages=missing)
    return _split(request, province, weight, demand, holders, stock, tables, verdicts)


_VERDICT_ORDER = {verdict: index for index, verdict in enumerate(WarehouseVerdict)}


def _ordered(verdicts: dict[str, Assessment], chosen: Sequence[str]) -> tuple[Assessment, ...]:
    """Chosen warehouses first, then by verdict (the closest runners-up first), fastest, then by code."""
    return tuple(sorted(verdicts.values(), key=lambda item: (
        item.code not in chosen, _VERDICT_ORDER[item.verdict], item.eta_hours or 0, item.cost_fen or 0, item.code)))


def _split(request: Request, province: str, weight: int, demand: dict[str, int], holders: list[Site], stock: Stock,
           tables: RoutingTables, verdicts: dict[str, Assessment]) -> Decision:
    offers = {site.code: _offers(site, province, request, tables) for site in holders}

    # Fill from the warehouse that is fastest to the destination first: it ships the most.
    def speed(site: Site) -> tuple[int, str]:
        fastest = offers[site.code].by_speed
        return (fastest[0].eta_hours or 0) if fastest else 10**6, site.code

    holders = sorted(holders, key=speed)
    # A warehouse holding everything that no carrier may take from is a carrier problem, not a stock one.
    refused = next((verdicts[site.code].carriers for site in holders
                    if verdicts[site.code].verdict is WarehouseVerdict.NO_CARRIER), ())
    covered = bool(refused)
    for size in range(2, min(tables.max_parcels, len(holders)) + 1):
        plans: list[tuple[int, int, tuple[str, ...], tuple[_Draft, ...]]] = []
        for combo in combinations(holders, size):
            if any(sum(stock.get(sku, {}).get(site.code, 0) for site in combo) < need for sku, need in demand.items()):
                continue
            covered = True
            drafts, barred = _plan(request, demand, combo, stock, offers)
            if drafts is None:
                if not refused and barred is not None:
                    refused = _options(offers[barred.warehouse], barred.weight_g)
                continue
            plans.append((max(d.eta_hours for d in drafts), sum(d.cost_fen for d in drafts),
                          tuple(sorted(d.warehouse for d in drafts)), drafts))
        if plans:
            plans.sort(key=lambda plan: plan[:3])
            _, _, codes, drafts = plans[0]
            for code in codes:
                verdicts[code] = verdicts[code]._replace(verdict=WarehouseVerdict.IN_SPLIT)
            parcels = tuple(Parcel(d.warehouse, d.carrier, d.lines, d.weight_g, d.eta_hours, d.cost_fen,
                                   _options(offers[d.warehouse], d.weight_g)) for d in drafts)
            alternatives = tuple(Alternative(plan[2], plan[0], plan[1]) for plan in plans[1:4])
            return Decision(Outcome.ROUTED, province, request.city, weight, parcels=parcels,
                            warehouses=_ordered(verdicts, codes), alternatives=alternatives)
    reason = Unroutable.NO_CARRIER if covered else Unroutable.TOO_MANY_PARCELS
    return _unroutable(request, province, weight, reason, warehouses=_ordered(verdicts, ()), carriers=refused)


class _Draft(NamedTuple):
    """A parcel of a split being weighed; only the winning split's become `Parcel`s, with carrier verdicts."""

    warehouse: str
    lines: tuple[tuple[str, int], ...]
    weight_g: int
    eta_hours: int = 0
    cost_fen: int = 0
    carrier: str = ""


def _plan(request: Request, demand: dict[str, int], combo: Sequence[Site], stock: Stock,
          offers: Mapping[str, Offers]) -> tuple[tuple[_Draft, ...] | None, _Draft | None]:
    """Parcels for one combination of warehouses; or None, with the parcel no carrier may take if that is why."""
    lines: dict[str, dict[str, int]] = {site.code: {} for site in combo}
    for sku, need in sorted(demand.items()):
        for site in combo:
            take = min(need, stock.get(sku, {}).get(site.code, 0))
            if take > 0:
                lines[site.code][sku] = take
                need -= take
            if need == 0:
                break
    drafts = []
    for site in combo:
        taken = lines[site.code]
        if not taken:
            return None, None  # a smaller combination covers the order; it was judged on its own
        weight = parcel_weight(taken, request.weights)
        best = _fastest(offers[site.code], weight)
        if best is None:
            return None, _Draft(site.code, (), weight)
        eta, cost, carrier = best
        drafts.append(_Draft(site.code, tuple(sorted(taken.items())), weight, eta, cost, carrier))
    return tuple(drafts), None
