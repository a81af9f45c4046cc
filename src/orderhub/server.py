"""The ASGI factory `orderhub serve` hands to uvicorn (each worker process calls it once)."""

from fastapi import FastAPI

from orderhub.app import create_app
from orderhub.core.settings import get_settings
from orderhub.runtime import build_runtime


def create() -> FastAPI:
    return create_app(build_runtime(get_settings()))
