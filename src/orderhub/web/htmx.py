"""How the console answers: whole pages or HTMX fragments, in the reader's language, errors for people."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from orderhub.auth.permissions import ROLE_LABELS_ZH, Permission, Role
from orderhub.channels.model import CHANNEL_LABELS_ZH, Channel
from orderhub.core.errors import OrderHubError, Unauthenticated
from orderhub.core.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGE_COOKIE,
    LANGUAGES,
    format_datetime,
    format_money,
    humanise,
    load_translations,
    parse_language,
)
from orderhub.core.money import fen_to_yuan
from orderhub.orders.status import LABELS_ZH, OrderStatus

WEB_DIR = Path(__file__).parent
TEMPLATE_DIR = WEB_DIR / "templates"
LOCALE_DIR = WEB_DIR / "locale"
LOGIN_PATH = "/console/login"
HOME_PATH = "/console/orders"
WAREHOUSE_PATH = "/console/warehouse"
TOAST_TARGET = "#toasts"

CHANNEL_LABELS_EN = {
    Channel.TAOBAO: "Taobao",
    Channel.TMALL: "Tmall",
    Channel.JD: "JD",
    Channel.PDD: "Pinduoduo",
    Channel.DOUYIN: "Douyin",
    Channel.KUAISHOU: "Kuaishou",
    Channel.SHOPIFY: "Own site",
    Channel.MINIPROGRAM: "Mini-program",
    Channel.POS: "Store POS",
    Channel.PHONE: "Phone",
    Channel.MANUAL: "Manual",
}


def language_of(request: Request) -> str:
    """`?lang=` (the switch link) wins over the cookie; zh-CN when neither names a known language."""
    return (parse_language(request.query_params.get("lang"))
            or parse_language(request.cookies.get(LANGUAGE_COOKIE)) or DEFAULT_LANGUAGE)


def is_htmx(request: Request) -> bool:
    """An HTMX swap; a history restore after a cache miss needs the whole page instead."""
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def local_console_path(value: str | None) -> str | None:
    """`value` if it is a path of this console (safe to redirect to after login), else None."""
    if not value or "\\" in value or any(ord(char) < 32 for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path == "/console" or parts.path.startswith("/console/")):
        return None
    return value


def home_path(permissions: Collection[str]) -> str:
    """Where a user starts: the order list, or the warehouse page for an account that may not read orders (3PL)."""
    if Permission.ORDERS_READ not in permissions and Permission.PORTAL_READ in permissions:
        return WAREHOUSE_PATH
    return HOME_PATH


def login_url(next_path: str | None) -> str:
    target = local_console_path(next_path)
    if target is None or target in ("/console", HOME_PATH):
        return LOGIN_PATH
    return f"{LOGIN_PATH}?{urlencode({'next': target})}"


def status_label(value: str, language: str) -> str:
    status = OrderStatus(value)
    return LABELS_ZH[status] if language == "zh-CN" else humanise(status.value)


def channel_label(value: str, language: str) -> str:
    try:
        channel = Channel(value)
    except ValueError:
        return value
    return CHANNEL_LABELS_ZH[channel] if language == "zh-CN" else CHANNEL_LABELS_EN[channel]


def role_label(value: str, language: str) -> str:
    role = Role(value)
    return ROLE_LABELS_ZH[role] if language == "zh-CN" else humanise(role.value)


def slot_id(field_path: str) -> str:
    """The element id where a field's errors are shown: lines[0].qty → err-lines-0-qty."""
    return "err-" + re.sub(r"[^a-z0-9]+", "-", field_path.lower()).strip("-")


@pass_context
def _datetime_filter(context: Context, value: Any, seconds: bool = False) -> str:
    return format_datetime(value, context["lang"], context["zone"], seconds=seconds)


def _environment(language: str, translations: NullTranslations) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
    )
    environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    environment.filters.update(
        money=format_money, yuan=fen_to_yuan, dt=_datetime_filter, slot_id=slot_id,
        status_label=lambda value: status_label(value, language),
        channel_label=lambda value: channel_label(value, language),
        role_label=lambda value: role_label(value, language),
    )
    return environment


@cache
def environments() -> dict[str, Environment]:
    """One Jinja environment per language, built once per process."""
    translations = load_translations(LOCALE_DIR)
    return {language: _environment(language, translations[language]) for language in LANGUAGES}


def _switch_language_url(request: Request, language: str) -> str:
    query = [(key, value) for key, value in request.query_params.multi_items() if key != "lang"]
    return f"{request.url.path}?{urlencode([*query, ('lang', language)])}"


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """Render `template` for this request's user and language (the session's CSRF token included)."""
    language = language_of(request)
    other = next(lang for lang in LANGUAGES if lang != language)
    full_context = {
        "request": request,
        "lang": language,
        "zone": request.app.state.runtime.settings.zone,
        "principal": getattr(request.state, "principal", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "other_lang": other,
        "switch_lang_url": _switch_language_url(request, other),
        **(context or {}),
    }
    body = environments()[language].get_template(template).render(full_context)
    response = HTMLResponse(body, status_code=status_code, headers=dict(headers or {}))
    response.headers["Vary"] = "HX-Request, Cookie"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    chosen = parse_language(request.query_params.get("lang"))
    if chosen is not None and chosen != request.cookies.get(LANGUAGE_COOKIE):
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, path="/", samesite="lax")
    return response


def _page_of_htmx_request(request: Request) -> str | None:
    """The console page the browser shows while it sent this HTMX request."""
    current = request.headers.get("hx-current-url")
    if not current:
        return None
    parts = urlsplit(current)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def console_error(request: Request, exc: OrderHubError) -> Response:
    """A domain error on a console route, shown to a person rather than as JSON."""
    htmx = is_htmx(request)
    if isinstance(exc, Unauthenticated):
        if htmx:
            return Response(status_code=exc.status, headers={"HX-Redirect": login_url(_page_of_htmx_request(request))})
        if request.method in ("GET", "HEAD"):
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(login_url(here), status_code=303)
    if htmx:
        return toast(request, exc.message, details=exc.details, status_code=exc.status)
    return render(request, "error.html", {"status": exc.status, "code": exc.code, "message": exc.message,
                                          "login_url": login_url(None)}, status_code=exc.status)


def toast(request: Request, message: str, *, details: list[dict[str, Any]] | None = None, kind: str = "error",
          status_code: int = 200) -> HTMLResponse:
    """A message for the toast area, whatever element the HTMX request meant to update."""
    language = language_of(request)
    lines = [str(detail.get("messages", {}).get(language) or detail["message"])
             for detail in details or [] if detail.get("message")]
    return render(request, "_toast.html", {"message": message, "lines": lines, "kind": kind},
                  status_code=status_code, headers={"HX-Retarget": TOAST_TARGET, "HX-Reswap": "beforeend"})


def order_url(order_no: str) -> str:
    return f"/console/orders/{quote(order_no, safe='')}"
