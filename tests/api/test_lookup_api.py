"""The public lookup over HTTP: the JSON API and the /lookup page, their answers to bad input and to abuse."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderhub.lookup.guard import LookupGuard
from orderhub.runtime import Runtime
from tests.integration.logistics.tracking_setup import manual_order
from tests.integration.lookup.test_lookup import WAYBILL, shipped_douyin_order

pytestmark = pytest.mark.usefixtures("merchant")
API = "/api/v1/lookup"


def ask(client: TestClient, order: str, phone: str) -> tuple[int, dict[str, Any]]:
    response = client.post(API, json={"order": order, "phone": phone})
    return response.status_code, response.json()


def test_the_api_answers_the_order_with_its_progress_and_track_and_nothing_private(client: TestClient,
                                                                                   runtime: Runtime) -> None:
    order_no = shipped_douyin_order(runtime)
    status, body = ask(client, "6930000000001", "5678")
    assert status == 200
    (order,) = body["orders"]
    assert (order["order_no"], order["stage"], order["paid_amount"]) == (order_no, "delivered", "198.00")
    assert order["receiver"] == {"name": "李**", "phone": "139****5678", "region": "广东省 深圳市 南山区"}
    (parcel,) = order["parcels"]
    assert (parcel["waybill_no"], parcel["state"], len(parcel["events"])) == (WAYBILL, "delivered", 4)
    assert parcel["events"][0]["text"].endswith("已签收，签收人：本人")
    text = str(body)
    assert "科技园南路" not in text and "raw_payload" not in text and "version" not in text


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"order": "TB_20991231_000000", "phone": "8000"}, 404, "lookup.not_found"),
    ({"order": "ab", "phone": "8000"}, 422, "lookup.invalid"),
    ({"order": "TB_20991231_000000", "phone": "80"}, 422, "lookup.invalid"),
    ({"order": "TB_20991231_000000"}, 422, "request.invalid"),
    ({"order": "TB_20991231_000000", "phone": "8000", "name": "x"}, 422, "request.invalid"),
    ({"order": "x" * 101, "phone": "8000"}, 422, "request.invalid"),
    ({"order": "TB\x00_20991231", "phone": "8000"}, 422, "lookup.invalid"),
])
def test_bad_questions_get_a_clear_error(client: TestClient, payload: dict[str, str], status: int, code: str) -> None:
    response = client.post(API, json=payload)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post(API, content=b'{"order": ', headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "request.malformed_json")


def test_a_wrong_phone_for_a_real_order_reads_as_no_such_order(client: TestClient, runtime: Runtime) -> None:
    order_no = manual_order(runtime)
    assert ask(client, order_no, "1234") == ask(client, "TB_20991231_000000", "1234")


def test_guessing_is_throttled_with_retry_after(client: TestClient, runtime: Runtime) -> None:
    order_no = manual_order(runtime)
    runtime.lookup_guard = LookupGuard(storage_uri="memory://", client_limits="3/minute", failure_limits="2/hour")
    assert ask(client, order_no, "0001")[0] == 404
    assert ask(client, order_no, "0002")[0] == 404
    locked = client.post(API, json={"order": order_no, "phone": "8000"})
    assert (locked.status_code, locked.json()["error"]["code"]) == (429, "lookup.locked")
    assert int(locked.headers["retry-after"]) > 3000
    throttled = client.post(API, json={"order": manual_order(runtime), "phone": "8000"})
    assert (throttled.status_code, throttled.json()["error"]["code"]) == (429, "lookup.too_many_requests")
    assert 0 < int(throttled.headers["retry-after"]) <= 60


def test_the_page_shows_the_form_and_takes_the_number_from_a_link(client: TestClient) -> None:
    response = client.get("/lookup?order=TB_20261205_8a3f7b")
    assert response.status_code == 200 and "订单查询" in response.text
    assert 'value="TB_20261205_8a3f7b"' in response.text and 'href="/lookup"' in response.text
    english = client.get("/lookup?lang=en")
    assert "Track your order" in english.text


def test_the_page_answers_with_the_order_and_its_track(client: TestClient, runtime: Runtime) -> None:
    order_no = shipped_douyin_order(runtime)
    response = client.post("/lookup", data={"order": "6930000000001", "phone": "5678"})
    assert response.status_code == 200
    assert order_no in response.text and WAYBILL in response.text and "已签收" in response.text
    assert "科技园南路" not in response.text and "13900005678" not in response.text


def test_the_page_says_whether_a_parcel_without_tracking_has_left_yet(client: TestClient, runtime: Runtime) -> None:
    paid = client.post("/lookup", data={"order": manual_order(runtime), "phone": "8000"})
    assert "尚未发货" in paid.text
    shipped = client.post("/lookup", data={"order": shipped_douyin_order(runtime, tracked=False), "phone": "5678"})
    assert "已发货，但快递单号尚未同步到这里" in shipped.text and "尚未发货" not in shipped.text


def test_the_page_explains_each_refusal_in_the_readers_language(client: TestClient, runtime: Runtime) -> None:
    order_no = manual_order(runtime)
    wrong = client.post("/lookup", data={"order": order_no, "phone": "1234"}, headers={"HX-Request": "true"})
    assert wrong.status_code == 404 and "没有找到" in wrong.text and wrong.headers["hx-retarget"] == "#lookup-result"
    assert "<form" not in wrong.text  # a fragment for the result area
    bad_phone = client.post("/lookup?lang=en", data={"order": order_no, "phone": "12"})
    assert bad_phone.status_code == 422 and "last 4 digits" in bad_phone.text and "<form" in bad_phone.text
    runtime.lookup_guard = LookupGuard(storage_uri="memory://", client_limits="1/minute", failure_limits="5/hour")
    client.post("/lookup", data={"order": order_no, "phone": "8000"})
    throttled = client.post("/lookup", data={"order": order_no, "phone": "8000"})
    assert throttled.status_code == 429 and "try again in 1 min." in throttled.text
