"""The ASGI factory `orderhub serve` hands to uvicorn (each worker process calls it once)."""

import gc

from fastapi import FastAPI

from orderhub.app import create_app
from orderhub.core.settings import get_settings
from orderhub.runtime import build_runtime


def create() -> FastAPI:
    app = create_app(build_runtime(get_settings()))
    # What exists now (modules, metadata, mappings, templates) lives as long as the process: moved out
    # of the cyclic collector's reach, so its full collections no longer scan it (measured under push
    # load: GC time a third, the longest pause 6 ms instead of 106 ms).
    gc.freeze()
    return app
