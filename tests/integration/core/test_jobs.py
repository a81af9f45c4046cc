"""Periodic jobs run once per due time, however many workers tick (leases in the database)."""

from __future__ import annotations

import threading
from datetime import timedelta

from orderhub.core.clock import FixedClock
from orderhub.core.jobs import PeriodicJob, run_once, take_lease
from orderhub.runtime import Runtime


def test_a_lease_is_held_until_it_expires(runtime: Runtime, clock: FixedClock) -> None:
    factory, now = runtime.session_factory, clock.now()
    assert take_lease(factory, name="job", holder="a", ttl=timedelta(minutes=1), now=now)
    assert not take_lease(factory, name="job", holder="b", ttl=timedelta(minutes=1), now=now)
    assert take_lease(factory, name="job", holder="a", ttl=timedelta(minutes=1), now=now)
    assert take_lease(factory, name="job", holder="b", ttl=timedelta(minutes=1), now=now + timedelta(minutes=2))


def test_many_workers_ticking_at_once_run_the_job_once(runtime: Runtime, clock: FixedClock) -> None:
    runs: list[str] = []
    job = PeriodicJob("count", timedelta(minutes=1), lambda: runs.append("ran"))
    barrier = threading.Barrier(12)

    def tick(holder: str) -> None:
        barrier.wait()
        run_once(job, runtime.session_factory, clock, holder)

    workers = [threading.Thread(target=tick, args=(f"worker-{n}",)) for n in range(12)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert runs == ["ran"]
    clock.advance(timedelta(minutes=1))
    assert run_once(job, runtime.session_factory, clock, "worker-3") and runs == ["ran", "ran"]


def test_a_failing_job_is_logged_and_does_not_stop_the_worker(runtime: Runtime, clock: FixedClock) -> None:
    def explode() -> None:
        raise RuntimeError("platform down")

    assert run_once(PeriodicJob("boom", timedelta(minutes=1), explode), runtime.session_factory, clock, "w")
