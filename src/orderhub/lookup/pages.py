"""The public lookup page under /lookup: a form for the order number and phone, the order's progress and parcels."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from orderhub.auth.deps import RuntimeDep
from orderhub.lookup import service
from orderhub.lookup.api import client_address
from orderhub.lookup.errors import LookupInvalid, LookupThrottled, NoMatchingOrder
from orderhub.web.htmx import is_htmx, render

router = APIRouter(prefix="/lookup", include_in_schema=False)

LOOKUP_PATH = "/lookup"
RESULT_TARGET = "#lookup-result"
FormText = Annotated[str, Form()]


def _page(request: Request, *, order: str, status_code: int = 200, **result: object) -> HTMLResponse:
    context = {"brand_href": LOOKUP_PATH, "order": order, "result": result or None}
    if is_htmx(request):
        # An error answer is swapped into the result area too (the layout swaps answers that retarget).
        return render(request, "lookup/_result.html", context, status_code=status_code,
                      headers={"HX-Retarget": RESULT_TARGET} if status_code >= 400 else None)
    return render(request, "lookup/page.html", context, status_code=status_code)


@router.get("")
def lookup_form(request: Request, order: str = "") -> HTMLResponse:
    """The empty form; `?order=` fills the number in (a link in a shipping message)."""
    return _page(request, order=order[:100])


@router.post("")
def look_up(request: Request, runtime: RuntimeDep, order: FormText = "", phone: FormText = "") -> HTMLResponse:
    try:
        with runtime.reading() as session:
            found = service.look_up(session, runtime.lookup_guard, reference=order, phone=phone,
                                    client=client_address(request))
            return _page(request, order=order, orders=found)
    except LookupInvalid as exc:
        fields = [detail["field"] for detail in exc.details]
        return _page(request, order=order, status_code=exc.status, error=exc.code, fields=fields)
    except NoMatchingOrder as exc:
        return _page(request, order=order, status_code=exc.status, error=exc.code)
    except LookupThrottled as exc:
        return _page(request, order=order, status_code=exc.status, error=exc.code,
                     minutes=math.ceil(exc.retry_after / 60))
