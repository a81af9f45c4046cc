"""Local simulators of the sales platforms' open APIs and pushes (see docs/channels/platforms.md).

    state = SimulatorState(sku_codes=["SKU-001", "SKU-002"], seed=7)
    shop = state.add_shop("douyin", "dy-live", orders=200)
    with start_platform_simulator(state) as running:
        credentials = shop.credentials(running.base_url)   # for orderhub.channels.platforms.client_for
        state.advance(new_orders=5)
        state.push_pending("http://127.0.0.1:8000", httpx.Client())
"""

from orderhub.simulators.platforms.app import create_platform_simulator
from orderhub.simulators.platforms.model import Faults, OutgoingPush, PushDelivery, SimulatedShop, Stage, WriteBack
from orderhub.simulators.platforms.runner import RunningSimulator, run_platform_simulator, start_platform_simulator
from orderhub.simulators.platforms.state import SimulatorState

__all__ = [
    "Faults",
    "OutgoingPush",
    "PushDelivery",
    "RunningSimulator",
    "SimulatedShop",
    "SimulatorState",
    "Stage",
    "WriteBack",
    "create_platform_simulator",
    "run_platform_simulator",
    "start_platform_simulator",
]
