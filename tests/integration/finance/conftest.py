"""Finance fixtures: paid orders of a small merchant, and statements written to files as providers write them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orderhub.channels import service as channels
from orderhub.channels.model import Channel, Shop
from orderhub.core.actor import Actor
from orderhub.core.ids import new_order_no
from orderhub.finance.imports import StatementReport, import_statement
from orderhub.finance.model import Source
from orderhub.orders.model import Order, OrderEvent, OrderLine
from orderhub.runtime import Runtime
from orderhub.simulators.statements import BillLine, wechatpay_bill

IMPORTER = Actor("finance-user", "cli")
# The clock fixture stands at 2026-11-20 10:00 Beijing time; orders and payments are of the day before.
DAY = datetime(2026, 11, 19, 2, 0, tzinfo=UTC)


@pytest.fixture
def shops(runtime: Runtime, merchant: None) -> dict[str, int]:
    """The merchant's shops by channel, with a Tmall and a mini-program shop added."""
    channels.create_shop(runtime.uow(), channel=Channel.TMALL, code="tm-flagship", name="天猫旗舰店")
    channels.create_shop(runtime.uow(), channel=Channel.MINIPROGRAM, code="mp", name="小程序")
    with runtime.reading() as session:
        return {shop.channel: shop.id for shop in session.scalars(select(Shop)) if shop.code != "bonded"}


OrderMaker = Callable[..., Order]


@pytest.fixture
def make_order(runtime: Runtime, shops: dict[str, int]) -> OrderMaker:
    """A paid order as the orders domain stores it (finance only ever reads these rows)."""

    def make(paid_fen: int = 19800, *, channel: str = "phone", at: datetime = DAY, status: str = "paid",
             channel_order_id: str = "", province: str = "浙江省", customer: str = "张三",
             raw_payload: dict[str, Any] | None = None,
             lines: Sequence[tuple[str, int, int]] = (("SKU-001", 2, 9900),)) -> Order:
        with runtime.uow() as uow:
            order_no = new_order_no(channel, at.astimezone(runtime.settings.zone))
            order = Order(
                order_no=order_no, channel=channel, shop_id=shops[channel],
                channel_order_id=channel_order_id or order_no, status=status, customer_name=customer,
                receiver_name=customer, receiver_province=province, goods_amount_fen=paid_fen,
                paid_amount_fen=paid_fen, paid_at=at if status != "pending_payment" else None,
                raw_payload=raw_payload, created_at=at, updated_at=at,
                lines=[OrderLine(line_no=index + 1, sku=sku, title=sku, qty=qty, unit_price_fen=price)
                       for index, (sku, qty, price) in enumerate(lines)],
            )
            uow.session.add(order)
            uow.session.flush()
            order.events.add(OrderEvent(kind="created", at=at, actor="test", source="api", to_status=status,
                                        reason="test order"))
            uow.commit()
            return order

    return make


Importer = Callable[..., StatementReport]


@pytest.fixture
def import_bytes(runtime: Runtime, tmp_path: Path) -> Importer:
    """Write `data` to a file named `name` and import it as a statement of `source`."""

    def run(data: bytes, source: Source = Source.WECHATPAY, name: str = "bill.csv", **options: Any
            ) -> StatementReport:
        path = tmp_path / name
        path.write_bytes(data)
        return import_statement(runtime, path, source=source, actor=IMPORTER, **options)

    return run


def wechat(*lines: BillLine) -> bytes:
    return wechatpay_bill(lines)


def pay(order: Order | str, amount_fen: int | None = None, *, txn: str, minutes: int = 1, **extra: Any) -> BillLine:
    """A WeChat payment of `order` (its order number as out_trade_no), a minute after it was paid."""
    reference = order if isinstance(order, str) else order.order_no
    amount = amount_fen if amount_fen is not None else (order.paid_amount_fen if isinstance(order, Order) else 0)
    return BillLine(reference=reference, amount_fen=amount, at=DAY + timedelta(minutes=minutes), txn_id=txn,
                    **extra)


def refund(order: Order, amount_fen: int, *, txn: str, refund_id: str, minutes: int = 60) -> BillLine:
    return BillLine(reference=order.order_no, amount_fen=amount_fen, at=DAY + timedelta(minutes=minutes), txn_id=txn,
                    refund_id=refund_id)
