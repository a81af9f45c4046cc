"""Interception (拦截) of a shipped parcel: asked of its carrier through the outbox, settled by its track.

Before shipping there is nothing to ask of a carrier: after-sales holds the order and the warehouse's
scans are refused. Once shipped, `request_interception` records the request on the waybill (one per
waybill; asking again returns it) and emits `logistics.interception_requested`, which the outbox
delivers to the carrier. The parcel's later tracking settles it (`take_snapshot`): returning or
returned → intercepted, signed for first → failed, each told by `logistics.interception_resolved`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orderhub.core.actor import Actor
from orderhub.core.db import UnitOfWork
from orderhub.core.errors import InvalidInput
from orderhub.core.outbox import add_event
from orderhub.logistics import service
from orderhub.logistics.carriers import carrier_table
from orderhub.logistics.errors import InterceptionNotFound, NotInterceptable
from orderhub.logistics.model import InterceptionState, Waybill, WaybillInterception
from orderhub.orders import service as orders


def request_interception(uow: UnitOfWork, *, carrier: str, waybill_no: str, reason: str,
                         actor: Actor) -> WaybillInterception:
    """Ask the carrier to stop a shipped parcel and send it back; the request already made is returned as it is."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("an interception needs a reason / 拦截需要填写原因",
                           details=[{"field": "reason", "rule": "required", "message": "reason required"}])
    with uow:
        session, now = uow.session, uow.now()
        waybill = _lock(session, service.get_waybill(session, carrier=carrier, waybill_no=waybill_no).waybill)
        held = _of(session, waybill)
        if held is not None:
            uow.commit()  # nothing changed; committing keeps the row readable once the session closes
            return held
        facts = orders.shipping_facts(session, [waybill.order_id])[waybill.order_id]
        if facts.shipped_at is None:
            raise NotInterceptable(
                f"order {waybill.order_no} has not shipped: its after-sales hold keeps it in the warehouse "
                f"/ 订单 {waybill.order_no} 尚未发货，售后挂起即可拦截，无需联系快递",
                details=[{"order_no": waybill.order_no, "status": facts.status.value}])
        if waybill.final:
            raise NotInterceptable(
                f"{waybill.carrier_code} {waybill.number} is already {waybill.state}: too late to intercept "
                f"/ 运单已{'签收' if waybill.state == 'delivered' else '退回'}，无法拦截",
                details=[{"waybill_no": waybill.number, "state": waybill.state}])
        interception = WaybillInterception(waybill_id=waybill.id, order_no=waybill.order_no,
                                           state=InterceptionState.REQUESTED.value, reason=reason[:500],
                                           requested_by=actor.name[:64], requested_at=now)
        session.add(interception)
        add_event(session, topic="logistics.interception_requested", key=waybill.order_no, at=now, payload={
            "order_no": waybill.order_no, "carrier": waybill.carrier_code,
            "com": carrier_table().com_of(waybill.carrier_code), "waybill_no": waybill.number,
            "reason": interception.reason, "requested_by": interception.requested_by,
        })
        uow.commit()
        return interception


def get_interception(session: Session, *, carrier: str, waybill_no: str) -> WaybillInterception:
    waybill = service.get_waybill(session, carrier=carrier, waybill_no=waybill_no).waybill
    found = _of(session, waybill)
    if found is None:
        raise InterceptionNotFound(f"no interception of {waybill.carrier_code} {waybill.number} "
                                   f"/ 运单 {waybill.number} 没有拦截记录")
    return found


def _lock(session: Session, waybill: Waybill) -> Waybill:
    """Row-locked: two requests for one parcel make one interception."""
    session.refresh(waybill, with_for_update=True)
    return waybill


def _of(session: Session, waybill: Waybill) -> WaybillInterception | None:
    return session.scalar(select(WaybillInterception).where(WaybillInterception.waybill_id == waybill.id))
