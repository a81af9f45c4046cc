"""Browser tests: Debian's Chromium driven by Playwright, against the real app served by uvicorn."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from orderhub.app import create_app
from orderhub.runtime import Runtime

CHROMIUM = Path("/usr/bin/chromium")
# --lang makes Chromium's own widgets (date pickers) speak the console's default language.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--lang=zh-CN"]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Skip on a laptop without Chromium; fail where everything must run (ORDERHUB_TEST_REQUIRE_ALL=1, CI)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} missing (apt-get install -y chromium fonts-noto-cjk)"
        if os.environ.get("ORDERHUB_TEST_REQUIRE_ALL") == "1":
            pytest.fail(f"required test dependency missing: {reason}")
        pytest.skip(reason)
    return str(CHROMIUM)


@pytest.fixture
def live_console(runtime: Runtime) -> Iterator[str]:
    """The app on a free 127.0.0.1 port, served from a background thread for the test's duration."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the console server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()


@pytest.fixture
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
