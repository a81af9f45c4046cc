"""The lookup's rules: what a customer must know to see an order, and what of it they are shown.

A customer knows the order number (ours, or the platform's number their app shows) and their phone.
Both must match, and the answer is the same "no such order" whether the number is unknown or the phone
is wrong, so guessing learns nothing; the guard limits how often anyone may guess. What is shown is what
the customer already knows or may know: status, goods, region, parcels and their tracks; never the
street address, full phone, internal notes or hold reasons.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from orderhub.logistics import service as logistics
from orderhub.logistics.carriers import carrier_table
from orderhub.logistics.model import TrackingEvent
from orderhub.logistics.service import Parcel
from orderhub.logistics.states import TrackingState
from orderhub.lookup.errors import LookupInvalid, NoMatchingOrder
from orderhub.lookup.guard import LookupGuard
from orderhub.orders import service as orders
from orderhub.orders.model import Order
from orderhub.orders.status import OrderStatus
from orderhub.orders.validation import classify_phone

# Our own number, however the customer typed its case: TB_20261205_8a3f7b.
_ORDER_NO = re.compile(r"([A-Za-z]{2,4})_(\d{8})_([0-9A-Fa-f]{6})")
_REFERENCE = re.compile(r"[0-9A-Za-z_-]{4,64}")
# The customer types the last four digits, or the whole number.
_PHONE = re.compile(r"\d{4}|\d{7,12}")


class Stage(StrEnum):
    """Where an order is, in the customer's words; several order statuses read as one stage."""

    PLACED = "placed"  # 已下单 (not paid yet)
    PAID = "paid"  # 已付款 (the shop has still to approve it)
    PREPARING = "preparing"  # 备货中（已审核、已分仓、拣货、打包）
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDING = "refunding"
    REFUNDED = "refunded"


PROGRESS = (Stage.PLACED, Stage.PAID, Stage.PREPARING, Stage.SHIPPED, Stage.DELIVERED)
STAGE_OF_STATUS = {
    OrderStatus.PENDING_PAYMENT: Stage.PLACED,
    OrderStatus.PAID: Stage.PAID,
    OrderStatus.APPROVED: Stage.PREPARING,
    OrderStatus.ALLOCATED: Stage.PREPARING,
    OrderStatus.PICKING: Stage.PREPARING,
    OrderStatus.PACKED: Stage.PREPARING,
    OrderStatus.SHIPPED: Stage.SHIPPED,
    OrderStatus.DELIVERED: Stage.DELIVERED,
    OrderStatus.COMPLETED: Stage.DELIVERED,
    OrderStatus.CANCELLED: Stage.CANCELLED,
    OrderStatus.REFUNDING: Stage.REFUNDING,
    OrderStatus.REFUNDED: Stage.REFUNDED,
}


def stage_of(order: Order) -> Stage:
    """An order on hold reads as the stage it was held at: the hold is the merchant's business."""
    status = OrderStatus(order.status)
    if status is OrderStatus.ON_HOLD:
        status = OrderStatus(order.held_from or OrderStatus.PAID)
    return STAGE_OF_STATUS[status]


@dataclass(frozen=True)
class Step:
    stage: Stage
    reached: bool
    at: datetime | None  # None: reached before OrderHub saw the order, or not yet


@dataclass(frozen=True)
class Line:
    title: str
    spec: str
    qty: int


@dataclass(frozen=True)
class CustomerParcel:
    carrier_name: str
    waybill_no: str
    state: TrackingState
    state_at: datetime | None
    events: list[TrackingEvent]  # newest first


@dataclass(frozen=True)
class CustomerOrder:
    order_no: str
    channel: str
    channel_order_id: str
    stage: Stage
    paid_amount_fen: int
    currency: str
    receiver_name: str  # masked
    receiver_phone: str  # masked
    receiver_region: str  # province, city, district: never the street
    lines: list[Line]
    steps: list[Step]
    parcels: list[CustomerParcel]


def normalise_reference(raw: str) -> str:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw))
    if not _REFERENCE.fullmatch(text):
        raise LookupInvalid("enter the order number as shown in your order / 请按订单中显示的样子填写订单号",
                            details=[{"field": "order", "rule": "reference.invalid",
                                      "message": "4–64 letters, digits, _ or - / 4–64 位字母、数字、_ 或 -"}])
    own = _ORDER_NO.fullmatch(text)
    if own:
        return f"{own[1].upper()}_{own[2]}_{own[3].lower()}"
    return text


def normalise_phone(raw: str) -> str:
    digits = re.sub(r"[\s-]+", "", unicodedata.normalize("NFKC", raw)).removeprefix("+86")
    if not _PHONE.fullmatch(digits):
        raise LookupInvalid("enter the last 4 digits of the receiver's phone / 请填写收货手机号后 4 位",
                            details=[{"field": "phone", "rule": "phone.invalid",
                                      "message": "4 digits, or the whole number / 后 4 位数字，或完整号码"}])
    return digits


def _typed_forms(stored: str) -> list[str]:
    """The stored phone as a customer may type it in full ("*" where the platform masked a digit)."""
    kind, number = classify_phone(stored)
    if kind in ("mobile", "masked"):
        return [number.split("-")[0]]  # a masked number's extension is the platform's, not the customer's
    if kind == "landline":
        area, local = number.split("-")[:2]
        return [area + local, local]
    return []  # a platform's virtual number belongs to nobody the customer knows


def phone_matches(stored: str, given: str) -> bool:
    """Whether `given` (4 digits, or a whole number) is the stored phone's tail, or all of it."""
    forms = _typed_forms(stored)
    if len(given) == 4:
        return any(form[-4:] == given for form in forms)
    return any(len(form) == len(given) and all(mine in ("*", theirs) for mine, theirs in zip(form, given, strict=True))
               for form in forms)


def mask_name(name: str) -> str:
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def mask_phone(phone: str) -> str:
    """138****8000 as platforms print it; a landline keeps its area code; "" for a virtual number."""
    kind, number = classify_phone(phone)
    if kind in ("mobile", "masked"):
        head = number.split("-")[0]
        return head[:3] + "****" + head[-4:]
    if kind == "landline":
        area, local = number.split("-")[:2]
        return f"{area}-****{local[-4:]}"
    return ""


def look_up(session: Session, guard: LookupGuard, *, reference: str, phone: str, client: str) -> list[CustomerOrder]:
    """The orders with this number whose receiver's or buyer's phone is `phone`; NoMatchingOrder if none."""
    reference, phone = normalise_reference(reference), normalise_phone(phone)
    guard.admit(client)
    guard.check_reference(reference)
    found = [order for order in orders.orders_by_reference(session, reference)
             if phone_matches(order.receiver_phone, phone) or phone_matches(order.customer_phone, phone)]
    if not found:
        guard.record_failure(reference)
        raise NoMatchingOrder()
    return [_customer_order(session, order) for order in found]


def _customer_order(session: Session, order: Order) -> CustomerOrder:
    region = " ".join(part for part in (order.receiver_province, order.receiver_city, order.receiver_district) if part)
    return CustomerOrder(
        order_no=order.order_no, channel=order.channel, channel_order_id=order.channel_order_id,
        stage=stage_of(order), paid_amount_fen=order.paid_amount_fen,
        currency=order.currency, receiver_name=mask_name(order.receiver_name),
        receiver_phone=mask_phone(order.receiver_phone), receiver_region=region,
        lines=[Line(line.title or line.sku, line.spec, line.qty) for line in order.lines],
        steps=_steps(session, order),
        parcels=[_customer_parcel(parcel) for parcel in logistics.order_tracking(session, order_id=order.id)],
    )


def _customer_parcel(parcel: Parcel) -> CustomerParcel:
    waybill = parcel.waybill
    name = waybill.carrier_name or (carrier_table().name_of(waybill.carrier_code) if waybill.carrier_code else "")
    return CustomerParcel(carrier_name=name, waybill_no=waybill.number, state=TrackingState(waybill.state),
                          state_at=waybill.state_at, events=parcel.events)


def _steps(session: Session, order: Order) -> list[Step]:
    """The progress bar: each step with when the order first reached it (from the timeline)."""
    first: dict[Stage, datetime] = {}
    if order.paid_at is None or order.created_at <= order.paid_at:
        # A platform order reaches OrderHub after it was placed: its arrival is no placing time.
        first[Stage.PLACED] = order.created_at
    if order.paid_at is not None:
        first[Stage.PAID] = order.paid_at
    for event in orders.order_timeline(session, order.order_no):
        if event.kind == "transition" and event.to_status and event.to_status != OrderStatus.ON_HOLD:
            first.setdefault(STAGE_OF_STATUS[OrderStatus(event.to_status)], event.at)
    stage = stage_of(order)
    if stage in PROGRESS:
        reached_until = PROGRESS.index(stage)
    else:  # cancelled or refunded: as far as the order got before
        reached_until = max((PROGRESS.index(step) for step in first if step in PROGRESS), default=0)
    return [Step(step, index <= reached_until, first.get(step) if index <= reached_until else None)
            for index, step in enumerate(PROGRESS)]
