"""Kuaidi100 (快递100): the subscription push and the real-time query, signing and parsing.

Follows kuaidi100-api/java-demo at commit 68a6ab4 (shared/formats.md §6): `Subscribe.java` and
`SubscribePushParamResp` / `SubscribePushResult` / `SubscribePushData` for the push, `QueryTrackResp`
and `SignUtils` for the query. A push `sign` is UPPER(HEX(MD5(param + salt))); a query `sign` is
UPPER(HEX(MD5(param + key + customer))). Every value arrives as a string; `data[]` is the full history,
newest first, with `ftime` in Beijing time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from orderhub.logistics.errors import MalformedPush, TrackingQueryFailed

BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# What kuaidi100 must read back, or it counts the push as failed and retries (3 times, 35 min apart).
ACKNOWLEDGED = {"result": True, "returnCode": "200", "message": "成功"}
WAYBILL_NUMBER = re.compile(r"^[A-Za-z0-9-]{4,40}$")
COM_CODE = re.compile(r"^[a-z0-9]{1,32}$")
# The query API's answer when the carrier has no track for the number yet: not a failure.
NO_TRACK_YET = "500"


def refusal(code: str, message: str) -> dict[str, Any]:
    """The answer kuaidi100 reads as "not taken" (it retries); ours adds the error in OrderHub's shape."""
    return {"result": False, "returnCode": code, "message": message}


def sign(param: str, salt: str) -> str:
    return hashlib.md5((param + salt).encode("utf-8"), usedforsecurity=False).hexdigest().upper()


def verify(param: str, signature: str, salt: str) -> bool:
    return hmac.compare_digest(sign(param, salt), signature.strip().upper())


def query_sign(param: str, key: str, customer: str) -> str:
    return sign(param, key + customer)


def label_sign(param: str, t: str, key: str, secret: str) -> str:
    """The e-waybill API's `sign`: UPPER(HEX(MD5(param + t + key + secret))) (电子面单下单接口 V2)."""
    return sign(param, t + key + secret)


@dataclass(frozen=True)
class TrackEvent:
    at: datetime  # UTC
    text: str
    status: str  # resultv2 `status` (在途, 签收 …), "" without resultv2
    location: str


@dataclass(frozen=True)
class TrackSnapshot:
    """The carrier's whole track of one waybill as one push or query saw it."""

    com: str
    number: str
    state_code: str  # lastResult.state: the newest event's state
    events: tuple[TrackEvent, ...]  # as sent: newest first
    monitor: str = ""  # push `status`: polling, shutdown, abort, updateall
    message: str = ""


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int):
        raise MalformedPush(f"{name} is not text: {value!r} / {name} 不是文本")
    return str(value).strip()


def _time(item: dict[str, Any], index: int) -> datetime:
    raw = _text(item.get("ftime"), f"data[{index}].ftime") or _text(item.get("time"), f"data[{index}].time")
    try:
        if len(raw) == 19 and raw[4] == raw[7] == "-" and raw[10] == " ":
            local = datetime.fromisoformat(raw)  # the same reading as strptime, several times faster
        else:
            local = datetime.strptime(raw, TIME_FORMAT)
        return local.replace(tzinfo=BEIJING).astimezone(UTC)
    except ValueError:
        raise MalformedPush(f"data[{index}].ftime {raw!r} is not yyyy-MM-dd HH:mm:ss / 轨迹时间格式错误") from None


def snapshot_of(result: Any, *, monitor: str = "", message: str = "") -> TrackSnapshot:
    """Read a `lastResult` (push) or a query answer: both carry com, nu, state and data[]."""
    if not isinstance(result, dict):
        raise MalformedPush("lastResult is not an object / lastResult 不是对象")
    com = _text(result.get("com"), "com").lower()
    number = _text(result.get("nu"), "nu")
    if not COM_CODE.match(com):
        raise MalformedPush(f"carrier code com={com!r} is missing or malformed / 快递公司编码缺失或格式错误")
    if not WAYBILL_NUMBER.match(number):
        raise MalformedPush(f"waybill nu={number!r} is missing or malformed / 运单号缺失或格式错误")
    items = result.get("data") or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MalformedPush("data is not a list of events / data 不是轨迹列表")
    events = tuple(
        TrackEvent(at=_time(item, index), text=_text(item.get("context"), f"data[{index}].context"),
                   status=_text(item.get("status"), f"data[{index}].status"),
                   location=_text(item.get("areaName") or item.get("location"), f"data[{index}].areaName"))
        for index, item in enumerate(items)
    )
    return TrackSnapshot(com=com, number=number, state_code=_text(result.get("state"), "state"), events=events,
                         monitor=monitor, message=message)


def parse_push(param: str) -> TrackSnapshot:
    """The push's `param` form field; `MalformedPush` says what is wrong with it."""
    try:
        body = json.loads(param)
    except ValueError as exc:
        raise MalformedPush(f"param is not JSON: {exc} / param 不是合法 JSON") from None
    if not isinstance(body, dict):
        raise MalformedPush("param is not a JSON object / param 不是 JSON 对象")
    return snapshot_of(body.get("lastResult"), monitor=_text(body.get("status"), "status"),
                       message=_text(body.get("message"), "message"))


def query_param(*, com: str, number: str, phone: str = "") -> str:
    """The `param` of a real-time query (resultv2=1 asks for each event's status and area)."""
    return json.dumps({"com": com, "num": number, "phone": phone, "resultv2": "1"}, ensure_ascii=False,
                      separators=(",", ":"))


def parse_query(body: bytes, *, com: str, number: str) -> TrackSnapshot:
    """A query answer: the track, an empty one when the carrier has none yet, or `TrackingQueryFailed`."""
    try:
        answer = json.loads(body)
    except ValueError:
        raise TrackingQueryFailed(f"query answer is not JSON: {body[:200]!r} / 查询接口返回无法解析") from None
    if not isinstance(answer, dict):
        raise TrackingQueryFailed("query answer is not a JSON object / 查询接口返回无法解析")
    if answer.get("result") is False or "returnCode" in answer:
        code, message = str(answer.get("returnCode", "")), str(answer.get("message", ""))
        if code == NO_TRACK_YET:
            return TrackSnapshot(com=com, number=number, state_code="", events=(), message=message)
        raise TrackingQueryFailed(f"kuaidi100 query refused: {code} {message} / 快递100 查询失败")
    try:
        return snapshot_of(answer, message=str(answer.get("message", "")))
    except MalformedPush as exc:
        raise TrackingQueryFailed(f"query answer cannot be read: {exc.message}") from None


def query(http: httpx.Client, *, url: str, key: str, customer: str, com: str, number: str) -> TrackSnapshot:
    """Ask kuaidi100's real-time query API for a waybill's whole track (form POST, signed)."""
    param = query_param(com=com, number=number)
    try:
        response = http.post(url, data={"customer": customer, "sign": query_sign(param, key, customer),
                                        "param": param})
    except httpx.HTTPError as exc:
        raise TrackingQueryFailed(f"kuaidi100 query unreachable: {exc} / 快递100 查询接口不可达") from None
    if response.status_code >= 400:
        raise TrackingQueryFailed(f"kuaidi100 query answered HTTP {response.status_code} / 快递100 查询接口出错")
    return parse_query(response.content, com=com, number=number)
