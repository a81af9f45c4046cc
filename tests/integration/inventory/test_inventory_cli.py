"""`orderhub inventory receive` and `orderhub inventory verify` against a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from orderhub.cli import app
from orderhub.core.settings import get_settings
from orderhub.inventory.model import SkuStock
from orderhub.runtime import Runtime


@pytest.fixture
def cli(runtime: Runtime, warehouses: None, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERHUB_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("ORDERHUB_SECRET_KEY", runtime.settings.secret_key or "")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_receive_verify_and_a_tampered_balance(cli: CliRunner, runtime: Runtime) -> None:
    received = cli.invoke(app, ["inventory", "receive", "--sku", "SKU-001", "--warehouse", "HZ", "--qty", "12",
                                "--key", "DN-1"])
    assert received.exit_code == 0 and "on hand 12" in received.output
    again = cli.invoke(app, ["inventory", "receive", "--sku", "SKU-001", "--warehouse", "HZ", "--qty", "12",
                             "--key", "DN-1"])
    assert again.exit_code == 0 and "replayed" in again.output
    refused = cli.invoke(app, ["inventory", "receive", "--sku", "SKU-001", "--warehouse", "XX", "--qty", "1",
                               "--key", "DN-2"])
    assert refused.exit_code == 1 and "XX" in refused.output
    assert cli.invoke(app, ["inventory", "verify"]).exit_code == 0
    with runtime.uow() as uow:
        uow.session.execute(update(SkuStock).values(reserved=SkuStock.reserved + 1))
        uow.commit()
    broken = cli.invoke(app, ["inventory", "verify"])
    assert broken.exit_code == 1 and "SKU-001 reserved: stored 1, expected 0" in broken.output
