"""The FastAPI application: API routers, the console, error handlers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from orderhub.aftersales.api import router as aftersales_router
from orderhub.channels.api import router as channels_router
from orderhub.channels.api import writebacks as writebacks_router
from orderhub.core.http import InputGuardMiddleware, RequestLogMiddleware, install_error_handlers
from orderhub.finance.api import router as finance_router
from orderhub.fulfillment.api import PHOTO_UPLOAD_PATH, UPLOAD_OVERHEAD_BYTES
from orderhub.fulfillment.api import portal as portal_router
from orderhub.fulfillment.api import router as fulfillment_router
from orderhub.inventory.api import router as inventory_router
from orderhub.logistics.api import router as logistics_router
from orderhub.lookup.api import router as lookup_router
from orderhub.lookup.pages import router as lookup_pages
from orderhub.orders.api import router as orders_router
from orderhub.runtime import Runtime
from orderhub.web.pages import install_console

STATIC_DIR = Path(__file__).parent / "web" / "static"


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="OrderHub",
        version="0.1.0",
        description="The single source of truth for every order of a multi-channel merchant.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(InputGuardMiddleware, max_bytes=runtime.settings.max_body_bytes,
                       upload_paths=PHOTO_UPLOAD_PATH,
                       upload_max_bytes=runtime.settings.photo_max_bytes + UPLOAD_OVERHEAD_BYTES)
    app.include_router(channels_router)  # first: platform pushes are the busiest path to match
    app.include_router(orders_router)
    app.include_router(writebacks_router)
    app.include_router(inventory_router)
    app.include_router(fulfillment_router)
    app.include_router(portal_router)
    app.include_router(finance_router)
    app.include_router(logistics_router)
    app.include_router(aftersales_router)
    app.include_router(lookup_router)
    app.include_router(lookup_pages)
    install_console(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", tags=["ops"], include_in_schema=True)
    def healthz() -> JSONResponse:
        try:
            with runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any database failure means "not healthy"
            return JSONResponse({"status": "error", "database": str(exc)[:200]}, status_code=503)
        return JSONResponse({"status": "ok", "database": runtime.engine.dialect.name})

    return app
