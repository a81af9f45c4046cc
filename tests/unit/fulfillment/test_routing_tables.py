"""Routing tables are data: the default file loads, and every defect of an edited one is named by its path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from orderhub.fulfillment.tables import BreakerPolicy, RoutingTablesError, default_tables_path, load_tables

DEFAULT = yaml.safe_load(default_tables_path().read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def problems(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(RoutingTablesError) as raised:
        load_tables(write(tmp_path, data))
    return raised.value.problems


def edited(**changes: Any) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(DEFAULT, allow_unicode=True))
    data.update(changes)
    return data


def test_the_default_tables_know_the_six_carriers_and_the_demo_warehouses() -> None:
    tables = load_tables()
    assert set(tables.carriers) == {"SF", "JD", "ZTO", "YTO", "YD", "EMS"}
    assert {"WH-HZ", "WH-GZ", "WH-CD"} <= set(tables.eta)
    assert tables.carriers["SF"].name == "顺丰速运"
    assert tables.max_parcels == 3
    assert tables.breaker == BreakerPolicy(threshold=3, open_for=timedelta(hours=2))


def test_region_groups_expand_and_a_province_named_directly_wins() -> None:
    tables = load_tables()
    sf_from_chengdu = tables.eta["WH-CD"]["SF"]
    assert sf_from_chengdu.provinces["重庆市"] == 24  # 西南: 1d
    assert sf_from_chengdu.provinces["西藏自治区"] == 72  # named directly
    zto_from_hangzhou = tables.eta["WH-HZ"]["ZTO"]
    assert zto_from_hangzhou.hours(province="上海市", city="上海市", origin_province="浙江省") == 36
    assert zto_from_hangzhou.hours(province="浙江省", city="宁波市", origin_province="浙江省") == 24
    assert tables.eta["WH-HZ"]["SF"].hours(province="浙江省", city="杭州市", origin_province="浙江省") == 12


@pytest.mark.parametrize(
    ("weight_g", "expected_fen"),
    [(0, 500), (1000, 500), (1001, 800), (2000, 800), (2001, 1100), (10_000, 3200)],
)
def test_cost_is_first_weight_plus_each_started_extra_kilo(weight_g: int, expected_fen: int) -> None:
    zto = load_tables().rates["ZTO"]
    assert zto.cost_fen(weight_g=weight_g, province="北京市", city="北京市", origin_province="浙江省") == expected_fen


def test_same_province_and_remote_regions_have_their_own_prices() -> None:
    zto = load_tables().rates["ZTO"]
    assert zto.cost_fen(weight_g=500, province="浙江省", city="杭州市", origin_province="浙江省") == 280
    assert zto.cost_fen(weight_g=500, province="新疆维吾尔自治区", city="乌鲁木齐市", origin_province="浙江省") == 1500


def test_an_unknown_carrier_in_a_rule_is_named_with_its_path(tmp_path: Path) -> None:
    data = edited(rules=[{"name": "偏远", "when": {"provinces": ["新疆"]}, "exclude": ["DHL"]}])
    found = problems(tmp_path, data)
    assert len(found) == 1 and found[0].startswith("rules.0.exclude.0: unknown carrier 'DHL'")


def test_a_negative_rate_is_refused_with_its_path(tmp_path: Path) -> None:
    data = edited()
    data["rates"]["SF"]["default"]["first_fen"] = -100
    assert problems(tmp_path, data) == [
        "rates.SF.default.first_fen: Input should be greater than or equal to 0 (got -100)"
    ]


def test_an_unknown_province_is_refused_with_its_path(tmp_path: Path) -> None:
    data = edited()
    data["eta"]["WH-HZ"]["SF"]["provinces"]["浙西"] = "1d"
    assert problems(tmp_path, data) == ["eta.WH-HZ.SF.provinces.浙西: unknown province or region '浙西'"]


def test_every_defect_is_reported_at_once(tmp_path: Path) -> None:
    data = edited()
    data["regions"]["华东"].append("江东")
    data["eta_default"]["UPS"] = {"default": "3d"}
    data["rates"]["ZTO"]["cities"] = {"杭州": {"first_fen": 300, "extra_fen": 100}, "火星城": {"first_fen": 1,
                                                                                             "extra_fen": 1}}
    data["rules"].append({"name": "两者都有", "when": {"cities": ["杭州"]}, "exclude": ["SF"], "only": ["JD"]})
    data["carriers"]["DHL"] = {"name": "DHL", "name_en": "DHL"}
    found = problems(tmp_path, data)
    assert "regions.华东.4: unknown province '江东'" in found
    assert any(p.startswith("eta_default.UPS: unknown carrier 'UPS'") for p in found)
    assert "rates.ZTO.cities.火星城: unknown city '火星城'" in found
    assert "rules.5: give exactly one of `exclude` or `only` (a list of carriers)" in found
    assert "rates: no rate card for carrier DHL" in found


def test_wrong_shapes_and_durations_are_refused(tmp_path: Path) -> None:
    data = edited()
    data["eta"]["WH-HZ"]["SF"]["default"] = "two days"
    data["routing"]["max_parcels"] = "3"
    data["carriers"]["SF"]["colour"] = "black"
    found = problems(tmp_path, data)
    assert "eta.WH-HZ.SF.default: a positive duration such as 30m, 12h or 2d is needed (got 'two days')" in found
    assert "routing.max_parcels: Input should be a valid integer (got '3')" in found
    assert "carriers.SF.colour: unknown key" in found


def test_overlapping_region_groups_in_one_row_are_ambiguous(tmp_path: Path) -> None:
    data = edited()
    data["regions"]["长三角"] = ["上海", "江苏", "浙江", "安徽"]
    data["rates"]["YD"]["provinces"]["长三角"] = {"first_fen": 290, "extra_fen": 100}
    found = problems(tmp_path, data)
    assert len(found) == 3 and all(p.startswith("rates.YD.provinces.") and "name it directly" in p for p in found)


def test_a_duplicate_key_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("version: 1\ncarriers: {}\ncarriers: {}\n", encoding="utf-8")
    with pytest.raises(RoutingTablesError, match="duplicate key 'carriers'"):
        load_tables(path)
    with pytest.raises(RoutingTablesError, match="cannot read the file"):
        load_tables(tmp_path / "missing.yaml")


def test_offers_are_worked_out_once_per_route_and_only_what_the_tables_name_tells_routes_apart(
    tmp_path: Path,
) -> None:
    data = edited()
    data["rules"].append({"name": "京东店铺不发中通", "when": {"channels": ["jd"]}, "exclude": ["ZTO"]})
    tables = load_tables(write(tmp_path, data))

    def offers(city: str, channel: str = "tmall", warehouse: str = "WH-HZ") -> dict[str, Any]:
        found = tables.offers(warehouse, "own", "浙江省", "浙江省", city, False, channel)
        return {offer.carrier: (offer.eta_hours, offer.bars) for offer in found.declared}

    assert offers("杭州市")["SF"][0] == 12 and offers("宁波市")["SF"][0] == 24  # 杭州 has its own SF time
    assert offers("宁波市", "jd")["ZTO"][1] == (("京东店铺不发中通", None),)
    assert offers("宁波市", "tmall")["ZTO"][1] == ()
    # A city, channel or warehouse no table names is routed like any other: one memo entry serves them all.
    assert tables.offers("WH-NEW", "own", "浙江省", "浙江省", "宁波市", False, "pdd") is tables.offers(
        "WH-OTHER", "own", "浙江省", "浙江省", "温州市", False, "douyin")
    assert offers("宁波市", warehouse="WH-NEW")["SF"][0] == 24  # the default row, same province


def test_an_offer_names_the_first_rule_that_bars_a_parcel_of_its_weight() -> None:
    tables = load_tables()
    remote = tables.offers("WH-HZ", "own", "浙江省", "新疆维吾尔自治区", "乌鲁木齐市", False, "tmall")
    yunda = next(offer for offer in remote.declared if offer.carrier == "YD")
    assert yunda.always_barred and yunda.barred_by(500) == "新疆西藏不走圆通、韵达"
    nearby = tables.offers("WH-HZ", "own", "浙江省", "江苏省", "南京市", False, "tmall")
    yunda = next(offer for offer in nearby.declared if offer.carrier == "YD")
    assert (yunda.always_barred, yunda.max_weight_g) == (False, 3000)
    assert yunda.barred_by(3000) is None and yunda.barred_by(3001) == "超过 3 kg 不走圆通、韵达（协议价只含 3 kg 以内）"
    assert [offer.eta_hours for offer in nearby.by_speed] == sorted(offer.eta_hours for offer in nearby.by_speed)
