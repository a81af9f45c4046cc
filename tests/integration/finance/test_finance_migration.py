"""The finance tables the migration creates are the ones the models declare (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from orderhub.finance import model
from orderhub.models import metadata

FINANCE_TABLES = {table.name for table in metadata.sorted_tables if table.name in {
    cls.__tablename__ for cls in (model.StatementFile, model.StatementLine, model.Receivable,
                                  model.ReceivableAdjustment, model.ReconRun, model.LineResult, model.Discrepancy,
                                  model.DiscrepancyEvent)}}


def _table_of(change: object) -> str | None:
    """The table a schema difference is about (alembic reports tuples, or lists of tuples for columns)."""
    item = change[0] if isinstance(change, list) else change
    assert isinstance(item, tuple)
    for part in item[1:]:
        name = getattr(part, "name", None) if not isinstance(part, str) else None
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if name and name in FINANCE_TABLES:
            return str(name)
    return str(item[2]) if len(item) > 2 and isinstance(item[2], str) else None


def test_the_finance_migration_matches_the_finance_models(engine: Engine) -> None:
    assert len(FINANCE_TABLES) == 8
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        changes = compare_metadata(context, metadata)
    assert [change for change in changes if _table_of(change) in FINANCE_TABLES] == []
