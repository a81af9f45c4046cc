"""E-waybills (电子面单): a parcel's number requested from the carrier through kuaidi100 and bound to it.

The carrier is asked outside any transaction (no row lock is held over a network call); the number is then
bound in a transaction that locks the order, as scans do. A parcel that already has a waybill returns it
without asking again; if two requests for one parcel race, the first number bound stands and the second is
reported as unused in the outbox, so nobody prints it. Timeouts, connection errors, 5xx and kuaidi100's own
server error are retried (tenacity, exponential back-off); a refusal (bad parameters, signature, account,
no waybills left) is not. A failure changes nothing but an outbox event and the order's timeline, and
reaches the caller as a 502 with the carrier's code.

Protocol: kuaidi100 "电子面单下单接口" V2 (api.kuaidi100.com/document/dianzimiandanV2, as published in
2026-11), `POST /label/order`, form `method=order`, `key`, `t`, `sign` = UPPER(MD5(param + t + key + secret)),
`param` JSON with `printType`, `partnerId`, `partnerKey`, `kuaidicom`, `recMan`/`sendMan` (`name`, `mobile`,
`printAddr`), `cargo`, `weight` (kg), `count`; the answer's `data.kuaidinum` is the number.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork
from orderhub.core.outbox import add_event
from orderhub.fulfillment import service as fulfillment
from orderhub.fulfillment.model import IN_WAREHOUSE
from orderhub.inventory import service as inventory
from orderhub.logistics import service
from orderhub.logistics.carriers import carrier_table
from orderhub.logistics.errors import EwaybillFailed, EwaybillRefused, EwaybillUnavailable, NotWaybillable
from orderhub.logistics.kuaidi100 import WAYBILL_NUMBER, label_sign
from orderhub.logistics.model import WaybillSource
from orderhub.orders import service as orders
from orderhub.orders.status import OrderStatus

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ATTEMPTS = 3
# Order statuses whose parcels are being worked on in the warehouse (a held or cancelled order's are frozen).
WORKING = frozenset({OrderStatus.ALLOCATED.value, OrderStatus.PICKING.value, OrderStatus.PACKED.value})
# kuaidi100's "server error" codes: its side failed, asking again may work.
SERVER_ERRORS = frozenset({"-1", "500"})


@dataclass(frozen=True)
class EwaybillAccount:
    """Where and as whom to ask (settings ORDERHUB_EWAYBILL_*)."""

    url: str
    key: str
    secret: str
    partner_id: str
    partner_key: str = ""
    sender_mobile: str = ""


@dataclass(frozen=True)
class IssuedWaybill:
    order_no: str
    parcel_no: int
    carrier_code: str
    waybill_no: str
    requested: bool  # False: the parcel already had this waybill, the carrier was not asked


@dataclass(frozen=True)
class _Ask:
    shipment_id: int
    carrier_code: str
    param: dict[str, Any]


def request_waybill(uow: UnitOfWork, *, order_no: str, parcel_no: int, actor: Actor, http: httpx.Client,
                    account: EwaybillAccount) -> IssuedWaybill:
    """The parcel's waybill: the one it has, or a new one from the carrier bound to it."""
    with uow:
        held, ask = _prepare(uow, order_no=order_no, parcel_no=parcel_no, account=account)
    if held is not None:
        return held
    assert ask is not None
    try:
        number = _ask_carrier(http, account, ask.param)
    except EwaybillFailed as exc:
        _record_failure(uow, order_no=order_no, parcel_no=parcel_no, ask=ask, error=exc, actor=actor)
        raise
    with uow:
        session, now = uow.session, uow.now()
        fulfillment.order_parcel(session, order_no=order_no, parcel_no=parcel_no, lock=True)
        bound = service.shipment_waybill(session, shipment_id=ask.shipment_id)
        if bound is not None:
            add_event(session, topic="logistics.ewaybill_unused", key=order_no, at=now, payload={
                "order_no": order_no, "parcel_no": parcel_no, "carrier": ask.carrier_code, "waybill_no": number,
                "bound_waybill_no": bound.number})
            uow.commit()
            return IssuedWaybill(order_no, parcel_no, bound.carrier_code, bound.number, requested=False)
        service.bind(session, order_no=order_no, carrier=ask.carrier_code, waybill_no=number, actor=actor,
                     source=WaybillSource.CARRIER, now=now, shipment_id=ask.shipment_id)
        uow.commit()
    return IssuedWaybill(order_no, parcel_no, ask.carrier_code, number, requested=True)


def _prepare(uow: UnitOfWork, *, order_no: str, parcel_no: int,
             account: EwaybillAccount) -> tuple[IssuedWaybill | None, _Ask | None]:
    session = uow.session
    order, shipment = fulfillment.order_parcel(session, order_no=order_no, parcel_no=parcel_no)
    reference = f"{order_no}-{parcel_no}"
    bound = service.shipment_waybill(session, shipment_id=shipment.id)
    if bound is not None:
        return IssuedWaybill(order_no, parcel_no, bound.carrier_code, bound.number, requested=False), None
    if shipment.status not in IN_WAREHOUSE or order.status not in WORKING:
        raise NotWaybillable(
            f"parcel {reference} is {shipment.status} and its order {order.status}: no waybill can be requested "
            f"/ 包裹 {reference} 当前状态不能申请电子面单",
            details=[{"reference": reference, "shipment_status": shipment.status, "order_status": order.status}])
    if not (order.receiver_name and order.receiver_phone and order.receiver_address):
        raise NotWaybillable(f"order {order_no} has no complete receiver yet / 订单 {order_no} 收件人信息不完整",
                             details=[{"reference": reference, "rule": "receiver.incomplete"}])
    com = carrier_table().com_of(shipment.carrier_code)
    if com is None:
        raise NotWaybillable(f"carrier {shipment.carrier_code} has no kuaidi100 code / 快递公司不支持电子面单",
                             details=[{"reference": reference, "carrier": shipment.carrier_code}])
    warehouse = next(w for w in inventory.list_warehouses(session) if w.code == shipment.warehouse_code)
    param = {
        "printType": "NON", "partnerId": account.partner_id, "partnerKey": account.partner_key, "kuaidicom": com,
        "recMan": {"name": order.receiver_name, "mobile": order.receiver_phone,
                   "printAddr": "".join([order.receiver_province, order.receiver_city, order.receiver_district,
                                         order.receiver_address])},
        "sendMan": {"name": warehouse.name, "mobile": account.sender_mobile,
                    "printAddr": f"{warehouse.province}{warehouse.city}{warehouse.name}"},
        "cargo": "、".join(f"{line.sku}×{line.qty}" for line in shipment.lines)[:100],
        "weight": f"{Decimal(shipment.weight_g) / 1000:f}", "count": 1, "remark": reference,
    }
    return None, _Ask(shipment.id, shipment.carrier_code, param)


def _retryable(error: BaseException) -> bool:
    return isinstance(error, EwaybillFailed) and error.retryable


def _ask_carrier(http: httpx.Client, account: EwaybillAccount, param: dict[str, Any]) -> str:
    body = json.dumps(param, ensure_ascii=False, separators=(",", ":"))
    retrying = Retrying(stop=stop_after_attempt(ATTEMPTS), wait=wait_exponential(multiplier=0.2, max=2),
                        retry=retry_if_exception(_retryable), reraise=True)
    return retrying(_order_once, http, account, body)


def _order_once(http: httpx.Client, account: EwaybillAccount, param: str) -> str:
    t = str(int(time.time() * 1000))
    form = {"method": "order", "key": account.key, "t": t, "sign": label_sign(param, t, account.key, account.secret),
            "param": param}
    try:
        response = http.post(account.url, data=form)
    except httpx.TimeoutException as exc:
        raise EwaybillUnavailable(f"e-waybill API timed out: {exc!r} / 电子面单接口超时",
                                  details=[{"carrier_code": "timeout"}]) from None
    except httpx.HTTPError as exc:
        raise EwaybillUnavailable(f"e-waybill API unreachable: {exc} / 电子面单接口不可达",
                                  details=[{"carrier_code": "unreachable"}]) from None
    if response.status_code >= 500 or response.status_code == 429:
        raise EwaybillUnavailable(f"e-waybill API answered HTTP {response.status_code} / 电子面单接口出错",
                                  details=[{"carrier_code": f"http.{response.status_code}"}])
    if response.status_code >= 400:
        raise EwaybillRefused(f"e-waybill API answered HTTP {response.status_code} / 电子面单接口拒绝请求",
                              details=[{"carrier_code": f"http.{response.status_code}"}])
    return _number_of(response.content)


def _number_of(content: bytes) -> str:
    try:
        answer = json.loads(content)
    except ValueError:
        raise EwaybillUnavailable(f"e-waybill answer is not JSON: {content[:200]!r} / 电子面单接口返回无法解析",
                                  details=[{"carrier_code": "bad_json"}]) from None
    if not isinstance(answer, dict):
        raise EwaybillUnavailable("e-waybill answer is not a JSON object / 电子面单接口返回无法解析",
                                  details=[{"carrier_code": "bad_json"}])
    code, message = str(answer.get("returnCode", "")), str(answer.get("message", ""))
    if answer.get("result") is not True:
        error = EwaybillUnavailable if code in SERVER_ERRORS else EwaybillRefused
        raise error(f"kuaidi100 e-waybill refused: {code} {message} / 快递100 电子面单下单失败：{message}",
                    details=[{"carrier_code": code, "message": message}])
    data = answer.get("data")
    number = str(data.get("kuaidinum", "")).strip() if isinstance(data, dict) else ""
    if not WAYBILL_NUMBER.match(number):
        raise EwaybillRefused(f"kuaidi100 e-waybill answer has no usable kuaidinum: {number!r} / 未返回运单号",
                              details=[{"carrier_code": code, "message": "no kuaidinum"}])
    return number


def _record_failure(uow: UnitOfWork, *, order_no: str, parcel_no: int, ask: _Ask, error: EwaybillFailed,
                    actor: Actor) -> None:
    """The failure on the order's timeline and in the outbox (alerts subscribe), in its own transaction."""
    with uow:
        session, now = uow.session, uow.now()
        order, _ = fulfillment.order_parcel(session, order_no=order_no, parcel_no=parcel_no)
        add_event(session, topic="logistics.ewaybill_failed", key=order_no, at=now, payload={
            "order_no": order_no, "parcel_no": parcel_no, "carrier": ask.carrier_code, "code": error.code,
            "retryable": error.retryable, "message": error.message, "details": error.details})
        orders.note_on_timeline(order, kind="ewaybill_failed", actor=actor, at=now,
                                reason=f"电子面单申请失败（包裹 {parcel_no}）：{error.message}")
        uow.commit()
