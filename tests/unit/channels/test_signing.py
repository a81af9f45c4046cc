"""Every platform's signature against fixed vectors: expected values are computed here by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from orderhub.channels import signing

SECRET = "helloworld"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_top_md5_matches_the_example_on_the_top_signing_page() -> None:
    params = {
        "method": "taobao.item.seller.get", "app_key": "12345678", "session": "test",
        "timestamp": "2016-01-01 12:00:00", "format": "json", "v": "2.0", "sign_method": "md5",
        "fields": "num_iid,title,nick,price,num", "num_iid": "11223344",
    }
    assert signing.top_sign(params, SECRET) == "66987CB115214E59E6EC978214934FB8"
    assert signing.verify_top({**params, "sign": "66987CB115214E59E6EC978214934FB8"}, SECRET)


def test_top_hmac_methods_key_the_sorted_string_without_wrapping_it() -> None:
    params = {"method": "taobao.trade.fullinfo.get", "tid": "4123456789012345678", "app_key": "k1"}
    text = "app_keyk1methodtaobao.trade.fullinfo.gettid4123456789012345678"
    assert signing.top_sign(params, SECRET, "hmac") == hmac.new(b"helloworld", text.encode(), "md5").hexdigest().upper()
    assert signing.top_sign(params, SECRET, "hmac-sha256") == hmac.new(
        b"helloworld", text.encode(), "sha256").hexdigest().upper()


def test_top_leaves_out_sign_and_empty_values() -> None:
    params = {"b": "2", "a": "1", "empty": "", "sign": "ignored"}
    assert signing.top_sign(params, "s") == md5("sa1b2s").upper()


def test_top_verification_refuses_a_wrong_secret_an_unknown_method_and_garbage() -> None:
    params = {"method": "m", "app_key": "k", "sign_method": "hmac"}
    signed = {**params, "sign": signing.top_sign(params, SECRET, "hmac")}
    assert signing.verify_top(signed, SECRET)
    assert not signing.verify_top(signed, "other")
    assert not signing.verify_top({**signed, "sign_method": "sha1"}, SECRET)
    assert not signing.verify_top({**params, "sign": "签名"}, SECRET)
    assert not signing.verify_top(params, SECRET)


def test_jd_signs_360buy_param_json_exactly_as_received() -> None:
    business = '{"order_id": "291586441911", "optional_fields": "orderId,orderState"}'
    params = {"method": "jingdong.pop.order.get", "app_key": "jdkey", "access_token": "tok",
              "timestamp": "2026-11-20 10:00:00.000+0800", "v": "2.0", "360buy_param_json": business}
    expected = md5("s" + "360buy_param_json" + business + "access_tokentokapp_keyjdkey"
                   "methodjingdong.pop.order.gettimestamp2026-11-20 10:00:00.000+0800v2.0" + "s").upper()
    assert signing.jd_sign(params, "s") == expected
    compacted = {**params, "360buy_param_json": business.replace(": ", ":")}
    assert not signing.verify_jd({**compacted, "sign": expected}, "s")


def test_pdd_wraps_the_sorted_parameters_in_the_client_secret() -> None:
    params = {"type": "pdd.order.information.get", "client_id": "cid", "timestamp": "1795000000",
              "data_type": "JSON", "order_sn": "241111-563820194736052"}
    expected = md5("sec" + "client_idcid" + "data_typeJSON" + "order_sn241111-563820194736052"
                   + "timestamp1795000000" + "typepdd.order.information.get" + "sec").upper()
    assert signing.pdd_sign(params, "sec") == expected
    assert signing.verify_pdd({**params, "sign": expected}, "sec")


def test_douyin_param_json_is_sorted_compact_and_keeps_chinese() -> None:
    expected = '{"page":0,"remark":"加急","size":10}'
    assert signing.douyin_param_json({"size": 10, "page": 0, "remark": "加急"}) == expected


def test_douyin_request_sign_with_hmac_sha256_and_with_md5() -> None:
    param_json = '{"page":0,"size":100}'
    text = f"{SECRET}app_keyakmethodorder.searchListparam_json{param_json}timestamp2026-11-20 10:00:00v2{SECRET}"
    common = {"app_key": "ak", "app_secret": SECRET, "method": "order.searchList", "param_json": param_json,
              "timestamp": "2026-11-20 10:00:00"}
    assert signing.douyin_sign(**common) == hmac.new(SECRET.encode(), text.encode(), "sha256").hexdigest()
    assert signing.douyin_sign(**common, sign_method="md5") == md5(text)
    assert signing.verify_douyin(**common, v="2", sign_method="md5", sign=md5(text))
    assert not signing.verify_douyin(**common, v="2", sign_method="rsa", sign=md5(text))


def test_douyin_event_sign_is_lowercase_md5_of_key_body_secret() -> None:
    body = b'[{"tag":"101","msg_id":"7","data":"{\\"p_id\\":6923676217992989682}"}]'
    expected = hashlib.md5(b"ak" + body + SECRET.encode()).hexdigest()
    assert signing.douyin_event_sign("ak", body, SECRET) == expected
    assert signing.verify_douyin_event("ak", body, SECRET, expected)
    assert not signing.verify_douyin_event("ak", body + b" ", SECRET, expected)


def test_shopify_webhook_hmac_is_base64_sha256_over_the_raw_body() -> None:
    body = '{"id":5892095258714,"note":"周末送货"}'.encode()
    expected = base64.b64encode(hmac.new(b"shpss_secret", body, "sha256").digest()).decode()
    assert signing.shopify_webhook_hmac("shpss_secret", body) == expected
    assert signing.verify_shopify_webhook("shpss_secret", body, expected)
    assert not signing.verify_shopify_webhook("shpss_secret", body.replace(b":", b": "), expected)


def test_kuaishou_signs_sorted_pairs_with_the_sign_secret_appended() -> None:
    params = {"method": "open.order.detail", "appkey": "ks1", "version": "1", "access_token": "tok",
              "timestamp": "1795000000000", "signMethod": "MD5", "param": '{"oid":2469773150353534}'}
    text = ("access_token=tok&appkey=ks1&method=open.order.detail&param={\"oid\":2469773150353534}"
            "&signMethod=MD5&timestamp=1795000000000&version=1&signSecret=ss")
    assert signing.kuaishou_sign(params, "ss") == md5(text)
    assert signing.verify_kuaishou({**params, "sign": md5(text)}, "ss")
    hmac_params = {**params, "signMethod": "HMAC_SHA256"}
    expected = base64.b64encode(hmac.new(b"ss", text.replace("MD5", "HMAC_SHA256").encode(), "sha256").digest())
    assert signing.kuaishou_sign(hmac_params, "ss", "HMAC_SHA256") == expected.decode()


def test_miniprogram_signature_holds_only_inside_the_replay_window() -> None:
    body = b'{"event_id":"e1"}'
    signature = signing.miniprogram_signature("mp-secret", "1795000000", body)
    assert signature == hmac.new(b"mp-secret", b"1795000000." + body, "sha256").hexdigest()
    at = datetime.fromtimestamp(1795000000, UTC)
    assert signing.verify_miniprogram("mp-secret", "1795000000", signature, body, at)
    assert signing.verify_miniprogram("mp-secret", "1795000000", signature, body, at + timedelta(minutes=4))
    assert not signing.verify_miniprogram("mp-secret", "1795000000", signature, body,
                                          datetime.fromtimestamp(1795000000 + 301, UTC))
    assert not signing.verify_miniprogram("mp-secret", "-1795000000", signature, body, at)


def test_miniprogram_requests_sign_method_target_and_body() -> None:
    payload = signing.miniprogram_request_payload("get", "/api/v1/orders?limit=10", b"")
    assert payload == b"GET /api/v1/orders?limit=10\n"


def test_relay_notice_sign_is_uppercase_md5_wrapped_in_the_secret() -> None:
    body = b'{"id":1,"topic":"taobao_trade_TradeBuyerPay"}'
    expected = hashlib.md5(b"s" + body + b"s").hexdigest().upper()
    assert signing.notice_sign("s", body) == expected
    assert signing.verify_notice("s", body, expected)
    assert not signing.verify_notice("s", body, expected.lower())


@pytest.mark.parametrize("given", ["", "short", "ÄÖÜ", "A" * 64])
def test_signatures_match_never_raises_on_odd_input(given: str) -> None:
    assert not signing.signatures_match("B" * 64, given)
