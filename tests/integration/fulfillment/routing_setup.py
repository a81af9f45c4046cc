"""What routing tests share: three warehouses, weighed SKUs, stock, and approved orders holding their stock."""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import zxingcpp
from PIL import Image
from sqlalchemy import select

from orderhub.auth.permissions import Permission
from orderhub.catalog import service as catalog
from orderhub.core.actor import Actor
from orderhub.core.outbox import OutboxEvent
from orderhub.fulfillment import portal, service
from orderhub.fulfillment.photos import DiskPhotoStore
from orderhub.fulfillment.tables import load_tables
from orderhub.inventory import service as inventory
from orderhub.inventory.model import WarehouseKind
from orderhub.orders import service as orders
from orderhub.orders.draft import DraftLine, OrderDraft, Receiver
from orderhub.orders.status import OrderStatus
from orderhub.runtime import Runtime

STAFF = Actor("ops", "api", frozenset({Permission.ORDERS_TRANSITION.value, Permission.ORDERS_ROUTE.value}))
WAREHOUSES = [
    ("WH-HZ", "杭州主仓", WarehouseKind.OWN, "浙江省", "杭州市", "hz-lead"),
    ("WH-GZ", "广州云仓", WarehouseKind.THIRD_PARTY, "广东省", "广州市", "gz-3pl@example.com"),
    ("WH-CD", "成都前置仓", WarehouseKind.OWN, "四川省", "成都市", "cd-lead"),
]
# Grams per unit: two cups and a tea box stay under 3 kg; two pots go over it.
SKUS = [("R-CUP", "保温杯", 400), ("R-TEA", "茶叶礼盒", 800), ("R-POT", "铸铁锅", 2000)]
PLACES = {
    "杭州": ("浙江省", "杭州市", "西湖区"),
    "南京": ("江苏省", "南京市", "玄武区"),
    "广州": ("广东省", "广州市", "天河区"),
    "乌鲁木齐": ("新疆维吾尔自治区", "乌鲁木齐市", "天山区"),
}


def set_up_warehouses(runtime: Runtime) -> None:
    for code, name, kind, province, city, owner in WAREHOUSES:
        inventory.create_warehouse(runtime.uow(), code=code, name=name, kind=kind, province=province, city=city,
                                   owner=owner)
    for code, title, weight in SKUS:
        catalog.create_sku(runtime.uow(), code=code, title=title, weight_g=weight, list_price_fen=5000)


def put_stock(runtime: Runtime, warehouse: str, **qty: int) -> None:
    for sku, units in qty.items():
        inventory.receive(runtime.uow(), sku=sku.replace("_", "-"), warehouse=warehouse, qty=units,
                          reason="采购入库", idempotency_key=uuid.uuid4().hex, actor=STAFF)


def approved_order(runtime: Runtime, place: str = "杭州", *, lines: Sequence[tuple[str, int]] = (("R-CUP", 1),),
                   payment_method: str = "wechat") -> str:
    """An approved order holding its stock centrally, as orders do once they come in."""
    province, city, district = PLACES[place]
    amount = 5000 * sum(qty for _, qty in lines)
    draft = OrderDraft(
        channel="phone", shop="hq", source_type="电话订单",
        receiver=Receiver(name="张三", phone="13800138000", province=province, city=city, district=district,
                          address="人民路1号"),
        lines=[DraftLine(sku=sku, qty=qty, unit_price_fen=5000) for sku, qty in lines],
        paid_amount_fen=amount, payment_method=payment_method, paid_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
    )
    order = orders.create_manual_order(runtime.uow(), draft=draft, actor=STAFF, policy=runtime.policy)
    hold_stock(runtime, order.id, order.order_no, lines)
    orders.transition_order(runtime.uow(), order_no=order.order_no, target=OrderStatus.APPROVED, reason="审核通过",
                            actor=STAFF, policy=runtime.policy)
    return order.order_no


def hold_stock(runtime: Runtime, order_id: int, order_no: str, lines: Sequence[tuple[str, int]]) -> None:
    """The central reservation an order takes on entry (idempotent: an order already holding keeps it)."""
    with runtime.uow() as uow:
        inventory.hold(uow.session, [inventory.Demand(order_id, order_no, list(lines))], at=uow.now(), actor=STAFF)
        uow.commit()


def routed_in_gz_and_hz(runtime: Runtime, photo_dir: Path) -> dict[str, str]:
    """One routed order for Guangzhou (3pl) and one for Hangzhou, by warehouse; photos go to `photo_dir`."""
    runtime.settings.photo_dir = photo_dir
    set_up_warehouses(runtime)
    put_stock(runtime, "WH-HZ", R_CUP=5)
    put_stock(runtime, "WH-GZ", R_TEA=5)
    numbers = {"WH-GZ": approved_order(runtime, "广州", lines=[("R-TEA", 1)]),
               "WH-HZ": approved_order(runtime, "杭州", lines=[("R-CUP", 1)])}
    for number in numbers.values():
        service.route_order(runtime.uow(), order_no=number, tables=load_tables(), actor=STAFF)
    return numbers


def free_stock(runtime: Runtime, *skus: str) -> dict[str, dict[str, int]]:
    with runtime.reading() as session:
        return inventory.warehouse_stock(session, sku_codes=skus)


def events(runtime: Runtime, topic: str) -> list[OutboxEvent]:
    with runtime.reading() as session:
        return list(session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id)))


def code_image(text: str, symbology: zxingcpp.BarcodeFormat = zxingcpp.BarcodeFormat.QRCode,
               scale: int = 4) -> Image.Image:
    """A printed label's code carrying `text`, drawn by zxing-cpp's own writer (black on white, quiet zone)."""
    drawn = memoryview(zxingcpp.create_barcode(text, symbology).to_image(scale=scale))
    height, width = drawn.shape[:2]
    return Image.frombytes("L", (width, height), drawn.tobytes())


def package_photo(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), *, code: str | None = None,
                  symbology: zxingcpp.BarcodeFormat = zxingcpp.BarcodeFormat.QRCode, scale: int = 4,
                  turn: float = 7.0, zoom: float = 1.6) -> bytes:
    """A real image, as a phone would upload it: a plain brown box, or (with `code`) a box whose label's code
    carries `code`, photographed a little turned and closer than printed (not a pixel copy of the code)."""
    box = Image.new("RGB", size if code is None else (720, 540), (200, 160, 90))
    if code is not None:
        label = code_image(code, symbology, scale).convert("RGB")
        label = label.resize((round(label.width * zoom), round(label.height * zoom)), Image.Resampling.BILINEAR)
        label = label.rotate(turn, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255))
        box.paste(label, ((box.width - label.width) // 2 + 40, (box.height - label.height) // 2 - 20))
    buffer = io.BytesIO()
    box.save(buffer, format=fmt, **({"quality": 85} if fmt in ("JPEG", "WEBP") else {}))
    return buffer.getvalue()


def photograph(runtime: Runtime, photo_dir: Path, order_no: str, parcel_no: int) -> None:
    """Upload the parcel's package photo showing its label (outsourced warehouses ship only photographed parcels)."""
    portal.attach_photo(runtime.uow(), DiskPhotoStore(photo_dir), order_no=order_no, parcel_no=parcel_no,
                        warehouse=None, content=package_photo(code=f"{order_no}-{parcel_no}"),
                        max_bytes=1024 * 1024, actor=STAFF)
