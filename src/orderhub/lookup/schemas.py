"""Request and response models of the public lookup API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from orderhub.core.money import fen_to_yuan
from orderhub.logistics.states import TrackingState
from orderhub.lookup.service import CustomerOrder, CustomerParcel, Stage


class LookupQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Our order number (TB_20261205_8a3f7b) or the platform's, as the customer's app shows it.
    order: str = Field(min_length=1, max_length=100)
    # The last 4 digits of the receiver's (or buyer's) phone, or the whole number.
    phone: str = Field(min_length=1, max_length=20)


class CustomerEventOut(BaseModel):
    at: datetime
    state: TrackingState
    text: str
    location: str


class CustomerParcelOut(BaseModel):
    carrier_name: str
    waybill_no: str
    state: TrackingState
    state_at: datetime | None
    events: list[CustomerEventOut]  # newest first

    @classmethod
    def of(cls, parcel: CustomerParcel) -> CustomerParcelOut:
        return cls(carrier_name=parcel.carrier_name, waybill_no=parcel.waybill_no, state=parcel.state,
                   state_at=parcel.state_at,
                   events=[CustomerEventOut(at=event.occurred_at, state=TrackingState(event.state), text=event.text,
                                            location=event.location) for event in parcel.events])


class StepOut(BaseModel):
    stage: Stage
    reached: bool
    at: datetime | None


class LineOut(BaseModel):
    title: str
    spec: str
    qty: int


class ReceiverOut(BaseModel):
    name: str  # masked: 张*
    phone: str  # masked: 138****8000
    region: str  # province city district, never the street


class CustomerOrderOut(BaseModel):
    order_no: str
    channel: str
    channel_order_id: str
    stage: Stage
    paid_amount: str
    currency: str
    receiver: ReceiverOut
    lines: list[LineOut]
    steps: list[StepOut]
    parcels: list[CustomerParcelOut]

    @classmethod
    def of(cls, order: CustomerOrder) -> CustomerOrderOut:
        return cls(
            order_no=order.order_no, channel=order.channel, channel_order_id=order.channel_order_id,
            stage=order.stage, paid_amount=fen_to_yuan(order.paid_amount_fen),
            currency=order.currency,
            receiver=ReceiverOut(name=order.receiver_name, phone=order.receiver_phone, region=order.receiver_region),
            lines=[LineOut(title=line.title, spec=line.spec, qty=line.qty) for line in order.lines],
            steps=[StepOut(stage=step.stage, reached=step.reached, at=step.at) for step in order.steps],
            parcels=[CustomerParcelOut.of(parcel) for parcel in order.parcels],
        )


class LookupAnswer(BaseModel):
    orders: list[CustomerOrderOut]
