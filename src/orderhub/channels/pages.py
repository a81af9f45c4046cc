"""The channels console: shop health, and 补单 — dead letters listed, inspected, corrected, replayed, discarded.

Thin like `orders/pages.py`: parse, authorise, call a service, render. Errors the services raise
(a letter already closed, a discard without a reason) come back to the person as toasts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from orderhub.auth.deps import RuntimeDep, require_console
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.channels import deadletters
from orderhub.channels import service as channels
from orderhub.channels.deadletters import DeadLetterFilters
from orderhub.channels.errors import DeadLetterNotFound
from orderhub.channels.health import shop_health
from orderhub.channels.model import DISCARDED, OPEN, REJECTED, REPLAYED, Channel
from orderhub.core.errors import InvalidInput
from orderhub.runtime import Runtime
from orderhub.web.htmx import is_htmx, render

router = APIRouter(prefix="/console", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_console(Permission.CHANNELS_READ))]
Replayer = Annotated[Principal, Depends(require_console(Permission.CHANNELS_REPLAY))]

PAGE_SIZE = 50
STATUSES = (OPEN, REPLAYED, DISCARDED, REJECTED)
# What ingestion and push verification write into `reason_code`.
REASON_CODES = ("payload", "mapping", "validation", "signature")
# Shown in red: one call in five failing is already worth a look, long before the degraded alert fires.
HIGH_FAILURE_RATE = 0.2
# Pulls run every 15 minutes; a cursor two runs behind is late.
LATE_AFTER = timedelta(minutes=30)
_ID = re.compile(r"[0-9]{1,18}")
_REASON_CODE = re.compile(r"[a-z0-9_.-]{1,64}")


async def _form_data(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form_data)]


# ------------------------------------------------------------------------------------------------
# Channel health
# ------------------------------------------------------------------------------------------------


@router.get("/channels")
def channel_health(request: Request, runtime: RuntimeDep, _: Reader) -> HTMLResponse:
    """The whole page, or only the table for the 30-second refresh."""
    now = runtime.clock.now()
    with runtime.reading() as session:
        rows = shop_health(session, now)
    context = {"nav": "channels", "rows": rows, "checked_at": now, "high_failure_rate": HIGH_FAILURE_RATE,
               "late_after": LATE_AFTER}
    return render(request, "channels/_health.html" if is_htmx(request) else "channels/health.html", context)


# ------------------------------------------------------------------------------------------------
# Dead-letter list and bulk actions
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Listing:
    """The list's filters and page as the address bar carries them."""

    status: str = OPEN
    channel: str = ""
    shop: str = ""
    reason_code: str = ""
    before_id: str = ""

    @property
    def filters(self) -> DeadLetterFilters:
        return DeadLetterFilters(status=self.status, channel=self.channel or None,
                                 shop_id=int(self.shop) if self.shop else None, reason_code=self.reason_code or None)

    def query(self) -> str:
        """The non-default values, for links and for the bulk forms to come back to the same view."""
        kept = {"status": "" if self.status == OPEN else self.status, "channel": self.channel, "shop": self.shop,
                "reason_code": self.reason_code, "before_id": self.before_id}
        return urlencode({key: value for key, value in kept.items() if value})

    def url(self) -> str:
        query = self.query()
        return "/console/dead-letters" + (f"?{query}" if query else "")


def _listing(status: str = OPEN, channel: str = "", shop: str = "", reason_code: str = "",
             before_id: str = "") -> _Listing:
    if status not in STATUSES:
        raise InvalidInput(f"unknown dead-letter status {status!r} / 未知的死信状态")
    if channel:
        channels.parse_channel(channel)
    if shop and not _ID.fullmatch(shop):
        raise InvalidInput(f"unknown shop {shop!r} / 未知店铺")
    if reason_code and not _REASON_CODE.fullmatch(reason_code):
        raise InvalidInput(f"unknown reason code {reason_code!r} / 未知的原因代码")
    if before_id and not _ID.fullmatch(before_id):
        raise InvalidInput(f"{before_id!r} is not a dead-letter id / 死信编号应为数字")
    return _Listing(status, channel, shop, reason_code, before_id)


Listing = Annotated[_Listing, Depends(_listing)]


def _list_context(session: Session, listing: _Listing, principal: Principal) -> dict[str, Any]:
    filters = listing.filters
    found = deadletters.list_dead_letters(session, filters, limit=PAGE_SIZE + 1,
                                          before_id=int(listing.before_id) if listing.before_id else None)
    letters = found[:PAGE_SIZE]
    shops = channels.list_shops(session)
    next_page = replace(listing, before_id=str(letters[-1].id)).url() if len(found) > PAGE_SIZE else None
    return {
        "nav": "dead_letters", "letters": letters, "listing": listing, "statuses": STATUSES,
        "counts": deadletters.status_counts(session, replace(filters, status=None)), "channels": list(Channel),
        "shops": shops, "shop_by_id": {shop.id: shop for shop in shops}, "reason_codes": REASON_CODES,
        "can_replay": Permission.CHANNELS_REPLAY in principal.permissions and listing.status == OPEN,
        "query": listing.query(), "first_url": replace(listing, before_id="").url() if listing.before_id else None,
        "next_url": next_page, "oob": False, "replayed": None, "discarded": None,
    }


@router.get("/dead-letters")
def dead_letter_list(request: Request, runtime: RuntimeDep, principal: Reader, listing: Listing) -> HTMLResponse:
    with runtime.reading() as session:
        context = _list_context(session, listing, principal)
        if not is_htmx(request):
            return render(request, "channels/letters.html", context)
        # The address bar shows the filters in force, not the form's empty fields.
        return render(request, "channels/_letters.html", {**context, "oob": True},
                      headers={"HX-Push-Url": listing.url()})


@router.get("/dead-letters/open-count")
def open_dead_letter_badge(request: Request, runtime: RuntimeDep, _: Reader) -> HTMLResponse:
    """The number on the navigation's 补单 entry, loaded after the page so no page waits for it."""
    with runtime.reading() as session:
        return render(request, "channels/_badge.html", {"waiting": _waiting(session), "oob": False})


def _waiting(session: Session) -> int:
    """Open dead letters over all channels; the badge is redrawn after every action."""
    return sum(deadletters.count_open(session).values())


def _selected(form: FormData) -> list[int]:
    values = form.getlist("ids")
    if not values:
        raise InvalidInput("select at least one dead letter / 请先勾选要处理的死信")
    if len(values) > PAGE_SIZE or not all(isinstance(value, str) and _ID.fullmatch(value) for value in values):
        raise InvalidInput(f"select at most {PAGE_SIZE} dead letters by their ids / 最多勾选 {PAGE_SIZE} 条死信")
    return sorted({int(str(value)) for value in values})


def _note(form: FormData) -> str:
    """Why letters are discarded; the service refuses a blank one."""
    value = form.get("note")
    return value if isinstance(value, str) else ""


def _list_after(request: Request, runtime: Runtime, principal: Principal, listing: _Listing,
                **outcome: Any) -> Response:
    """The list again, with what the action did as a toast."""
    if not is_htmx(request):
        return RedirectResponse(listing.url(), status_code=303)
    with runtime.reading() as session:
        return render(request, "channels/_letters.html",
                      {**_list_context(session, listing, principal), "oob": True, "waiting": _waiting(session),
                       **outcome})


@router.post("/dead-letters/replay")
def replay_selected(request: Request, runtime: RuntimeDep, principal: Replayer, listing: Listing,
                    form: Posted) -> Response:
    ids = _selected(form)
    outcomes = deadletters.replay(runtime.uow(), letter_ids=ids, actor=principal.actor("console"),
                                  policy=runtime.policy)
    return _list_after(request, runtime, principal, listing, replayed=list(zip(ids, outcomes, strict=True)))


@router.post("/dead-letters/discard")
def discard_selected(request: Request, runtime: RuntimeDep, principal: Replayer, listing: Listing,
                     form: Posted) -> Response:
    ids = _selected(form)
    count = deadletters.discard(runtime.uow(), letter_ids=ids, actor=principal.actor("console"), note=_note(form))
    return _list_after(request, runtime, principal, listing, discarded=count)


# ------------------------------------------------------------------------------------------------
# One dead letter
# ------------------------------------------------------------------------------------------------


def _letter_id(value: str) -> int:
    if not _ID.fullmatch(value):
        raise DeadLetterNotFound(f"no dead letter {value!r} / 死信 {value} 不存在")
    return int(value)


def _detail_context(session: Session, letter_id: int, principal: Principal) -> dict[str, Any]:
    letter = deadletters.get_dead_letter(session, letter_id)
    return {
        "nav": "dead_letters", "letter": letter,
        "shop": channels.shop_by_id(session, letter.shop_id) if letter.shop_id is not None else None,
        "actions": deadletters.actions_of(session, letter_id),
        "pretty_body": deadletters.reformat(letter.corrected_body or letter.raw_body),
        "can_act": Permission.CHANNELS_REPLAY in principal.permissions and letter.status == OPEN,
        "replayed": None, "discarded": None,
    }


@router.get("/dead-letters/{letter_id}")
def dead_letter_detail(letter_id: str, request: Request, runtime: RuntimeDep, principal: Reader) -> HTMLResponse:
    with runtime.reading() as session:
        return render(request, "channels/letter.html", _detail_context(session, _letter_id(letter_id), principal))


def _detail_after(request: Request, runtime: Runtime, principal: Principal, letter_id: int,
                  **outcome: Any) -> Response:
    if not is_htmx(request):
        return RedirectResponse(f"/console/dead-letters/{letter_id}", status_code=303)
    with runtime.reading() as session:
        return render(request, "channels/_letter.html",
                      {**_detail_context(session, letter_id, principal), "waiting": _waiting(session), **outcome})


def _corrected_body(form: FormData) -> str | None:
    """The edited body of "replay corrected"; absent for a plain replay."""
    value = form.get("corrected_body")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("the corrected body is empty / 修正后的报文为空")
    # Browsers send a textarea's line breaks as CRLF; the stored body keeps the platform's LF.
    return value.replace("\r\n", "\n")


@router.post("/dead-letters/{letter_id}/replay")
def replay_letter(letter_id: str, request: Request, runtime: RuntimeDep, principal: Replayer,
                  form: Posted) -> Response:
    number = _letter_id(letter_id)
    (outcome,) = deadletters.replay(runtime.uow(), letter_ids=[number], actor=principal.actor("console"),
                                    policy=runtime.policy, corrected_body=_corrected_body(form))
    return _detail_after(request, runtime, principal, number, replayed=[(number, outcome)])


@router.post("/dead-letters/{letter_id}/discard")
def discard_letter(letter_id: str, request: Request, runtime: RuntimeDep, principal: Replayer,
                   form: Posted) -> Response:
    number = _letter_id(letter_id)
    count = deadletters.discard(runtime.uow(), letter_ids=[number], actor=principal.actor("console"),
                                note=_note(form))
    return _detail_after(request, runtime, principal, number, discarded=count)
