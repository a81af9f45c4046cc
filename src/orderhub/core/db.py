"""Database engine, declarative base, column types and the unit of work.

SQLite (one small shop) and PostgreSQL (production) run the same models and migrations.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from types import TracebackType
from typing import Any

import orjson
import psycopg
import simplejson
from psycopg.types.json import Jsonb
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Engine,
    Insert,
    Integer,
    MetaData,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

from orderhub.core.clock import Clock, system_clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

READ_ONLY = "orderhub_read_only"
_PG = postgresql.dialect()

# SQLite only auto-increments an `INTEGER PRIMARY KEY`; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer, "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware; naive input is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store UTC-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE below takes effect.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes fails at once under WAL when another
        # writer got in first; taking the write lock up front makes writers queue instead. Read-only
        # sessions begin deferred, so readers never wait for writers (WAL snapshots).
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _dump_json(value: Any) -> str:
    # Platform payloads hold amounts as Decimal (never float): written as the exact number they are.
    # orjson refuses integers past 64 bits; simplejson writes any integer exactly.
    try:
        return orjson.dumps(value, default=_exact_decimal, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return simplejson.dumps(value, use_decimal=True)


def _exact_decimal(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON")


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("json_serializer", _dump_json)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No ping before each checkout: it is a round trip per transaction. A connection PostgreSQL dropped
    # fails its first statement instead, and SQLAlchemy then discards every pooled connection.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 3600)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def insert_ignoring_conflicts(session: Session, table: Table) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING` in the session's dialect: the database arbitrates races."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def insert_new_rows(session: Session, table: Table, rows: list[dict[str, Any]], *, key: str) -> dict[Any, int]:
    """Insert `rows`, skipping any that hit a unique constraint; `{row[key]: id}` of those inserted.

    On PostgreSQL the ids are drawn from the table's sequence in one round trip and the rows go as
    one pipelined executemany, then one `= ANY` query tells which landed. A multi-row
    `INSERT … RETURNING` costs more than the insert itself there: psycopg parses its tens of
    thousands of placeholders anew for every batch. `key` must be unique among `rows`.
    """
    if not rows:
        return {}
    if session.get_bind().dialect.name != "postgresql":
        statement = insert_ignoring_conflicts(session, table).returning(table.c.id, table.c[key])
        return {row_key: row_id for row_id, row_key in session.execute(statement, rows)}
    ids = _draw_ids(session, table, len(rows))
    session.execute(
        insert_ignoring_conflicts(session, table), [row | {"id": id_} for row, id_ in zip(rows, ids, strict=True)]
    )
    landed = set(session.scalars(select(table.c.id).where(one_of(session, table.c.id, ids))))
    return {row[key]: id_ for row, id_ in zip(rows, ids, strict=True) if id_ in landed}


def _draw_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` new ids from the table's PostgreSQL sequence, in one round trip."""
    return list(session.scalars(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
        {"table": table.name, "count": count},
    ))


def add_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows that cannot conflict (lines, timeline, outbox): `COPY` on PostgreSQL.

    COPY streams the rows with the driver's C adapters; an executemany INSERT costs several times
    more per row in Python, which dominates a bulk import.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type.dialect_impl(_PG), JSON)}
    cursor = session.connection().connection.driver_connection.cursor()
    names = ", ".join(f'"{name}"' for name in columns)
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(
                [Jsonb(row[name], dumps=_dump_json) if name in json_columns and row[name] is not None else row[name]
                 for name in columns]
            )


def add_rows_with_ids(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """`add_rows` for rows other rows will point at: their new ids, in the order of `rows`.

    On PostgreSQL the ids are drawn from the table's sequence in one round trip and the rows go by
    COPY; elsewhere one executemany `INSERT … RETURNING`, kept in parameter order.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(session.scalars(statement, rows))
    ids = _draw_ids(session, table, len(rows))
    add_rows(session, table, [row | {"id": id_} for row, id_ in zip(rows, ids, strict=True)])
    return ids


def insert_json_rows(session: Session, table: Table, rows: list[dict[str, Any]], *,
                     returning: Sequence[str]) -> list[tuple[Any, ...]]:
    """PostgreSQL: insert `rows` (same keys each) skipping any that hit a unique key; the `returning`
    columns of the rows inserted.

    For a few rows at a time (a batch of pushes). They travel as one JSON document unpacked by
    `json_populate_recordset`: one statement of fixed text, which psycopg prepares once, written by
    orjson in C. A multi-row `INSERT … VALUES` has psycopg parse its placeholders anew every time (too
    long for its cache); COPY cannot skip conflicts. JSON columns' values go as their JSON text.
    """
    if not rows:
        return []
    statement = _json_insert_sql(table.name, tuple(rows[0]), tuple(returning))
    return [tuple(row) for row in session.connection().exec_driver_sql(statement, (_rows_document(table, rows),))]


def _rows_document(table: Table, rows: list[dict[str, Any]]) -> str:
    """Rows (same keys each) as one JSON document for `json_populate_recordset`."""
    json_columns = [name for name in rows[0] if isinstance(table.c[name].type.dialect_impl(_PG), JSON)]
    if json_columns:
        rows = [row | {name: _json_fragment(row[name]) for name in json_columns} for row in rows]
    return orjson.dumps(rows, default=_exact_decimal).decode()


def _json_fragment(value: Any) -> Any:
    """A JSON column's value as its JSON text, embedded as it is (integers past 64 bits included)."""
    return value if value is None or isinstance(value, orjson.Fragment) else orjson.Fragment(_dump_json(value))


@cache
def _json_insert_sql(table: str, columns: tuple[str, ...], returning: tuple[str, ...]) -> str:
    names = ", ".join(f'"{name}"' for name in columns)
    returned = ", ".join(f'"{name}"' for name in returning)
    # Names from the table's metadata, never from input.
    return (f'INSERT INTO "{table}" ({names}) SELECT {names} FROM json_populate_recordset(NULL::"{table}", %s) '  # noqa: S608
            f"ON CONFLICT DO NOTHING RETURNING {returned}")


def add_json_rows(session: Session, batches: Sequence[tuple[Table, list[dict[str, Any]]]]) -> None:
    """`add_rows` for a few rows of several tables (those of a batch of pushes): on PostgreSQL one
    statement for all of them, each table's rows one JSON document (as `insert_json_rows`).

    A COPY costs two round trips and the driver's copy machinery per table, several times the work
    of a handful of rows; here the tables share one round trip, and the statement's text is fixed
    for a set of tables and columns, so psycopg prepares it once.
    """
    batches = [(table, rows) for table, rows in batches if rows]
    if not batches:
        return
    if session.get_bind().dialect.name != "postgresql":
        for table, rows in batches:
            session.execute(insert(table), rows)
        return
    documents = tuple(_rows_document(table, rows) for table, rows in batches)
    statement = _json_add_sql(tuple((table.name, tuple(rows[0])) for table, rows in batches))
    session.connection().exec_driver_sql(statement, documents)


@cache
def _json_add_sql(tables: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    inserts = []
    for table, columns in tables:
        names = ", ".join(f'"{name}"' for name in columns)
        # Names from the tables' metadata, never from input.
        inserts.append(f'INSERT INTO "{table}" ({names}) SELECT {names} '  # noqa: S608
                       f'FROM json_populate_recordset(NULL::"{table}", %s)')
    *first, last = inserts
    if not first:
        return last
    return "WITH " + ", ".join(f"added_{number} AS ({sql})" for number, sql in enumerate(first)) + " " + last


def update_rows(session: Session, changes: Sequence[tuple[Base, dict[str, Any]]]) -> None:
    """Write column changes of loaded, row-locked objects of one table: one executemany per set of columns.

    The unit of work is bypassed (its per-object flush costs more than the UPDATE in a batch of
    thousands) but not its rules: a versioned row (`version_id_col`) changes only if its version is
    still the one loaded, and the version goes up by one (else StaleDataError, as a flush raises);
    the objects then hold the new values as if loaded again. The caller locked the rows (`FOR
    UPDATE`), so values computed from them are still true.
    """
    if not changes:
        return
    table = type(changes[0][0]).__table__
    keys = [column.name for column in table.primary_key]
    versioned = inspect(type(changes[0][0])).version_id_col
    version = versioned.name if versioned is not None else None
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row, values in changes:
        loaded = {f"row_{key}": getattr(row, key) for key in [*keys, *([version] if version else [])]}
        by_columns.setdefault(tuple(sorted(values)), []).append(loaded | values)
    for params in by_columns.values():
        statement = update(table).where(*(table.c[key] == bindparam(f"row_{key}") for key in keys))
        if version is None:
            session.execute(statement, params)
            continue
        statement = (statement.where(table.c[version] == bindparam(f"row_{version}"))
                     .values({version: table.c[version] + 1}))
        if session.execute(statement, params).rowcount != len(params):
            raise StaleDataError(f"a {table.name} row changed while it was locked for a bulk update")
    for row, values in changes:
        for name, value in values.items():
            set_committed_value(row, name, value)
        if version is not None:
            set_committed_value(row, version, getattr(row, version) + 1)


def psycopg_connection(session: Session) -> psycopg.Connection[Any]:
    """The session's own psycopg connection, in its transaction (PostgreSQL), after a flush so that no
    pending change is overtaken: for statements run for every order, where SQLAlchemy's execution
    (statement cache, parameter and result wrapping) costs several times psycopg's own."""
    session.flush()
    connection: psycopg.Connection[Any] = session.connection().connection.driver_connection
    return connection


Statement = tuple[str, Mapping[str, Any]]  # SQL in psycopg's `%(name)s` style, and its parameters


def send_together(session: Session, statements: Sequence[Statement], *, commit: bool = False) -> tuple[Any, ...] | None:
    """Run `statements` (then COMMIT, if asked) in the session's transaction in one round trip, a psycopg
    pipeline; the first row of the last statement. PostgreSQL only."""
    if session.get_bind().dialect.name != "postgresql":
        raise RuntimeError("send_together sends psycopg statements: PostgreSQL only")
    connection = psycopg_connection(session)
    with connection.pipeline():  # one Sync, as the block ends, for them all
        cursors = [connection.execute(sql, params) for sql, params in statements]
        if commit:
            connection.execute("COMMIT")
    return cursors[-1].fetchone()


def one_of(session: Session, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL as `= ANY(array)`: one parameter, not one per value."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


class UnitOfWork:
    """One business transaction: everything inside `with uow:` commits together or not at all.

    Leaving the block without `commit()` rolls back, so a service that raises changes nothing.
    """

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._session

    def __enter__(self) -> UnitOfWork:
        if self._session is not None:
            raise RuntimeError("unit of work is not re-entrant")
        self._session = self.session_factory()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self.session
        try:
            session.rollback()
        finally:
            session.close()
            self._session = None

    def commit(self) -> None:
        self.session.commit()

    def commit_with(self, *statements: Statement) -> tuple[Any, ...] | None:
        """Run `statements` as the transaction's last ones and commit; the first row of the last one.

        PostgreSQL only. The statements and the COMMIT leave in one round trip (`send_together`), so a
        row lock they take is held for the statements and the commit alone, not also for a round trip
        and the client's Python in between: what everyone waits on when the row is a hot SKU.
        """
        row = send_together(self.session, statements, commit=True)
        self.session.commit()  # the database has committed; this ends the session's side of the transaction
        return row

    def now(self) -> datetime:
        return self.clock.now()


@contextmanager
def read_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for queries only; it never commits.

    Closing (rather than rolling back) keeps loaded objects readable after the block; the pool
    still ends the database transaction when it takes the connection back.
    """
    session = session_factory()
    session.connection(execution_options={READ_ONLY: True})
    try:
        yield session
    finally:
        session.close()
