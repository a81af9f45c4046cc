"""The public lookup API: no account, the order number and phone are the proof; throttled by the guard."""

from __future__ import annotations

from fastapi import APIRouter, Request

from orderhub.auth.deps import RuntimeDep
from orderhub.lookup import service
from orderhub.lookup.schemas import CustomerOrderOut, LookupAnswer, LookupQuery

router = APIRouter(prefix="/api/v1/lookup", tags=["lookup"])


def client_address(request: Request) -> str:
    """The caller's address (behind a proxy, uvicorn's --forwarded-allow-ips makes it the real one)."""
    return request.client.host if request.client else "unknown"


@router.post("", summary="Find an order by its number and the receiver's phone (public; rate-limited)",
             responses={404: {"description": "no order matches (lookup.not_found)"},
                        429: {"description": "too many lookups (lookup.too_many_requests, lookup.locked)"}})
def look_up(query: LookupQuery, request: Request, runtime: RuntimeDep) -> LookupAnswer:
    with runtime.reading() as session:
        found = service.look_up(session, runtime.lookup_guard, reference=query.order, phone=query.phone,
                                client=client_address(request))
        return LookupAnswer(orders=[CustomerOrderOut.of(order) for order in found])
