"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL runs create and drop their own database on 127.0.0.1:5432. On a laptop without
PostgreSQL or Chromium those tests skip; with ORDERHUB_TEST_REQUIRE_ALL=1 (CI) a skip is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from orderhub.app import create_app
from orderhub.auth import service as auth
from orderhub.catalog import service as catalog
from orderhub.channels import service as channels
from orderhub.channels.model import Channel
from orderhub.core.clock import FixedClock
from orderhub.core.db import make_engine
from orderhub.core.migrate import upgrade
from orderhub.core.settings import Settings
from orderhub.models import metadata
from orderhub.runtime import Runtime, build_runtime

REQUIRE_ALL = os.environ.get("ORDERHUB_TEST_REQUIRE_ALL") == "1"
TEST_SECRET_KEY = Fernet.generate_key().decode()
PG_ADMIN_URL = os.environ.get("ORDERHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def unavailable(reason: str) -> None:
    """Skip on a bare laptop; fail where the suite must run everything (CI)."""
    if REQUIRE_ALL:
        pytest.fail(f"required test dependency missing: {reason}")
    pytest.skip(reason)


def _postgres_database() -> Iterator[str]:
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    name = f"orderhub_test_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'orderhub.db'}"
        return
    yield from _postgres_database()


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _clean(engine: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    """A migrated database, emptied after each test."""
    yield migrated_engine
    _clean(migrated_engine)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 20, 2, 0, tzinfo=UTC))


@pytest.fixture
def runtime(engine: Engine, clock: FixedClock) -> Runtime:
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False), log_json=False, secret_key=TEST_SECRET_KEY
    )
    return build_runtime(settings, clock=clock, engine=engine)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def merchant(runtime: Runtime) -> None:
    """A small merchant: a phone-order shop, a cross-border shop and a few SKUs."""
    channels.create_shop(runtime.uow(), channel=Channel.PHONE, code="hq", name="总部电话")
    channels.create_shop(runtime.uow(), channel=Channel.MANUAL, code="bonded", name="保税仓", cross_border=True)
    channels.create_shop(runtime.uow(), channel=Channel.DOUYIN, code="dy-flagship", name="抖音旗舰店")
    for code, title, price in [
        ("SKU-001", "保温杯 500ml", 9900),
        ("SKU-002", "茶叶礼盒", 39900),
        ("SKU-003", "不锈钢餐具套装", 12900),
    ]:
        catalog.create_sku(runtime.uow(), code=code, title=title, list_price_fen=price, cost_price_fen=price // 2)


@pytest.fixture
def token_for(runtime: Runtime) -> Callable[[str], str]:
    """Create a user with the role and return an API token for it."""
    made: dict[str, str] = {}

    def make(role: str) -> str:
        if role not in made:
            auth.create_user(runtime.uow(), username=f"{role}-user", password="correct-horse-9", role=role)
            made[role] = auth.create_token(runtime.uow(), username=f"{role}-user", name="tests").secret
        return made[role]

    return make


@pytest.fixture
def auth_headers(token_for: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    return lambda role: {"Authorization": f"Bearer {token_for(role)}"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here / "web"):
            item.add_marker(pytest.mark.browser)
