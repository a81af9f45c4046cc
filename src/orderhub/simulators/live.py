"""A living platform world: every few seconds some simulated orders move on, new ones arrive, and the
changes are pushed to OrderHub as the platforms would push them. Used by `orderhub demo` and
`orderhub simulate platforms --push-to …`."""

from __future__ import annotations

import threading

import httpx

from orderhub.core.logging import log
from orderhub.simulators.platforms import SimulatorState


class LiveFeed:
    def __init__(self, state: SimulatorState, *, push_to: str, every: float = 20.0, new_orders: int = 1) -> None:
        self.state = state
        self.push_to = push_to
        self.every = every
        self.new_orders = new_orders
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="platform-live-feed", daemon=True)

    def start(self) -> LiveFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def tick(self, http: httpx.Client) -> int:
        self.state.advance(new_orders=self.new_orders)
        deliveries = self.state.push_pending(self.push_to, http)
        refused = [d for d in deliveries if d.status is None or d.status >= 300]
        if refused:
            log.warning("pushes_refused", count=len(refused), first_status=refused[0].status)
        return len(deliveries)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.wait(self.every):
                try:
                    self.tick(http)
                except httpx.HTTPError as exc:  # OrderHub not up yet, or restarting: the next tick retries
                    log.warning("live_feed_unreachable", error=str(exc))
