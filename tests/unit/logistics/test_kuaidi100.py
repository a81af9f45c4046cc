"""Kuaidi100 signing and parsing, state normalisation, carrier names and the platforms' waybill fields."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from orderhub.channels.mapping import load_mapping
from orderhub.logistics.carriers import carrier_table
from orderhub.logistics.errors import MalformedPush, TrackingQueryFailed
from orderhub.logistics.kuaidi100 import parse_push, parse_query, query_sign, sign, verify
from orderhub.logistics.states import TrackingState, state_tables
from orderhub.orders.draft import DraftWaybill


def push_param(**last_result: Any) -> str:
    result = {"nu": "YT1234567890", "com": "yuantong", "state": "0", "ischeck": "0",
              "data": [{"context": "快件已到达【杭州转运中心】", "time": "2026-11-21 08:00:00",
                        "ftime": "2026-11-21 08:00:00", "status": "在途", "areaName": "浙江,杭州市"}]}
    return json.dumps({"status": "polling", "message": "", "lastResult": result | last_result}, ensure_ascii=False)


def test_signs_are_the_upper_hex_md5_of_param_and_salt_or_key_and_customer() -> None:
    assert sign("param", "123") == hashlib.md5(b"param123").hexdigest().upper()
    assert query_sign("p", "key", "cust") == hashlib.md5(b"pkeycust").hexdigest().upper()


def test_a_push_sign_verifies_only_with_its_salt_and_param() -> None:
    assert verify("abc", sign("abc", "salt").lower(), "salt")
    assert not verify("abc", sign("abc", "salt"), "pepper")
    assert not verify("abd", sign("abc", "salt"), "salt")


def test_a_push_is_read_with_beijing_times_in_utc() -> None:
    snapshot = parse_push(push_param())
    assert (snapshot.com, snapshot.number, snapshot.state_code, snapshot.monitor) == (
        "yuantong", "YT1234567890", "0", "polling")
    (event,) = snapshot.events
    assert event.at == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert (event.status, event.location) == ("在途", "浙江,杭州市")


@pytest.mark.parametrize(
    ("param", "says"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"status": "polling"}), "lastResult is not an object"),
        (push_param(nu=""), "waybill nu"),
        (push_param(nu="bad number!"), "waybill nu"),
        (push_param(com="YuanTong Express"), "carrier code"),
        (push_param(data="nope"), "data is not a list"),
        (push_param(data=[{"context": "x", "ftime": "21/11/2026"}]), "ftime"),
        (push_param(data=[{"context": {"nested": 1}, "ftime": "2026-11-21 08:00:00"}]), "context is not text"),
    ],
)
def test_a_push_that_cannot_be_read_says_why(param: str, says: str) -> None:
    with pytest.raises(MalformedPush, match=says):
        parse_push(param)


def test_a_query_answer_without_track_yet_is_empty_and_other_refusals_fail() -> None:
    empty = parse_query(b'{"result":false,"returnCode":"500","message":"\\u67e5\\u8be2\\u65e0\\u7ed3\\u679c"}',
                        com="yuantong", number="YT1")
    assert empty.events == ()
    with pytest.raises(TrackingQueryFailed, match="503"):
        parse_query(b'{"result":false,"returnCode":"503","message":"sign"}', com="yuantong", number="YT1")
    with pytest.raises(TrackingQueryFailed, match="not JSON"):
        parse_query(b"<html>502</html>", com="yuantong", number="YT1")


@pytest.mark.parametrize(
    ("status", "text", "state"),
    [
        ("签收", "", TrackingState.DELIVERED),
        ("派件", "", TrackingState.OUT_FOR_DELIVERY),
        ("揽收", "", TrackingState.COLLECTED),
        ("疑难", "", TrackingState.EXCEPTION),
        ("退回", "", TrackingState.RETURNING),
        ("拒签", "", TrackingState.REJECTED),
        ("", "【杭州市】快件已被 菜鸟驿站 代收", TrackingState.DELIVERED),
        ("", "【杭州市】快递员 李四 正在派件", TrackingState.OUT_FOR_DELIVERY),
        ("", "【义乌市】圆通速递 已揽收", TrackingState.COLLECTED),
        ("", "收件人拒收，快件退回中", TrackingState.REJECTED),
        ("", "快件已发往 杭州转运中心", TrackingState.IN_TRANSIT),
        ("奇怪", "快件已发往 杭州转运中心", TrackingState.IN_TRANSIT),
    ],
)
def test_events_normalise_to_unified_states(status: str, text: str, state: TrackingState) -> None:
    assert state_tables().of_event(status=status, text=text) is state


@pytest.mark.parametrize(("code", "state"), [("0", TrackingState.IN_TRANSIT), ("3", TrackingState.DELIVERED),
                                             ("4", TrackingState.RETURNED), ("14", TrackingState.REJECTED),
                                             ("99", None)])
def test_kuaidi100_state_codes_normalise(code: str, state: TrackingState | None) -> None:
    assert state_tables().of_code(code) is state


@pytest.mark.parametrize(("name", "code"), [("中通快递", "ZTO"), ("zhongtong", "ZTO"), ("SF", "SF"), ("顺丰速运", "SF"),
                                            ("EMS", "EMS"), ("京东物流", "JD"), (" Yunda Express ", "YD"),
                                            ("无名快递", None)])
def test_carriers_are_known_by_code_kuaidi100_code_and_platform_name(name: str, code: str | None) -> None:
    assert carrier_table().resolve(name) == code


def test_every_routing_carrier_has_a_kuaidi100_code() -> None:
    for code in ("SF", "JD", "ZTO", "YTO", "YD", "EMS"):
        assert carrier_table().com_of(code)


def _taobao_trade(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tid_str": "3001", "modified": "2026-11-20 10:00:00", "payment": "30.00",
            "status": "WAIT_BUYER_CONFIRM_GOODS", "receiver_name": "张三", "receiver_mobile": "13800138000",
            "receiver_state": "浙江省", "receiver_city": "杭州市", "receiver_district": "西湖区",
            "receiver_address": "文三路90号", "orders": {"order": lines}}


def test_taobao_lines_sharing_a_waybill_are_one_parcel() -> None:
    line = {"outer_sku_id": "SKU-001", "num": 1, "price": "10.00", "total_fee": "10.00"}
    trade = _taobao_trade([
        line | {"invoice_no": "ZT100200300", "logistics_company": "中通快递"},
        line | {"outer_sku_id": "SKU-002", "invoice_no": "ZT100200300", "logistics_company": "中通快递"},
        line | {"outer_sku_id": "SKU-003", "invoice_no": "SF900800700", "logistics_company": "顺丰速运"},
    ])
    draft = load_mapping("taobao").to_draft(trade, shop="tb")
    assert draft.waybills == [DraftWaybill("中通快递", "ZT100200300", lines=((1, 1), (2, 1))),
                              DraftWaybill("顺丰速运", "SF900800700", lines=((3, 1),))]


def test_taobao_lines_not_shipped_carry_no_waybill() -> None:
    trade = _taobao_trade([{"outer_sku_id": "SKU-001", "num": 1, "price": "10.00", "total_fee": "10.00"}])
    assert load_mapping("taobao").to_draft(trade | {"status": "WAIT_SELLER_SEND_GOODS"}, shop="tb").waybills == []


def test_douyin_packages_carry_their_company_code() -> None:
    order = {"order_id": "6900", "update_time": 1763600000, "pay_amount": 1000, "order_status": 3,
             "post_receiver": "张三", "post_tel": "13800138000",
             "post_addr": {"province": {"name": "浙江省"}, "city": {"name": "杭州市"}, "town": {"name": "西湖区"},
                           "detail": "文三路90号"},
             "sku_order_list": [{"code": "SKU-001", "sku_id": "1", "item_num": 1, "origin_amount": 1000}],
             "logistics_info": [{"tracking_no": "YT5550001", "company": "yuantong", "company_name": "圆通速递"}]}
    assert load_mapping("douyin").to_draft(order, shop="dy").waybills == [DraftWaybill("yuantong", "YT5550001")]
