"""The routing decision, table-driven and without a database: which warehouse, which carrier, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from orderhub.fulfillment.decision import (
    CarrierVerdict,
    Decision,
    Outcome,
    Request,
    Site,
    Unroutable,
    WarehouseVerdict,
    decide,
    not_reserved,
)
from orderhub.fulfillment.tables import RoutingTables, default_tables_path, load_tables

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
TABLES = load_tables()
HZ = Site("WH-HZ", "杭州主仓", "own", "浙江省")
GZ = Site("WH-GZ", "广州云仓", "3pl", "广东省")
CD = Site("WH-CD", "成都前置仓", "own", "四川省")
SITES = [HZ, GZ, CD]
WEIGHTS = {"SKU-001": 400, "SKU-002": 800, "SKU-003": 1500}


def request(province: str = "浙江省", city: str = "杭州市", **changes: Any) -> Request:
    fields: dict[str, Any] = {"province": province, "city": city, "demand": {"SKU-001": 1}, "weights": WEIGHTS}
    fields.update(changes)
    return Request(**fields)


def everywhere(qty: int = 10, skus: tuple[str, ...] = ("SKU-001", "SKU-002", "SKU-003")) -> dict[str, dict[str, int]]:
    return {sku: {site.code: qty for site in SITES} for sku in skus}


def route(req: Request, stock: dict[str, dict[str, int]], sites: list[Site] | None = None,
          tables: RoutingTables = TABLES) -> Decision:
    return decide(req, SITES if sites is None else sites, stock, tables, now=NOW)


def verdict(decision: Decision, code: str) -> WarehouseVerdict:
    return next(a.verdict for a in decision.warehouses if a.code == code)


def custom_tables(tmp_path: Path, change: Any) -> RoutingTables:
    data = yaml.safe_load(default_tables_path().read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_tables(path)


@pytest.mark.parametrize(
    ("province", "city", "warehouse", "carrier", "eta_hours"),
    [
        ("浙江省", "杭州市", "WH-HZ", "SF", 12),  # 同城半日达
        ("浙江", "宁波市", "WH-HZ", "YD", 24),  # 同省次日: Yunda is the cheapest of the 1-day carriers
        ("上海市", "上海市", "WH-HZ", "JD", 24),  # 江浙沪: SF and JD both next day, JD cheaper
        ("广东省", "深圳市", "WH-GZ", "SF", 12),
        ("四川省", "绵阳市", "WH-CD", "YD", 24),
        ("西藏自治区", "拉萨市", "WH-CD", "SF", 72),
    ],
)
def test_the_fastest_warehouse_and_carrier_win(province: str, city: str, warehouse: str, carrier: str,
                                               eta_hours: int) -> None:
    decision = route(request(province, city), everywhere())
    assert decision.outcome is Outcome.ROUTED and not decision.split
    parcel = decision.parcels[0]
    assert (parcel.warehouse, parcel.carrier, parcel.eta_hours) == (warehouse, carrier, eta_hours)
    assert decision.warehouses[0].code == warehouse and decision.warehouses[0].verdict is WarehouseVerdict.CHOSEN


def test_with_equal_delivery_times_the_cheaper_carrier_wins_and_the_others_say_why() -> None:
    decision = route(request("浙江省", "宁波市"), everywhere())
    options = {option.code: option for option in decision.parcels[0].carriers}
    assert options["YD"].verdict is CarrierVerdict.CHOSEN and options["YD"].cost_fen == 260
    assert options["ZTO"].verdict is CarrierVerdict.PRICIER and options["ZTO"].cost_fen == 280
    assert options["SF"].verdict is CarrierVerdict.PRICIER and options["SF"].cost_fen == 1200
    assert options["EMS"].verdict is CarrierVerdict.SLOWER and options["EMS"].eta_hours == 48
    assert [o.code for o in decision.parcels[0].carriers][:5] == ["YD", "YTO", "ZTO", "JD", "SF"]


def test_a_warehouse_that_cannot_ship_every_line_loses_to_a_slower_one_that_can() -> None:
    stock = everywhere()
    stock["SKU-003"]["WH-HZ"] = 0
    decision = route(request(demand={"SKU-001": 1, "SKU-003": 2}), stock)
    short = next(a for a in decision.warehouses if a.code == "WH-HZ")
    assert short.verdict is WarehouseVerdict.SHORT
    assert [(s.sku, s.need, s.have) for s in short.shortages] == [("SKU-003", 2, 0)]
    # 成都 and 广州 both reach 杭州 in 2 days by SF at ¥22.00 (3.4 kg): the lower code wins the tie.
    assert (decision.parcels[0].warehouse, decision.parcels[0].eta_hours, decision.parcels[0].cost_fen) == (
        "WH-CD", 48, 2200)
    assert verdict(decision, "WH-GZ") is WarehouseVerdict.TIED


def test_a_warehouse_with_no_stock_at_all_is_short_of_everything() -> None:
    stock = everywhere()
    for sku in stock:
        stock[sku]["WH-HZ"] = 0
    decision = route(request(demand={"SKU-001": 1, "SKU-002": 1}), stock)
    short = next(a for a in decision.warehouses if a.code == "WH-HZ")
    assert [s.sku for s in short.shortages] == ["SKU-001", "SKU-002"]
    assert decision.parcels[0].warehouse != "WH-HZ"


def test_remote_regions_exclude_yto_and_yunda_by_rule() -> None:
    decision = route(request("新疆维吾尔自治区", "乌鲁木齐市"), everywhere())
    options = {option.code: option for option in decision.warehouses[0].carriers}
    assert options["YD"].verdict is CarrierVerdict.EXCLUDED and options["YD"].rule == "新疆西藏不走圆通、韵达"
    assert decision.parcels[0].carrier not in {"YD", "YTO"}


def test_a_parcel_over_three_kilos_excludes_yto_and_yunda() -> None:
    light = route(request("北京市", "北京市", demand={"SKU-003": 2}), everywhere(), sites=[HZ])
    heavy = route(request("北京市", "北京市", demand={"SKU-003": 3}), everywhere(), sites=[HZ])
    assert light.weight_g == 3000 and heavy.weight_g == 4500
    light_options = {o.code: o.verdict for o in light.parcels[0].carriers}
    heavy_options = {o.code: o for o in heavy.parcels[0].carriers}
    assert light_options["YD"] is not CarrierVerdict.EXCLUDED
    assert heavy_options["YD"].verdict is CarrierVerdict.EXCLUDED and "3 kg" in (heavy_options["YD"].rule or "")


def test_cash_on_delivery_keeps_only_sf_jd_and_ems() -> None:
    decision = route(request("浙江省", "宁波市", cod=True), everywhere())
    assert decision.parcels[0].carrier in {"SF", "JD", "EMS"}
    excluded = {o.code for o in decision.parcels[0].carriers if o.verdict is CarrierVerdict.EXCLUDED}
    assert excluded == {"ZTO", "YTO", "YD"}


def test_a_bonded_warehouse_ships_only_with_ems_or_sf() -> None:
    bonded = Site("WH-NB-BONDED", "宁波保税仓", "bonded", "浙江省")
    stock = {"SKU-001": {"WH-NB-BONDED": 5}}
    decision = route(request("江苏省", "南京市"), stock, sites=[bonded])
    assert decision.parcels[0].carrier in {"EMS", "SF"}
    assert {o.code for o in decision.parcels[0].carriers if o.verdict is CarrierVerdict.EXCLUDED} == {
        "JD", "ZTO", "YTO", "YD"}


def test_a_warehouse_the_tables_do_not_list_uses_the_default_rows() -> None:
    store = Site("STORE-SH", "上海门店", "store", "上海市")
    decision = route(request("上海市", "上海市"), {"SKU-001": {"STORE-SH": 1}}, sites=[store])
    assert decision.parcels[0].warehouse == "STORE-SH" and decision.parcels[0].eta_hours == 24


def test_a_carrier_not_listed_under_a_warehouse_does_not_collect_there() -> None:
    decision = route(request("广东省", "佛山市"), everywhere(), sites=[GZ])
    options = {o.code: o.verdict for o in decision.parcels[0].carriers}
    assert options["YD"] is CarrierVerdict.NOT_OFFERED and options["EMS"] is CarrierVerdict.NOT_OFFERED


def test_an_order_no_single_warehouse_holds_is_split_into_the_fewest_parcels() -> None:
    stock = {"SKU-001": {"WH-HZ": 2, "WH-GZ": 0, "WH-CD": 1}, "SKU-002": {"WH-HZ": 0, "WH-GZ": 1, "WH-CD": 1},
             "SKU-003": {"WH-HZ": 0, "WH-GZ": 0, "WH-CD": 0}}
    decision = route(request(demand={"SKU-001": 2, "SKU-002": 1}), stock)
    assert decision.split and len(decision.parcels) == 2
    by_warehouse = {p.warehouse: dict(p.lines) for p in decision.parcels}
    # WH-HZ + WH-GZ (2 days to 杭州 from 广州) beats WH-HZ + WH-CD (3 days from 成都) ... by the slowest parcel
    assert by_warehouse == {"WH-HZ": {"SKU-001": 2}, "WH-GZ": {"SKU-002": 1}}
    assert decision.eta_hours == max(p.eta_hours for p in decision.parcels)
    assert [a.warehouses for a in decision.alternatives] == [("WH-CD", "WH-HZ")]
    assert verdict(decision, "WH-HZ") is WarehouseVerdict.IN_SPLIT
    assert sorted(decision.allocations()) == [("SKU-001", "WH-HZ", 2), ("SKU-002", "WH-GZ", 1)]


def test_two_parcels_beat_three_even_when_three_would_arrive_sooner() -> None:
    stores = [Site("STORE-A", "宁波门店", "store", "浙江省"), Site("STORE-B", "绍兴门店", "store", "浙江省")]
    stock = {"SKU-001": {"WH-HZ": 1}, "SKU-002": {"STORE-A": 1, "WH-CD": 1}, "SKU-003": {"STORE-B": 1, "WH-CD": 1}}
    decision = route(request("浙江省", "宁波市", demand={"SKU-001": 1, "SKU-002": 1, "SKU-003": 1}), stock,
                     sites=[HZ, CD, *stores])
    # 杭州 + two stores would all be next day; 杭州 + 成都 takes 2 days but is one parcel fewer.
    assert sorted(p.warehouse for p in decision.parcels) == ["WH-CD", "WH-HZ"] and decision.eta_hours == 48


def test_a_line_may_be_split_across_warehouses_when_none_holds_its_quantity() -> None:
    stock = {"SKU-001": {"WH-HZ": 3, "WH-GZ": 2, "WH-CD": 0}}
    decision = route(request(demand={"SKU-001": 5}), stock)
    assert sorted(decision.allocations()) == [("SKU-001", "WH-GZ", 2), ("SKU-001", "WH-HZ", 3)]


def test_an_order_not_even_all_warehouses_can_cover_is_unroutable_with_what_is_missing() -> None:
    stock = {"SKU-001": {"WH-HZ": 1, "WH-GZ": 1}, "SKU-002": {}}
    decision = route(request(demand={"SKU-001": 3, "SKU-002": 1}), stock)
    assert decision.outcome is Outcome.UNROUTABLE and decision.reason is Unroutable.OUT_OF_STOCK
    assert [(s.sku, s.need, s.have) for s in decision.shortages] == [("SKU-001", 3, 2), ("SKU-002", 1, 0)]
    assert decision.parcels == () and decision.allocations() == []


def test_an_unknown_receiver_province_is_a_decision_not_an_error() -> None:
    decision = route(request("火星", "奥林匹斯市"), everywhere())
    assert decision.reason is Unroutable.PROVINCE_UNKNOWN and decision.province == "火星"


def test_a_tripped_warehouse_is_left_out_until_its_time_is_up() -> None:
    tripped = Site("WH-HZ", "杭州主仓", "own", "浙江省", tripped_until=NOW + timedelta(hours=1))
    decision = route(request(), everywhere(), sites=[tripped, GZ, CD])
    assert decision.parcels[0].warehouse == "WH-GZ"
    out = next(a for a in decision.warehouses if a.code == "WH-HZ")
    assert out.verdict is WarehouseVerdict.TRIPPED and out.until == NOW + timedelta(hours=1)
    later = decide(request(), [tripped, GZ, CD], everywhere(), TABLES, now=NOW + timedelta(hours=1))
    assert later.parcels[0].warehouse == "WH-HZ"


def test_inactive_warehouses_and_those_not_serving_the_province_are_left_out() -> None:
    south_only = Site("WH-GZ", "广州云仓", "3pl", "广东省", serves=frozenset({"广东省", "广西壮族自治区"}))
    closed = Site("WH-HZ", "杭州主仓", "own", "浙江省", active=False)
    decision = route(request(), everywhere(), sites=[closed, south_only, CD])
    assert decision.parcels[0].warehouse == "WH-CD"
    assert verdict(decision, "WH-HZ") is WarehouseVerdict.INACTIVE
    assert verdict(decision, "WH-GZ") is WarehouseVerdict.NOT_SERVING
    nobody = route(request(), everywhere(), sites=[closed, south_only])
    assert nobody.reason is Unroutable.NO_WAREHOUSE


def test_more_parcels_than_allowed_is_unroutable(tmp_path: Path) -> None:
    tables = custom_tables(tmp_path, lambda data: data["routing"].update(max_parcels=2))
    stock = {"SKU-001": {"WH-HZ": 1}, "SKU-002": {"WH-GZ": 1}, "SKU-003": {"WH-CD": 1}}
    decision = route(request(demand={"SKU-001": 1, "SKU-002": 1, "SKU-003": 1}), stock, tables=tables)
    assert decision.reason is Unroutable.TOO_MANY_PARCELS


def test_stock_no_carrier_may_take_is_unroutable_with_the_rules_that_barred_them(tmp_path: Path) -> None:
    def bar_everything(data: dict[str, Any]) -> None:
        data["rules"].append({"name": "双十一停发", "when": {"provinces": ["浙江"]}, "only": ["EMS"]})
        for rows in data["eta"].values():
            rows.pop("EMS", None)

    tables = custom_tables(tmp_path, bar_everything)
    decision = route(request(), everywhere(), sites=[HZ, GZ], tables=tables)
    assert decision.reason is Unroutable.NO_CARRIER
    assert {o.rule for o in decision.carriers if o.verdict is CarrierVerdict.EXCLUDED} == {"双十一停发"}
    assert verdict(decision, "WH-HZ") is WarehouseVerdict.NO_CARRIER


def test_an_order_without_items_is_unroutable() -> None:
    assert route(request(demand={}), everywhere()).reason is Unroutable.NO_ITEMS


def test_the_reasons_are_plain_json() -> None:
    stock = everywhere()
    stock["SKU-001"]["WH-GZ"] = 0
    reasons = route(request(), stock).reasons_json()
    # Province, city and weight are the decision's own columns; `reserved` is stored only when it failed.
    assert set(reasons) == {"warehouses", "shortages", "alternatives", "carriers"}
    assert not_reserved(route(request(), stock)).reasons_json()["reserved"] is False
    gz = next(w for w in reasons["warehouses"] if w["code"] == "WH-GZ")
    assert gz == {"code": "WH-GZ", "name": "广州云仓", "verdict": "short", "eta_hours": None, "cost_fen": None,
                  "carrier": None, "shortages": [{"sku": "SKU-001", "need": 1, "have": 0}], "carriers": [],
                  "until": None}
    yaml.safe_dump(reasons)  # nothing but dicts, lists, strings and numbers
