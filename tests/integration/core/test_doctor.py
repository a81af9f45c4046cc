from datetime import timedelta

from sqlalchemy import Engine

from orderhub.core.clock import FixedClock, system_clock
from orderhub.core.db import make_engine
from orderhub.core.doctor import database_now, run_checks


def test_a_migrated_database_passes_every_check(engine: Engine) -> None:
    checks = run_checks(engine, system_clock)
    assert all(check.ok for check in checks), checks
    assert {"database", "migrations", "clock"} <= {check.name for check in checks}


def test_an_eight_hour_skew_between_app_and_database_fails_with_a_clear_message(engine: Engine) -> None:
    app_clock = FixedClock(database_now(engine) - timedelta(hours=8))
    clock_check = next(c for c in run_checks(engine, app_clock) if c.name == "clock")
    assert not clock_check.ok and "+8 h" in clock_check.message and "timezone" in clock_check.message


def test_an_unmigrated_database_is_reported(tmp_path: object) -> None:
    empty = make_engine(f"sqlite:///{tmp_path}/empty.db")
    migrations = next(c for c in run_checks(empty, system_clock) if c.name == "migrations")
    assert not migrations.ok and "orderhub migrate" in migrations.message


def test_an_unreachable_database_is_reported() -> None:
    nowhere = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", pool_pre_ping=False)
    checks = run_checks(nowhere, system_clock)
    assert [(c.name, c.ok) for c in checks] == [("database", False)]


def test_database_time_is_utc_aware(engine: Engine) -> None:
    now = database_now(engine)
    assert now.tzinfo is not None
    assert abs(now - system_clock.now()) < timedelta(minutes=1)
