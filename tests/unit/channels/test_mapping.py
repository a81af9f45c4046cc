"""The mapping engine over each channel's mapping file: real payload shapes in, unified drafts out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from orderhub.channels.mapping import (
    MAPPINGS_DIR,
    ChannelMappingError,
    MappingFileError,
    available_channels,
    load_json,
    load_mapping,
)
from orderhub.channels.platforms import jd as jd_client
from orderhub.channels.platforms import kuaishou as kuaishou_client
from orderhub.channels.platforms import pdd as pdd_client
from orderhub.logistics.carriers import carrier_table

TAOBAO_BODY = b"""{"tid": 4123456789012345678, "tid_str": "4123456789012345678", "status": "WAIT_SELLER_SEND_GOODS",
 "modified": "2026-11-20 10:05:00", "pay_time": "2026-11-20 10:00:00", "buyer_nick": "t**1",
 "receiver_name": "\\u5f20\\u4e09", "receiver_mobile": "13800138000", "receiver_state": "\\u6d59\\u6c5f\\u7701",
 "receiver_city": "\\u676d\\u5dde\\u5e02", "receiver_district": "\\u897f\\u6e56\\u533a",
 "receiver_address": "\\u6587\\u4e09\\u8def90\\u53f7",
 "post_fee": "10.00", "payment": "207.00", "total_fee": "198.00",
 "orders": {"order": [{"oid": 4123456789012345679, "outer_sku_id": "SKU-001", "sku_id": "5012", "title": "cup",
   "num": 2, "price": "99.00", "total_fee": "198.00"}]}}"""


def taobao() -> dict[str, Any]:
    payload = load_json(TAOBAO_BODY)
    assert isinstance(payload, dict)
    return payload


def test_every_mapping_file_loads() -> None:
    channels = available_channels()
    assert {"taobao", "tmall", "jd", "pdd", "douyin"} <= set(channels)
    for channel in channels:
        assert load_mapping(channel).channel == channel


def test_taobao_trade_maps_with_its_big_id_exact_and_money_in_fen() -> None:
    draft = load_mapping("taobao").to_draft(taobao(), shop="tb1")
    assert draft.channel_order_id == "4123456789012345678"
    assert draft.status == "paid" and draft.channel_status == "WAIT_SELLER_SEND_GOODS"
    assert draft.platform_modified_at == datetime(2026, 11, 20, 2, 5, tzinfo=UTC)
    assert (draft.shipping_fee_fen, draft.paid_amount_fen, draft.goods_amount_fen, draft.discount_fen) == (
        1000,
        20700,
        19800,
        100,
    )
    assert draft.receiver.name == "张三" and draft.receiver.district == "西湖区"
    assert [(line.sku, line.platform_sku, line.qty, line.unit_price_fen) for line in draft.lines] == [
        ("SKU-001", "5012", 2, 9900)
    ]
    assert draft.raw_payload is not None and draft.raw_payload["tid"] == 4123456789012345678


def test_the_big_tid_number_alone_is_read_exactly() -> None:
    payload = taobao()
    del payload["tid_str"]
    assert load_mapping("taobao").to_draft(payload, shop="tb1").channel_order_id == "4123456789012345678"


def test_presale_with_the_balance_unpaid_is_pending_payment() -> None:
    payload = taobao() | {"step_trade_status": "FRONT_PAID_FINAL_NOPAID"}
    assert load_mapping("taobao").to_draft(payload, shop="tb1").status == "pending_payment"


def pdd(**changes: Any) -> dict[str, Any]:
    return {
        "order_sn": "241120-563820194736052",
        "order_status": 1,
        "refund_status": 1,
        "confirm_status": 1,
        "updated_at": "2026-11-20 10:05:00",
        "pay_time": "2026-11-20 10:00:00",
        "pay_type": "WEIXIN",
        "receiver_name": "李四",
        "receiver_phone": "13900139000",
        "province": "广东省",
        "city": "东莞市",
        "town": "",
        "receiver_address": "长安镇振安路1号",
        "postage": Decimal("0"),
        "pay_amount": Decimal("149.8"),
        "item_list": [
            {
                "outer_id": "SKU-002",
                "sku_id": 77,
                "goods_name": "茶",
                "goods_count": 1,
                "goods_price": Decimal("159.8"),
                "goods_spec": "250g",
            }
        ],
        **changes,
    }


@pytest.mark.parametrize("amount", [Decimal("149.8"), "149.80", "149.8"])
def test_pdd_money_as_number_or_string_reads_to_the_same_fen(amount: object) -> None:
    draft = load_mapping("pdd").to_draft(pdd(pay_amount=amount), shop="p1")
    assert draft.paid_amount_fen == 14980 and draft.discount_fen == 1000 and draft.lines[0].platform_sku == "77"


@pytest.mark.parametrize(
    ("amount", "fen"),
    [
        ("207.00", 20700), ("207", 20700), ("207.5", 20750), (" 0.05 ", 5), ("-0.05", -5), ("+3.10", 310),
        ("１２.５", 1250), ("1e2", 10000), (207, 20700), (Decimal("207.50"), 20750), (10**20, 10**22),
    ],
)
def test_yuan_amounts_read_to_exact_fen_in_every_shape(amount: object, fen: int) -> None:
    assert load_mapping("taobao").to_draft(taobao() | {"payment": amount}, shop="tb1").paid_amount_fen == fen


@pytest.mark.parametrize("amount", ["1.005", "abc", "1.2.3", "NaN", True, [1], 1.5])
def test_what_is_not_an_amount_in_yuan_is_refused(amount: object) -> None:
    with pytest.raises(ChannelMappingError) as refused:
        load_mapping("taobao").to_draft(taobao() | {"payment": amount}, shop="tb1")
    assert refused.value.path == "payment" and "not a valid yuan" in refused.value.reason


@pytest.mark.parametrize(("amount", "fen"), [(19900, 19900), ("19900", 19900), (" -5 ", -5), ("199.00", 19900),
                                             (Decimal("2.0"), 2), ("1e2", 100)])
def test_fen_amounts_read_exactly_and_a_yuan_string_among_them_as_yuan(amount: object, fen: int) -> None:
    assert load_mapping("douyin").to_draft(douyin(pay_amount=amount), shop="dy").paid_amount_fen == fen


@pytest.mark.parametrize(("refund_status", "status"), [(1, "paid"), (3, "refunding"), (4, "refunded")])
def test_pdd_refund_state_overrides_the_order_status(refund_status: int, status: str) -> None:
    assert load_mapping("pdd").to_draft(pdd(refund_status=refund_status), shop="p1").status == status


def douyin(**changes: Any) -> dict[str, Any]:
    return {
        "order_id": "6920000000000000001",
        "order_status": 105,
        "update_time": 1763604300,
        "pay_time": 1763604000,
        "encrypt_post_tel": "#x9a#...",
        "encrypt_post_receiver": "#b2#...",
        "mask_post_tel": "138****0000",
        "mask_post_receiver": "王*",
        "post_addr": {
            "province": {"name": "浙江省"},
            "city": {"name": "杭州市"},
            "town": {"name": "西湖区"},
            "street": {"name": "文三路"},
        },
        "mask_post_addr": {"detail": "文三路**号"},
        "post_amount": 0,
        "pay_amount": 19900,
        "sku_order_list": [
            {"code": "SKU-001", "sku_id": 9001, "product_name": "杯", "item_num": 1, "origin_amount": 19900}
        ],
        **changes,
    }


def test_douyin_orders_in_fen_with_encrypted_contacts_are_marked_pending_decryption() -> None:
    draft = load_mapping("douyin").to_draft(douyin(), shop="dy")
    assert draft.paid_amount_fen == 19900 and draft.lines[0].unit_price_fen == 19900
    assert draft.receiver.phone == "138****0000" and draft.receiver.address == "文三路**号"
    assert draft.extra["pii_encrypted"] is True
    assert draft.paid_at == datetime(2025, 11, 20, 2, 0, tzinfo=UTC)


def test_a_douyin_fen_field_drifting_to_a_yuan_string_is_normalised() -> None:
    draft = load_mapping("douyin").to_draft(douyin(pay_amount="199.00"), shop="dy")
    assert draft.paid_amount_fen == 19900


def test_jd_none_dates_and_municipality_addresses_pass_through_for_validation() -> None:
    payload = {
        "orderId": "300000000001",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "modified": "2026-11-20 10:05:00",
        "paymentConfirmTime": "0001-01-01 00:00:00",
        "orderPayment": "99.00",
        "freightPrice": "0.00",
        "consigneeInfo": {
            "fullname": "赵六",
            "mobile": "13700137000",
            "province": "北京",
            "city": "海淀区",
            "county": "",
            "fullAddress": "北京海淀区中关村大街1号",
        },
        "itemInfoList": [
            {"outerSkuId": "SKU-003", "skuId": "100", "skuName": "餐具", "itemTotal": "1", "jdPrice": "99.00"}
        ],
    }
    draft = load_mapping("jd").to_draft(payload, shop="jd1")
    assert draft.paid_at is None and draft.receiver.city == "海淀区" and draft.lines[0].qty == 1


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"status": "SOMETHING_NEW"}, "status"),
        ({"payment": "abc"}, "payment"),
        ({"payment": "1.005"}, "payment"),
        ({"modified": "20/11/2026"}, "modified"),
        ({"modified": None}, "modified"),
        ({"orders": {"order": "oops"}}, "orders.order"),
        ({"orders": {"order": [{"num": 1.5, "price": "1.00", "outer_sku_id": "X"}]}}, "orders.order.0.num"),
    ],
)
def test_what_the_mapping_cannot_read_raises_with_channel_path_and_raw_value(
    changes: dict[str, Any], path: str
) -> None:
    payload = taobao() | changes
    if "orders" in changes and isinstance(changes["orders"]["order"], list):
        payload["orders"]["order"][0]["num"] = Decimal("1.5")
    with pytest.raises(ChannelMappingError) as refused:
        load_mapping("taobao").to_draft(payload, shop="tb1")
    assert refused.value.channel == "taobao" and refused.value.path.startswith(path)


def test_a_broken_mapping_file_lists_every_problem(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(
        "channel: acme\nsource: x\norder:\n  colour: red\nlines: {path: items, fields: {qty: n}}\n"
        "status: {path: s, map: {A: teleported}}\nsurprise: 1\n",
        encoding="utf-8",
    )
    with pytest.raises(MappingFileError) as refused:
        load_mapping("acme", tmp_path)
    text = "\n".join(refused.value.problems)
    assert "surprise: unknown key" in text and "teleported" in text and "unit_price_fen" in text


def test_taobao_waybills_read_off_the_lines_name_the_lines_they_carry() -> None:
    payload = taobao() | {"status": "WAIT_BUYER_CONFIRM_GOODS"}
    first = payload["orders"]["order"][0]
    payload["orders"]["order"] = [
        first | {"invoice_no": "ZT5550001", "logistics_company": "中通快递"},
        first | {"oid": 4123456789012345680, "outer_sku_id": "SKU-002", "num": 1,
                 "invoice_no": "YD5550002", "logistics_company": "韵达快递"},
        first | {"oid": 4123456789012345681, "outer_sku_id": "SKU-003", "num": 3,
                 "invoice_no": "ZT5550001", "logistics_company": "中通快递"},
        first | {"oid": 4123456789012345682, "outer_sku_id": "SKU-004", "num": 1},  # not shipped yet
    ]
    draft = load_mapping("taobao").to_draft(payload, shop="tb1")
    assert [(w.carrier, w.number, w.lines) for w in draft.waybills] == [
        ("中通快递", "ZT5550001", ((1, 2), (3, 3))),
        ("韵达快递", "YD5550002", ((2, 1),)),
    ]


def jd_shipped(waybill: str, logistics_id: str) -> dict[str, Any]:
    return {"orderId": "300000000002", "orderState": "WAIT_GOODS_RECEIVE_CONFIRM", "modified": "2026-11-20 10:05:00",
            "orderPayment": "99.00", "freightPrice": "0.00", "waybill": waybill, "logisticsId": logistics_id,
            "consigneeInfo": {"fullname": "赵六", "mobile": "13700137000", "province": "浙江", "city": "杭州市",
                              "county": "西湖区", "fullAddress": "文三路90号"},
            "itemInfoList": [{"outerSkuId": "SKU-003", "skuId": "100", "skuName": "餐具", "itemTotal": "1",
                              "jdPrice": "99.00"}]}


def test_jd_waybills_joined_in_one_field_are_each_a_parcel_of_their_carrier() -> None:
    draft = load_mapping("jd").to_draft(jd_shipped("YT001,YT002|SF003", "463|467"), shop="jd1")
    assert [(w.carrier, w.number) for w in draft.waybills] == [("YTO", "YT001"), ("YTO", "YT002"), ("SF", "SF003")]
    unshipped = load_mapping("jd").to_draft(jd_shipped("", ""), shop="jd1")
    assert unshipped.waybills == []


def test_a_carrier_id_the_mapping_does_not_know_is_kept_as_the_platform_gave_it() -> None:
    draft = load_mapping("jd").to_draft(jd_shipped("XX0001", "9999"), shop="jd1")
    assert [(w.carrier, w.number) for w in draft.waybills] == [("jd:9999", "XX0001")]


@pytest.mark.parametrize(("channel", "client"), [("jd", jd_client), ("pdd", pdd_client), ("kuaishou", kuaishou_client)])
def test_carrier_ids_read_are_the_ones_the_write_back_sends(channel: str, client: ModuleType) -> None:
    waybills = load_mapping(channel).waybills
    assert waybills is not None and waybills.carrier_ids is not None
    sent = {str(platform_id): carrier_table().resolve(kuaidi100) for kuaidi100, platform_id in
            client.CARRIER_CODES.items()}
    assert waybills.carrier_ids == sent


def test_platform_ship_times_are_read_with_the_waybills() -> None:
    payload = taobao() | {"status": "WAIT_BUYER_CONFIRM_GOODS"}
    payload["orders"]["order"][0] |= {"invoice_no": "ZT5550001", "logistics_company": "中通快递",
                                      "consign_time": "2026-11-20 18:30:00"}
    (waybill,) = load_mapping("taobao").to_draft(payload, shop="tb1").waybills
    assert waybill.shipped_at == datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def test_douyin_packages_name_the_lines_they_carry_by_sub_order_id() -> None:
    line = {"sku_id": 9001, "product_name": "杯", "origin_amount": 9950}
    payload = douyin(order_status=3, pay_amount=39800, sku_order_list=[
        line | {"order_id": "6920000000000000011", "code": "SKU-001", "item_num": 2},
        line | {"order_id": "6920000000000000012", "code": "SKU-002", "item_num": 2},
    ], logistics_info=[
        {"tracking_no": "ZT5550201", "company": "zhongtong", "ship_time": 1763690400,
         "product_info": [{"sku_order_id": "6920000000000000011", "product_count": 2},
                          {"sku_order_id": "6920000000000000012", "product_count": 1}]},
        {"tracking_no": "YD5550202", "company": "yunda", "ship_time": 1763694000,
         "product_info": [{"sku_order_id": "6920000000000000012", "product_count": 1},
                          {"sku_order_id": "6929999999999999999", "product_count": 1}]},  # no line of this order
    ])
    draft = load_mapping("douyin").to_draft(payload, shop="dy")
    assert [(w.number, w.lines, w.shipped_at) for w in draft.waybills] == [
        ("ZT5550201", ((1, 2), (2, 1)), datetime(2025, 11, 21, 2, 0, tzinfo=UTC)),
        ("YD5550202", ((2, 1),), datetime(2025, 11, 21, 3, 0, tzinfo=UTC)),
    ]


def test_a_mapping_naming_parcel_lines_by_id_must_map_the_line_id(tmp_path: Path) -> None:
    text = (MAPPINGS_DIR / "douyin.yaml").read_text(encoding="utf-8").replace("  id: order_id", "")
    (tmp_path / "douyin.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(MappingFileError) as refused:
        load_mapping("douyin", tmp_path)
    assert "map the lines' `id`" in "\n".join(refused.value.problems)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"payment": 149.8}', {"payment": Decimal("149.8")}),
        ('{"lines": [{"price": 1}, {"price": 2.50}]}', {"lines": [{"price": 1}, {"price": Decimal("2.50")}]}),
        ("12.5", Decimal("12.5")),
        ('{"tid": 4123456789012345678}', {"tid": 4123456789012345678}),
        ('{"tid": 18446744073709551616}', {"tid": 18446744073709551616}),
        ('{"id": 123456789012345678901234567890}', {"id": 123456789012345678901234567890}),
        ('{"amount": 1e400}', {"amount": Decimal("1e400")}),
        ('{"name": "\\u5f20\\u4e09", "memo": "\\ud800"}', {"name": "张三", "memo": "\ud800"}),
    ],
)
def test_json_numbers_come_back_exact_never_as_float(body: str, expected: Any) -> None:
    for given in (body, body.encode()):
        value = load_json(given)
        assert value == expected
        assert repr(value) == repr(expected)  # Decimal("2.50") stays 2.50, an int stays an int


@pytest.mark.parametrize("body", ["{", "", '{"a": }', b"\xff"])
def test_what_is_not_json_raises_a_value_error(body: str | bytes) -> None:
    with pytest.raises(ValueError):
        load_json(body)
