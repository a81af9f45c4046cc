"""The demo merchant: 3 warehouses, 50 SKUs, shops on five channels and a few hundred orders in varied states.

Everything goes through the same service functions the API uses, so the demo data obeys every rule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import select

from orderhub.auth import service as auth
from orderhub.auth.model import User
from orderhub.auth.permissions import Permission, Role
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.model import Channel, Shop
from orderhub.core.actor import Actor
from orderhub.core.clock import FixedClock
from orderhub.core.db import UnitOfWork
from orderhub.core.jobs import start_background
from orderhub.inventory import service as inventory
from orderhub.inventory.model import WarehouseKind
from orderhub.logistics import service as logistics
from orderhub.logistics.carriers import carrier_table
from orderhub.orders import intake
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.repository import OrderFilters
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime
from orderhub.simulators.kuaidi100 import Kuaidi100State, TrackEventIn, TrackIn
from orderhub.simulators.live import LiveFeed
from orderhub.simulators.platforms import RunningSimulator, SimulatorState, start_platform_simulator
from orderhub.simulators.statements import seed_demo_statements
from orderhub.worker import worker_jobs

WAREHOUSES = [
    ("WH-HZ", "杭州主仓", WarehouseKind.OWN, "浙江省", "杭州市"),
    ("WH-GZ", "广州云仓 (外包)", WarehouseKind.THIRD_PARTY, "广东省", "广州市"),
    ("WH-CD", "成都前置仓", WarehouseKind.OWN, "四川省", "成都市"),
]

SHOPS = [
    (Channel.TMALL, "tm-flagship", "天猫旗舰店"),
    (Channel.JD, "jd-self", "京东自营专区"),
    (Channel.PDD, "pdd-factory", "拼多多工厂店"),
    (Channel.DOUYIN, "dy-live", "抖音直播间"),
    (Channel.MINIPROGRAM, "mp-member", "会员小程序"),
    (Channel.PHONE, "hq", "总部电话订购"),
]

PRODUCTS = [
    ("保温杯", ["350ml 白", "500ml 黑", "500ml 粉"], 6900),
    ("不锈钢餐具套装", ["四件套", "六件套"], 12900),
    ("茶叶礼盒 明前龙井", ["250g", "500g"], 39900),
    ("手冲咖啡壶", ["600ml"], 15900),
    ("真丝枕套", ["米白", "藕粉"], 19900),
    ("纯棉四件套", ["1.5m", "1.8m"], 29900),
    ("空气炸锅", ["4L", "6L"], 35900),
    ("电动牙刷", ["标准款", "旅行款"], 19900),
    ("儿童保温饭盒", ["蓝", "粉"], 8900),
    ("竹制砧板", ["大号", "小号"], 5900),
    ("香薰蜡烛", ["雪松", "白茶"], 7900),
    ("羊毛围巾", ["驼色", "灰色"], 25900),
    ("蓝牙音箱", ["迷你款"], 16900),
    ("瑜伽垫", ["6mm", "8mm"], 9900),
    ("陶瓷马克杯", ["对杯"], 6900),
    ("收纳箱", ["三件套"], 7900),
    ("护手霜礼盒", ["5支装"], 8800),
    ("车载香薰", ["海洋"], 4900),
]

ADDRESSES = [
    ("浙江省", "杭州市", "西湖区", "文三路90号东部软件园2号楼"),
    ("上海市", "上海市", "浦东新区", "张江路88号"),
    ("北京市", "北京市", "海淀区", "中关村大街27号"),
    ("广东省", "深圳市", "南山区", "科技园南路15号"),
    ("广东省", "东莞市", "", "长安镇振安中路168号"),
    ("江苏省", "南京市", "鼓楼区", "中山北路200号"),
    ("四川省", "成都市", "武侯区", "天府大道北段1700号"),
    ("湖北省", "武汉市", "洪山区", "珞喻路1037号"),
    ("海南省", "儋州市", "", "那大镇人民中路6号"),
    ("福建省", "厦门市", "思明区", "环岛南路3088号"),
    ("山东省", "青岛市", "市南区", "香港中路10号"),
    ("陕西省", "西安市", "雁塔区", "高新路52号"),
    ("新疆维吾尔自治区", "乌鲁木齐市", "天山区", "解放北路100号"),
    ("河南省", "郑州市", "金水区", "花园路39号"),
]
# Platform data where the district went missing: these orders arrive on hold, as in real life.
DEFECTIVE_ADDRESSES = [("浙江省", "宁波市", "", "中山东路138号"), ("广东省", "广州市", "", "天河路385号")]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
]
PAYMENT = {
    Channel.TMALL: "alipay",
    Channel.JD: "jdpay",
    Channel.PDD: "wechat",
    Channel.DOUYIN: "douyinpay",
    Channel.MINIPROGRAM: "wechat",
    Channel.PHONE: "bank_transfer",
}

# Where demo orders end up: a business day's mix, weighted.
TARGET_MIX = [
    (OrderStatus.PENDING_PAYMENT, 4),
    (OrderStatus.PAID, 18),
    (OrderStatus.APPROVED, 10),
    (OrderStatus.ALLOCATED, 8),
    (OrderStatus.PICKING, 8),
    (OrderStatus.PACKED, 6),
    (OrderStatus.SHIPPED, 20),
    (OrderStatus.DELIVERED, 10),
    (OrderStatus.COMPLETED, 8),
    (OrderStatus.CANCELLED, 4),
    (OrderStatus.REFUNDING, 2),
    (OrderStatus.REFUNDED, 2),
]
PATHS = {
    OrderStatus.PAID: [],
    OrderStatus.APPROVED: [OrderStatus.APPROVED],
    OrderStatus.ALLOCATED: [OrderStatus.APPROVED, OrderStatus.ALLOCATED],
    OrderStatus.PICKING: [OrderStatus.APPROVED, OrderStatus.ALLOCATED, OrderStatus.PICKING],
    OrderStatus.PACKED: [OrderStatus.APPROVED, OrderStatus.ALLOCATED, OrderStatus.PICKING, OrderStatus.PACKED],
}
PATHS[OrderStatus.SHIPPED] = [*PATHS[OrderStatus.PACKED], OrderStatus.SHIPPED]
PATHS[OrderStatus.DELIVERED] = [*PATHS[OrderStatus.SHIPPED], OrderStatus.DELIVERED]
PATHS[OrderStatus.COMPLETED] = [*PATHS[OrderStatus.DELIVERED], OrderStatus.COMPLETED]
PATHS[OrderStatus.CANCELLED] = [OrderStatus.CANCELLED]
PATHS[OrderStatus.REFUNDING] = [*PATHS[OrderStatus.SHIPPED], OrderStatus.REFUNDING]
PATHS[OrderStatus.REFUNDED] = [*PATHS[OrderStatus.REFUNDING], OrderStatus.REFUNDED]
REASONS = {
    OrderStatus.CANCELLED: "买家申请取消",
    OrderStatus.REFUNDING: "买家申请退货退款：尺码不合适",
    OrderStatus.REFUNDED: "退款完成",
}


def _skus() -> list[tuple[str, str, str, int]]:
    """50 SKUs: each product in its specs, numbered like a merchant's own codes."""
    skus: list[tuple[str, str, str, int]] = []
    for index, (title, specs, price) in enumerate(PRODUCTS, start=1):
        for spec_index, spec in enumerate(specs, start=1):
            skus.append((f"SKU-{index:03d}-{spec_index}", title, spec, price))
    extra = 1
    while len(skus) < 50:
        skus.append((f"SKU-ACC-{extra:02d}", "配件 赠品袋", f"规格{extra}", 990))
        extra += 1
    return skus[:50]


def seed_demo(runtime: Runtime, *, orders: int, progress: Console, seed: int = 20261120) -> int:
    """Create the demo merchant on an empty database; returns the number of orders created (0 if present)."""
    with runtime.reading() as session:
        if session.scalar(select(Shop.id).limit(1)) is not None:
            return 0
    rng = random.Random(seed)
    for code, name, kind, province, city in WAREHOUSES:
        inventory.create_warehouse(runtime.uow(), code=code, name=name, kind=kind, province=province, city=city)
    skus = _skus()
    for code, title, spec, price in skus:
        catalog.create_sku(
            runtime.uow(),
            code=code,
            title=title,
            spec=spec,
            weight_g=rng.randint(200, 3000),
            list_price_fen=price,
            cost_price_fen=price * rng.randint(35, 60) // 100,
        )
    _stock_up(runtime, [code for code, _, _, _ in skus], random.Random(seed + 1))
    for channel, code, name in SHOPS:
        channels.create_shop(runtime.uow(), channel=channel, code=code, name=name)
    for username, role in [("ops", Role.OPS), ("supervisor", Role.OPS_SUPERVISOR), ("viewer", Role.VIEWER),
                           ("finance", Role.FINANCE)]:
        auth.create_user(runtime.uow(), username=username, password=f"{username}-demo-2026", role=role)

    now = runtime.clock.now()
    statuses = [s for s, _ in TARGET_MIX]
    weights = [w for _, w in TARGET_MIX]
    with Progress(console=progress, transient=True) as bar:
        task = bar.add_task("demo orders", total=orders)
        for number in range(orders):
            at = now - timedelta(minutes=rng.randint(5, 7 * 24 * 60))
            _demo_order(runtime, rng, skus, number, at, rng.choices(statuses, weights)[0])
            bar.advance(task)
    seed_demo_statements(runtime, rng)
    return orders


def _stock_up(runtime: Runtime, codes: list[str], rng: random.Random) -> None:
    """Opening stock in every warehouse, received before any order reserves; every tenth SKU runs low."""
    actor = Actor("warehouse", "console")
    for index, code in enumerate(codes):
        low = index % 10 == 9
        for warehouse, *_ in WAREHOUSES:
            qty = rng.randint(0, 2) if low else rng.randint(30, 200)
            if qty:
                inventory.receive(runtime.uow(), sku=code, warehouse=warehouse, qty=qty,
                                  idempotency_key=f"demo-opening-{code}-{warehouse}", actor=actor,
                                  reason="期初库存")
        if low:
            inventory.set_safety(runtime.uow(), sku=code, safety=10, actor=actor)


def _receiver(rng: random.Random, defective: bool) -> Receiver:
    province, city, district, street = rng.choice(DEFECTIVE_ADDRESSES if defective else ADDRESSES)
    phone = f"1{rng.choice('3578')}{rng.randint(0, 999_999_999):09d}"
    if not defective and rng.random() < 0.1:
        phone = f"{phone}-{rng.randint(1000, 9999)}"  # platform privacy number
    return Receiver(
        name=rng.choice(SURNAMES) + rng.choice(GIVEN),
        phone=phone,
        province=province,
        city=city,
        district=district,
        address=street,
    )


def _demo_order(
    runtime: Runtime,
    rng: random.Random,
    skus: list[tuple[str, str, str, int]],
    number: int,
    at: datetime,
    target: OrderStatus,
) -> None:
    channel, shop_code, _ = rng.choice(SHOPS)
    lines = [
        DraftLine(
            sku=code,
            qty=rng.choice([1, 1, 1, 2, 3]),
            unit_price_fen=price,
            title=title,
            spec=spec,
            platform_sku=f"{channel.value}-{code}",
        )
        for code, title, spec, price in rng.sample(skus, rng.choice([1, 1, 2, 3]))
    ]
    goods = sum(line.amount_fen for line in lines)
    shipping = 0 if goods >= 9900 else 1000
    discount = rng.choice([0, 0, 500, 1000]) if goods > 5000 else 0
    unpaid = target is OrderStatus.PENDING_PAYMENT
    draft = OrderDraft(
        channel=channel.value,
        shop=shop_code,
        receiver=_receiver(rng, defective=channel is not Channel.PHONE and rng.random() < 0.04),
        lines=lines,
        shipping_fee_fen=shipping,
        discount_fen=discount,
        paid_amount_fen=goods + shipping - discount,
        channel_order_id=f"{rng.randint(10**17, 10**18 - 1)}",
        payment_method=PAYMENT[channel],
        paid_at=None if unpaid else at,
        buyer_memo=rng.choice(["", "", "请尽快发货", "送人的，不要放发票"]),
        status=(OrderStatus.PENDING_PAYMENT if unpaid else OrderStatus.PAID).value,
        channel_status="WAIT_BUYER_PAY" if unpaid else "WAIT_SELLER_SEND_GOODS",
        source_type="电话订单" if channel is Channel.PHONE else "",
    )
    clock = FixedClock(at)
    uow = UnitOfWork(runtime.session_factory, clock)
    if channel is Channel.PHONE:
        draft.channel_order_id = ""
        draft.status = draft.channel_status = ""
        order = orders.create_manual_order(uow, draft=draft, actor=Actor("ops", "console"), policy=runtime.policy)
    else:
        order = intake.accept_channel_order(
            uow, draft=draft, actor=Actor(channel.value, "channel"), policy=runtime.policy
        )
    if order.status == OrderStatus.ON_HOLD:
        return
    supervisor = Actor("supervisor", "console", frozenset({Permission.ORDERS_APPROVE_LARGE.value}))
    done: dict[OrderStatus, datetime] = {}
    for step in PATHS.get(target, []):
        clock.advance(timedelta(minutes=rng.randint(10, 600)))
        if clock.now() > runtime.clock.now():
            break
        orders.transition_order(
            UnitOfWork(runtime.session_factory, clock),
            order_no=order.order_no,
            target=step,
            reason=REASONS.get(step, ""),
            actor=supervisor,
            policy=runtime.policy,
        )
        done[step] = clock.now()
    if OrderStatus.SHIPPED in done:
        _parcel(runtime, rng, order.order_no, draft.receiver.city, done[OrderStatus.SHIPPED],
                done.get(OrderStatus.DELIVERED))


# The carriers demo parcels go by, with their numbers' shape: (code, prefix, digits).
DEMO_CARRIERS = [("YTO", "YT", 13), ("ZTO", "78", 12), ("SF", "SF", 13), ("JD", "JDX", 12)]
# kuaidi100's lastResult.state code for the newest scan's resultv2 status (shared/formats.md §6).
TRACK_STATE_CODES = {"揽收": "1", "在途": "0", "派件": "5", "签收": "3"}


def _parcel(runtime: Runtime, rng: random.Random, order_no: str, city: str, shipped_at: datetime,
            delivered_at: datetime | None) -> None:
    """A waybill keyed in for a shipped demo order, and the carrier's track so far taken in as kuaidi100
    pushes it (each scan at most now), so the order page and the customers' lookup show a timeline."""
    code, prefix, digits = rng.choice(DEMO_CARRIERS)
    number = f"{prefix}{rng.randint(0, 10**digits - 1):0{digits}d}"
    logistics.bind_waybill(UnitOfWork(runtime.session_factory, FixedClock(shipped_at)), order_no=order_no,
                           carrier=code, waybill_no=number, actor=Actor("warehouse", "console"))
    origin = rng.choice(WAREHOUSES)[4]
    name = carrier_table().name_of(code)
    # The scans spread over the journey: up to its signing, or two days for a parcel still under way.
    journey = (delivered_at - shipped_at) if delivered_at else timedelta(hours=48)
    scans = [(0.05, "揽收", origin, f"【{origin}】{name} 已揽收"), (0.25, "在途", origin, f"快件已发往【{city}】"),
             (0.55, "在途", city, f"快件已到达【{city}转运中心】"),
             (0.8, "派件", city, f"【{city}】快递员 {rng.choice(SURNAMES)}师傅 正在派件")]
    if delivered_at:
        scans.append((0.97, "签收", city, f"【{city}】已签收，签收人：本人"))
    now = runtime.clock.now()
    events = [TrackEventIn(ftime=(shipped_at + journey * share).astimezone(runtime.settings.zone)
                           .strftime("%Y-%m-%d %H:%M:%S"), context=text, status=status, areaName=area)
              for share, status, area, text in scans if shipped_at + journey * share <= now]
    if not events:
        return
    com = carrier_table().carriers[code].kuaidi100
    carrier = Kuaidi100State(key="", customer="", salt=runtime.settings.kuaidi100_salt or "")
    carrier.set_track(TrackIn(com=com, number=number, state=TRACK_STATE_CODES[events[-1].status],
                              events=events[::-1]))
    push = carrier.push_form(com, number)
    logistics.receive_kuaidi100_push(UnitOfWork(runtime.session_factory, FixedClock(now)), param=push["param"],
                                     sign=push["sign"], salt=runtime.settings.kuaidi100_salt)


def reset_admin(runtime: Runtime, *, password: str) -> None:
    """The demo prints a fresh admin password on every start."""
    with runtime.reading() as session:
        exists = session.scalar(select(User.id).where(User.username == "admin")) is not None
    if exists:
        auth.set_password(runtime.uow(), username="admin", password=password)
    else:
        auth.create_user(runtime.uow(), username="admin", password=password, role=Role.ADMIN.value)


def lookup_example(runtime: Runtime) -> tuple[str, str] | None:
    """A delivered order's number and its receiver's last four digits, to try the customers' lookup with."""
    with runtime.reading() as session:
        page = orders.list_orders(session, OrderFilters(status=OrderStatus.DELIVERED), limit=20)
    for order in page.items:
        tail = order.receiver_phone.split("-")[0][-4:]
        if order.receiver_phone_kind in ("mobile", "masked") and tail.isdigit():
            return order.order_no, tail
    return None


# Channels whose shops the demo connects to the platform simulators (the phone desk has no platform).
LIVE_CHANNELS = [Channel.TMALL, Channel.JD, Channel.PDD, Channel.DOUYIN, Channel.MINIPROGRAM]


@dataclass
class LiveChannels:
    simulator: RunningSimulator
    feed: LiveFeed
    scheduler: BackgroundScheduler

    def stop(self) -> None:
        self.feed.stop()
        self.scheduler.shutdown(wait=False)
        self.simulator.stop()


def start_live_channels(runtime: Runtime, *, push_to: str, every: float = 20.0) -> LiveChannels:
    """Platform simulators for the demo shops, connected by credentials, pulled and pushing, with the
    worker's jobs on a background thread: orders keep arriving while the console is open."""
    with runtime.reading() as session:
        sku_codes = [sku.code for sku in catalog.list_skus(session)]
    state = SimulatorState(sku_codes, seed=20261120)
    now = runtime.clock.now()
    for channel, code, _ in SHOPS:
        if channel in LIVE_CHANNELS:
            state.add_shop(channel.value, code, orders=15, since=now - timedelta(hours=20),
                           until=now - timedelta(minutes=1))
    simulator = start_platform_simulator(state)
    for channel, code, _ in SHOPS:
        if channel in LIVE_CHANNELS:
            credentials = state.shop(channel.value, code).credentials(simulator.base_url)
            channels.set_credentials(runtime.uow(), channel=channel.value, code=code, box=runtime.secrets,
                                     app_key=credentials.app_key, app_secret=credentials.app_secret,
                                     access_token=credentials.access_token, api_base_url=credentials.base_url)
            channels.set_schedule(runtime.uow(), channel=channel.value, code=code, pull=True, promotion_mode=False)
    scheduler = start_background(worker_jobs(runtime), runtime.session_factory, runtime.clock)
    feed = LiveFeed(state, push_to=push_to, every=every).start()
    return LiveChannels(simulator=simulator, feed=feed, scheduler=scheduler)
