"""Health checks an operator runs before trusting a deployment (`orderhub doctor`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from orderhub.core.clock import Clock
from orderhub.core.migrate import current_revision, head_revision

# Beyond this, app and database disagree about "now": orders would be stamped in the wrong day.
MAX_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str


def database_now(engine: Engine) -> datetime:
    """The database server's current time, as UTC-aware."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            value = connection.execute(text("SELECT now()")).scalar_one()
        else:
            raw = connection.execute(text("SELECT strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')")).scalar_one()
            value = datetime.fromisoformat(raw)
    assert isinstance(value, datetime)
    return value


def check_clock(db_now: datetime, app_now: datetime) -> Check:
    skew = db_now - app_now
    hours = skew.total_seconds() / 3600
    if abs(skew) <= MAX_SKEW:
        return Check("clock", True, f"app and database agree (skew {skew.total_seconds():+.1f} s)")
    whole_hours = round(hours)
    if whole_hours != 0 and abs(hours - whole_hours) < 0.05:
        return Check(
            "clock",
            False,
            f"database clock is {whole_hours:+d} h from the app's: a timezone is misconfigured (a server or "
            f"session treating local time as UTC, e.g. Asia/Shanghai vs UTC). Set both to the same zone and "
            f"store UTC. / 数据库与应用时钟相差 {whole_hours:+d} 小时：时区配置错误",
        )
    return Check(
        "clock",
        False,
        f"database clock is {skew.total_seconds():+.0f} s from the app's; sync NTP / 数据库与应用时钟不同步",
    )


def run_checks(engine: Engine, clock: Clock) -> list[Check]:
    checks: list[Check] = []
    try:
        db_now = database_now(engine)
    except SQLAlchemyError as exc:
        return [
            Check(
                "database",
                False,
                f"cannot reach {engine.url.render_as_string()}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
            )
        ]
    checks.append(Check("database", True, f"{engine.dialect.name} reachable at {engine.url.render_as_string()}"))
    current, head = current_revision(engine), head_revision()
    if current == head:
        checks.append(Check("migrations", True, f"schema at head ({head})"))
    else:
        checks.append(
            Check("migrations", False, f"schema at {current or 'nothing'}, code expects {head}: run `orderhub migrate`")
        )
    checks.append(check_clock(db_now, clock.now()))
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            zone = connection.execute(text("SHOW TIME ZONE")).scalar_one()
        checks.append(
            Check(
                "db_timezone",
                True,
                f"database session timezone {zone}; OrderHub stores UTC (timestamptz) so this only affects ad-hoc SQL",
            )
        )
    return checks
