"""Console sign-in and sign-out.

The login form has no session yet, so its CSRF defence is a double-submit cookie: a random value
set as a cookie and repeated in a hidden field; a cross-site form cannot read the cookie to copy it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from orderhub.auth import service
from orderhub.auth.deps import SESSION_COOKIE, RuntimeDep, require_console
from orderhub.auth.errors import InvalidCredentials
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.core.ids import new_token
from orderhub.web.htmx import LOGIN_PATH, home_path, local_console_path, render

router = APIRouter(prefix="/console", include_in_schema=False)

LOGIN_CSRF_COOKIE = "orderhub_login_csrf"
FormText = Annotated[str, Form()]


def _login_page(request: Request, *, next_path: str, username: str = "", error: str = "",
                status_code: int = 200) -> HTMLResponse:
    token = new_token()
    response = render(request, "auth/login.html",
                      {"login_csrf": token, "next": local_console_path(next_path) or "", "username": username,
                       "error": error}, status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path=LOGIN_PATH, httponly=True, samesite="strict",
                        secure=request.app.state.runtime.settings.secure_cookies)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _login_page(request, next_path=next)


@router.post("/login")
def login(request: Request, runtime: RuntimeDep, username: FormText = "", password: FormText = "",
          csrf_token: FormText = "", next: FormText = "") -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if cookie is None or not service.csrf_matches(cookie, csrf_token):
        return _login_page(request, next_path=next, username=username, error="csrf", status_code=403)
    hours = runtime.settings.session_hours
    try:
        if "\x00" in username:  # no username holds NUL, and PostgreSQL cannot even compare one
            raise InvalidCredentials()
        opened = service.open_session(runtime.uow(), username=username, password=password, hours=hours)
    except InvalidCredentials:
        return _login_page(request, next_path=next, username=username.replace("\x00", ""), error="credentials",
                           status_code=401)
    response = RedirectResponse(local_console_path(next) or home_path(opened.principal.permissions),
                                status_code=303)
    response.set_cookie(SESSION_COOKIE, opened.secret, max_age=hours * 3600, path="/", httponly=True,
                        samesite="lax", secure=runtime.settings.secure_cookies)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/logout")
def logout(request: Request, runtime: RuntimeDep,
           # Every role holds tokens.own: whoever is signed in may sign out (a 3PL account reads no orders).
           _: Annotated[Principal, Depends(require_console(Permission.TOKENS_OWN))]) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        service.close_session(runtime.uow(), secret)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
