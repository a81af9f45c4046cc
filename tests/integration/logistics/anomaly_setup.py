"""What anomaly tests share: shipped orders (anywhere, any shop), their waybills, and tracks pushed into them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from orderhub.auth.permissions import Permission
from orderhub.core.actor import Actor
from orderhub.logistics import service
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from tests.integration.logistics.tracking_setup import SALT, signed

STAFF = Actor("ops", "api", frozenset({Permission.LOGISTICS_WRITE.value, Permission.ORDERS_TRANSITION.value,
                                       Permission.ORDERS_APPROVE_LARGE.value}))
PLACES = {
    "杭州": ("浙江省", "杭州市", "西湖区"),
    "乌鲁木齐": ("新疆维吾尔自治区", "乌鲁木齐市", "天山区"),
}
COMS = {"YTO": "yuantong", "SF": "shunfeng", "ZTO": "zhongtong"}


def shipped_order(runtime: Runtime, place: str = "杭州", *, shop: str = "hq",
                  until: OrderStatus = OrderStatus.SHIPPED) -> str:
    """A paid order of the `merchant` fixture, moved on to shipped (or `until`) now (the clock's time)."""
    province, city, district = PLACES[place]
    draft = OrderDraft(
        channel="manual" if shop == "bonded" else "phone", shop=shop, source_type="电话订单",
        receiver=Receiver(name="张三", phone="13800138000", province=province, city=city, district=district,
                          address="文三路90号"),
        lines=[DraftLine(sku="SKU-001", qty=1, unit_price_fen=9900)], paid_amount_fen=9900, payment_method="wechat",
        paid_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC), id_card="11010519491231002X" if shop == "bonded" else "",
    )
    order_no = orders.create_manual_order(runtime.uow(), draft=draft, actor=STAFF, policy=runtime.policy).order_no
    steps = [OrderStatus.APPROVED, OrderStatus.ALLOCATED, OrderStatus.PICKING, OrderStatus.PACKED, OrderStatus.SHIPPED]
    for target in steps[:steps.index(until) + 1]:
        orders.transition_order(runtime.uow(), order_no=order_no, target=target, reason="测试", actor=STAFF,
                                policy=runtime.policy)
    return order_no


def bind(runtime: Runtime, order_no: str, number: str, carrier: str = "YTO") -> None:
    service.bind_waybill(runtime.uow(), order_no=order_no, carrier=carrier, waybill_no=number, actor=STAFF)


def track(runtime: Runtime, number: str, events: list[tuple[str, str, str, str]], carrier: str = "YTO") -> None:
    """Push a whole track: (Beijing time, text, resultv2 status, areaName), any order."""
    newest_first = sorted(events, reverse=True)
    data = [{"context": text, "time": at, "ftime": at, "status": status, "areaName": area}
            for at, text, status, area in newest_first]
    body = {"status": "polling", "billstatus": "got", "message": "", "autoCheck": "0", "comOld": "", "comNew": "",
            "lastResult": {"message": "ok", "nu": number, "ischeck": "0", "condition": "00", "com": COMS[carrier],
                           "status": "200", "state": "", "data": data}}
    param = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    service.receive_kuaidi100_push(runtime.uow(), param=param, sign=signed(param)["sign"], salt=SALT)


def order_status(runtime: Runtime, order_no: str) -> str:
    with runtime.reading() as session:
        return orders.get_order(session, order_no).status
