"""Running the platform simulators: in the foreground (the CLI) or on a background thread (tests, demo)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from orderhub.simulators.platforms.app import create_platform_simulator
from orderhub.simulators.platforms.state import SimulatorState


def run_platform_simulator(host: str, port: int, state: SimulatorState) -> None:
    """Serve until interrupted (`orderhub simulate platforms`)."""
    uvicorn.run(create_platform_simulator(state), host=host, port=port, log_level="warning")


class RunningSimulator:
    """The simulators serving on a background thread; `base_url` is their root, e.g. http://127.0.0.1:53817."""

    def __init__(self, state: SimulatorState, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(create_platform_simulator(state), host=host, port=port, log_level="warning",
                                lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="platform-simulator", daemon=True)
        self.base_url = ""

    def start(self, timeout: float = 10.0) -> RunningSimulator:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the platform simulator did not start")
            time.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.base_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self.start() if not self.base_url else self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def start_platform_simulator(state: SimulatorState, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Start serving on a background thread (port 0: any free port) and return once it accepts calls."""
    return RunningSimulator(state, host, port).start()
