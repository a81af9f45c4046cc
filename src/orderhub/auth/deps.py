"""FastAPI dependencies that authenticate a caller and check one permission per route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from orderhub.auth import service
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.core.errors import Forbidden, Unauthenticated
from orderhub.runtime import Runtime

SESSION_COOKIE = "orderhub_session"


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require(permission: Permission) -> Callable[[Request, Runtime], Principal]:
    """An API dependency: a valid bearer token (401 otherwise) whose role has `permission` (403 otherwise)."""

    def dependency(request: Request, runtime: RuntimeDep) -> Principal:
        token = _bearer(request)
        principal = service.principal_for_token(runtime.uow(), token) if token else None
        if principal is None:
            raise Unauthenticated("a valid API token is required (Authorization: Bearer …) / 需要有效的 API 令牌")
        if permission not in principal.permissions:
            raise Forbidden(
                f"role {principal.role.value} lacks permission {permission.value} / 无权限 {permission.value}"
            )
        request.state.principal = principal
        return principal

    dependency.required_permission = permission  # type: ignore[attr-defined]
    return dependency


class ConsoleLoginRequired(Unauthenticated):
    code = "auth.login_required"


class CsrfRejected(Forbidden):
    code = "auth.csrf"


def require_console(permission: Permission) -> Callable[[Request, Runtime], Awaitable[Principal]]:
    """A console dependency: a live session cookie, `permission`, and a CSRF token on every write."""

    async def dependency(request: Request, runtime: RuntimeDep) -> Principal:
        secret = request.cookies.get(SESSION_COOKIE)
        resolved = service.resolve_session(runtime.uow(), secret) if secret else None
        if resolved is None:
            raise ConsoleLoginRequired("please log in / 请先登录")
        principal, csrf_token = resolved
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            given = request.headers.get("x-csrf-token")
            if given is None:
                form = await request.form()
                field = form.get("csrf_token")
                given = field if isinstance(field, str) else None
            if not service.csrf_matches(csrf_token, given):
                raise CsrfRejected("the form expired or came from elsewhere; reload the page / 表单已失效，请刷新页面")
        if permission not in principal.permissions:
            raise Forbidden(f"your role cannot do this ({permission.value}) / 当前角色无此权限")
        request.state.principal = principal
        request.state.csrf_token = csrf_token
        return principal

    dependency.required_permission = permission  # type: ignore[attr-defined]
    return dependency
