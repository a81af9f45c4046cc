"""Running the platform simulators: in the foreground (the CLI) or on a background thread (tests, demo)."""

from __future__ import annotations

import uvicorn

from orderhub.simulators.platforms.app import create_platform_simulator
from orderhub.simulators.platforms.state import SimulatorState
from orderhub.simulators.serving import BackgroundServer


def run_platform_simulator(host: str, port: int, state: SimulatorState) -> None:
    """Serve until interrupted (`orderhub simulate platforms`)."""
    uvicorn.run(create_platform_simulator(state), host=host, port=port, log_level="warning")


class RunningSimulator(BackgroundServer):
    """The simulators serving on a background thread; `base_url` is their root, e.g. http://127.0.0.1:53817."""

    def __init__(self, state: SimulatorState, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_platform_simulator(state), name="platform simulator", host=host, port=port)


def start_platform_simulator(state: SimulatorState, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Start serving on a background thread (port 0: any free port) and return once it accepts calls."""
    return RunningSimulator(state, host, port).start()
