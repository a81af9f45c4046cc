"""Typed errors of the logistics domain."""

from __future__ import annotations

from orderhub.core.errors import Conflict, InvalidInput, NotFound, OrderHubError


class UnknownCarrier(InvalidInput):
    code = "logistics.unknown_carrier"


class MalformedWaybill(InvalidInput):
    code = "logistics.malformed_waybill"


class WaybillNotFound(NotFound):
    code = "logistics.waybill_not_found"


class WaybillTaken(Conflict):
    """The carrier's number is already bound to another order."""

    code = "logistics.waybill_taken"


class PushSignatureInvalid(OrderHubError):
    """A kuaidi100 push whose `sign` does not verify: refused, kept for audit."""

    code, status = "logistics.push_signature", 401


class MalformedPush(OrderHubError):
    """A kuaidi100 push that cannot be read (no `param`, bad JSON, no waybill): kept with its reason."""

    code, status = "logistics.push_malformed", 400


class TrackingQueryFailed(OrderHubError):
    """The carrier's query API failed or answered with an error; the poll job retries later."""

    code, status = "logistics.query_failed", 502
    retryable = True


class TicketNotFound(NotFound):
    code = "logistics.ticket_not_found"


class TicketClosed(Conflict):
    """The exception ticket is already resolved, or already acknowledged when acknowledging."""

    code = "logistics.ticket_state"


class ResolutionReasonRequired(InvalidInput):
    code = "logistics.reason_required"


class BadMonth(InvalidInput):
    code = "logistics.bad_month"


class NotInterceptable(Conflict):
    """Only a shipped parcel still on its way can be intercepted (an unshipped one is frozen by its hold)."""

    code = "logistics.not_interceptable"


class InterceptionNotFound(NotFound):
    code = "logistics.interception_not_found"


class EwaybillFailed(OrderHubError):
    """The carrier's e-waybill API gave no number; nothing was bound."""

    code, status = "logistics.ewaybill_failed", 502


class EwaybillUnavailable(EwaybillFailed):
    """Timeouts, connection errors, 5xx or the carrier's own server error, still so after our retries."""

    code = "logistics.ewaybill_unavailable"
    retryable = True


class EwaybillRefused(EwaybillFailed):
    """The carrier refused the order (bad parameters, signature, account, no waybills left): retrying cannot help."""

    code = "logistics.ewaybill_refused"


class NotWaybillable(Conflict):
    """The parcel cannot get a waybill now: shipped, cancelled, frozen with its order, or no address yet."""

    code = "logistics.not_waybillable"
