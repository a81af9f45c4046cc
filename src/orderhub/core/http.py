"""HTTP plumbing shared by every router: request ids and logs, body limits, the one error shape."""

from __future__ import annotations

import random
import re
import time
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderhub.core.errors import NotFound, OrderHubError
from orderhub.core.logging import log


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


class BodyTooLarge(OrderHubError):
    code, status = "request.too_large", 413


class InputGuardMiddleware:
    """Refuse bodies over the limit before they are read into memory (413), whatever Content-Length says,
    and URLs carrying NUL characters, which no database column can hold (400). Upload routes (paths matching
    `upload_paths`) may carry up to `upload_max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int, *, upload_paths: re.Pattern[str] | None = None,
                 upload_max_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_paths = upload_paths
        self.upload_max_bytes = upload_max_bytes

    def _limit(self, path: str) -> int:
        if self.upload_paths is not None and self.upload_paths.match(path):
            return max(self.max_bytes, self.upload_max_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            await self._respond(send, 400, "request.invalid_characters",
                                "NUL characters are not allowed in URLs / 网址中不能含有空字符")
            return
        limit = self._limit(scope.get("path", ""))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(f"request body over {limit} bytes / 请求体过大")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        await self._respond(send, 413, "request.too_large", f"request body over {limit} bytes / 请求体过大")

    @staticmethod
    async def _respond(send: Send, status: int, code: str, message: str) -> None:
        await JSONResponse(error_body(code, message), status_code=status)({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


def install_error_handlers(app: FastAPI) -> None:
    def for_person(request: Request) -> bool:
        path = request.url.path
        return path == "/console" or path.startswith("/console/")

    def console_error(request: Request, exc: OrderHubError) -> Response:
        # Imported here: the shared kernel must not depend on the console package when it is imported.
        from orderhub.web.htmx import console_error

        return console_error(request, exc)

    @app.exception_handler(OrderHubError)
    async def _domain_error(request: Request, exc: OrderHubError) -> Response:
        if for_person(request):
            return console_error(request, exc)
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            message = "the body is not valid JSON / 请求体不是合法的 JSON"
            return JSONResponse(error_body("request.malformed_json", message), status_code=400)
        details = [{"field": _field_path(tuple(e.get("loc", ()))), "rule": e.get("type", "invalid"),
                    "message": e.get("msg", "")} for e in errors]
        return JSONResponse(error_body("request.invalid", f"{len(details)} invalid field(s) / 请求字段有误", details),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and for_person(request):
            return console_error(request, NotFound("no such page / 页面不存在"))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = structlog.contextvars.get_contextvars().get("request_id", "")
        log.exception("unhandled_error", path=request.url.path)
        return JSONResponse(
            error_body("internal", f"internal error; quote request id {request_id} / 服务器内部错误"),
            status_code=500, headers={"X-Request-ID": request_id},
        )


class RequestLogMiddleware:
    """Give each request an id (the caller's `X-Request-ID` or a new one), echo it, and log the request.

    A plain ASGI middleware: Starlette's `@app.middleware("http")` wraps every request in extra tasks
    and streams, which cost more than the push endpoint's own work.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id")
        # 64 random bits tell requests apart in the log; `uuid4` would read os.urandom, which lets go of the
        # GIL and, under load, waits to get it back.
        request_id = given.decode("latin-1")[:64] if given else f"{random.getrandbits(64):016x}"
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            log.info("request", request_id=request_id, method=scope["method"], path=scope["path"], status=status,
                     ms=round((time.perf_counter() - started) * 1000, 1))
