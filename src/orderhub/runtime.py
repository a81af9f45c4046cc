"""What a running process shares: settings, the engine, the clock and the merchant's policy."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from orderhub.core.clock import Clock, system_clock
from orderhub.core.db import UnitOfWork, make_engine, make_session_factory, read_session
from orderhub.core.secrets import SecretBox
from orderhub.core.settings import Settings
from orderhub.lookup.guard import LookupGuard
from orderhub.orders.service import OrderPolicy
from orderhub.orders.validation import load_rules


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    policy: OrderPolicy
    secrets: SecretBox
    lookup_guard: LookupGuard

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.clock)

    def reading(self) -> AbstractContextManager[Session]:
        return read_session(self.session_factory)


def build_runtime(settings: Settings, *, clock: Clock = system_clock, engine: Engine | None = None) -> Runtime:
    engine = engine or make_engine(settings.database_url)
    policy = OrderPolicy(
        rules=load_rules(settings.rules_file),
        approval_threshold_fen=settings.approval_threshold_fen,
        timezone=settings.zone,
        reservation_ttl=timedelta(minutes=settings.reservation_ttl_minutes),
    )
    return Runtime(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=clock,
        policy=policy,
        secrets=SecretBox(settings.secret_key, settings.secret_key_file),
        lookup_guard=LookupGuard(storage_uri=settings.lookup_limits_storage,
                                 client_limits=settings.lookup_client_limits,
                                 failure_limits=settings.lookup_failure_limits),
    )
