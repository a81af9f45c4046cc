"""The staff console under /console: each domain's pages, mounted on the app."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import RedirectResponse

from orderhub.aftersales import pages as aftersales_pages
from orderhub.auth import pages as auth_pages
from orderhub.auth.deps import require_console
from orderhub.auth.permissions import Permission
from orderhub.auth.service import Principal
from orderhub.channels import pages as channels_pages
from orderhub.finance import pages as finance_pages
from orderhub.fulfillment import pages as fulfillment_pages
from orderhub.inventory import pages as inventory_pages
from orderhub.logistics import pages as logistics_pages
from orderhub.orders import pages as orders_pages
from orderhub.web.htmx import environments, home_path

home = APIRouter(include_in_schema=False)


@home.get("/console")
def console_home(principal: Annotated[Principal, Depends(require_console(Permission.TOKENS_OWN))]
                 ) -> RedirectResponse:
    """The user's start page (every role holds tokens.own)."""
    return RedirectResponse(home_path(principal.permissions), status_code=303)


def install_console(app: FastAPI) -> None:
    environments()  # read the templates' message catalogs now: a broken .po stops the start, not a request
    app.include_router(home)
    app.include_router(auth_pages.router)
    app.include_router(orders_pages.router)
    app.include_router(channels_pages.router)
    app.include_router(finance_pages.router)
    app.include_router(inventory_pages.router)
    app.include_router(aftersales_pages.router)
    app.include_router(logistics_pages.router)
    app.include_router(fulfillment_pages.router)
