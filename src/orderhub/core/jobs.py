"""Periodic background work: APScheduler triggers it, a lease row in the database makes it run once.

Several `orderhub worker` processes may run against one PostgreSQL: each periodic job takes a
lease (one row per job name) before running, so only one process runs it per due time, and a
process killed mid-job leaves a lease that simply expires. The jobs themselves are idempotent
functions owned by their domains (`channels/jobs.py` …); this module only schedules them.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import String, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from orderhub.core.clock import Clock
from orderhub.core.db import Base, UTCDateTime
from orderhub.core.logging import log


class JobLease(Base):
    __tablename__ = "job_lease"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def take_lease(
    session_factory: sessionmaker[Session], *, name: str, holder: str, ttl: timedelta, now: datetime
) -> bool:
    """Take (or renew) the lease `name` until now + ttl; False while another holder's lease is live."""
    with session_factory() as session, session.begin():
        taken = session.execute(
            update(JobLease)
            .where(JobLease.name == name, or_(JobLease.expires_at <= now, JobLease.holder == holder))
            .values(holder=holder, expires_at=now + ttl)
        ).rowcount
        if taken:
            return True
        if session.scalar(select(JobLease.name).where(JobLease.name == name)) is not None:
            return False
    try:
        with session_factory() as session, session.begin():
            session.add(JobLease(name=name, holder=holder, expires_at=now + ttl))
    except IntegrityError:
        return False  # another process created it in between
    return True


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    run: Callable[[], object]


def run_once(job: PeriodicJob, session_factory: sessionmaker[Session], clock: Clock, holder: str) -> bool:
    """Run `job` if this process gets its lease for this due time; errors are logged, never swallowed.

    The lease is kept until just before the next due time, so however many workers tick, the job
    runs once per interval; a worker that dies simply lets it expire.
    """
    if not take_lease(session_factory, name=job.name, holder=holder, ttl=job.every * 0.9, now=clock.now()):
        return False
    try:
        result = job.run()
        log.info("job_done", job=job.name, result=str(result)[:300])
    except Exception:  # noqa: BLE001 - a failing job must not stop the worker; logged with its traceback
        log.exception("job_failed", job=job.name)
    return True


def schedule(scheduler: BaseScheduler, jobs: list[PeriodicJob], session_factory: sessionmaker[Session],
             clock: Clock) -> None:
    """Add each job at its interval (coalesced: a late run is one run, not a burst)."""
    holder = worker_identity()
    for job in jobs:
        scheduler.add_job(run_once, "interval", seconds=job.every.total_seconds(),
                          args=[job, session_factory, clock, holder], id=job.name, next_run_time=clock.now())
    log.info("worker_started", holder=holder, jobs=[job.name for job in jobs])


def run_scheduler(jobs: list[PeriodicJob], session_factory: sessionmaker[Session], clock: Clock) -> None:
    """Block, running the jobs (`orderhub worker`)."""
    scheduler = BlockingScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    schedule(scheduler, jobs, session_factory, clock)
    scheduler.start()


def start_background(jobs: list[PeriodicJob], session_factory: sessionmaker[Session], clock: Clock
                     ) -> BackgroundScheduler:
    """The same jobs on a thread beside the web server (`orderhub demo`: serve + worker in one process)."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    schedule(scheduler, jobs, session_factory, clock)
    scheduler.start()
    return scheduler
