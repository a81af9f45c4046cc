"""What tracking tests share: an order to bind waybills to, and kuaidi100 pushes as kuaidi100 builds them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from orderhub.auth.permissions import Permission
from orderhub.core.actor import Actor
from orderhub.logistics.kuaidi100 import sign
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.runtime import Runtime

STAFF = Actor("ops", "api", frozenset({Permission.LOGISTICS_WRITE.value}))
SALT = "test-salt"
NUMBER = "YT9000000001"

# A parcel's track, oldest first: (Beijing time, text, resultv2 status).
TRACK = [
    ("2026-11-20 18:00:00", "【义乌市】圆通速递 已揽收", "揽收"),
    ("2026-11-21 02:00:00", "快件已到达【杭州转运中心】", "在途"),
    ("2026-11-21 09:00:00", "【杭州市】快递员 李四 正在派件", "派件"),
    ("2026-11-21 15:00:00", "【杭州市】已签收，签收人：本人", "签收"),
]
STATE_CODES = {"揽收": "1", "在途": "0", "派件": "5", "签收": "3"}


def manual_order(runtime: Runtime) -> str:
    """A paid phone order of the `merchant` fixture's shop."""
    draft = OrderDraft(
        channel="phone", shop="hq", source_type="电话订单",
        receiver=Receiver(name="张三", phone="13800138000", province="浙江省", city="杭州市", district="西湖区",
                          address="文三路90号"),
        lines=[DraftLine(sku="SKU-001", qty=1, unit_price_fen=9900)], paid_amount_fen=9900, payment_method="wechat",
        paid_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
    )
    return orders.create_manual_order(runtime.uow(), draft=draft, actor=STAFF, policy=runtime.policy).order_no


def snapshot(events: list[tuple[str, str, str]], *, number: str = NUMBER, com: str = "yuantong",
             status: str = "polling") -> str:
    """A push `param`: the whole track so far, newest first, as kuaidi100 sends it."""
    newest_first = sorted(events, reverse=True)
    data = [{"context": text, "time": at, "ftime": at, "status": state, "areaName": "浙江,杭州市"}
            for at, text, state in newest_first]
    state = STATE_CODES.get(newest_first[0][2], "0") if newest_first else "0"
    body = {"status": status, "billstatus": "got", "message": "", "autoCheck": "0", "comOld": "", "comNew": "",
            "lastResult": {"message": "ok", "nu": number, "ischeck": "1" if state == "3" else "0",
                           "condition": "00", "com": com, "status": "200", "state": state, "data": data}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def signed(param: str, salt: str = SALT) -> dict[str, str]:
    return {"param": param, "sign": sign(param, salt)}
