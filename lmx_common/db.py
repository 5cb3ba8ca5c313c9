"""Async SQLAlchemy engine and the one-session-per-request unit of work."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Table, TypeDecorator, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from starlette.requests import Request

from lmx_common.metrics import watch_pool
from lmx_common.telemetry import instrument_engine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


SQLITE_FILE_MODE = 0o600  # personal data: readable and writable by the owner only
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_sqlite_file(url: str) -> Path | None:
    """Make a SQLite database file (and its WAL, shared-memory and journal files) its owner's alone.

    SQLite creates a missing file on first connect with the process umask (world-readable under
    the usual 022), and its side files copy the database file's mode: so the file is created here
    first with 0600, whatever the umask, and an existing one is narrowed to 0600. A missing parent
    directory is created 0700. Returns the file's path; None for other databases and in-memory ones.
    """
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # not ours or read-only: SQLite reports it on connect
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, SQLITE_FILE_MODE))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            file.chmod(SQLITE_FILE_MODE)
    return path


def create_engine(url: str, **overrides: Any) -> AsyncEngine:
    """An async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg) with sane defaults.

    A SQLite file is created (or narrowed to) mode 0600 before the first connection.
    """
    private_sqlite_file(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        kwargs.update(pool_size=10, max_overflow=10, pool_recycle=1800)
    kwargs.update(overrides)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """Owns an engine and its session factory; created in an app's lifespan."""

    def __init__(self, url: str, *, name: str | None = None, **overrides: Any) -> None:
        """``name``: the database's label in the metrics (default: the database's name in the URL)."""
        self.url = url
        self.engine = create_engine(url, **overrides)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # The pool's use in the metrics, a span per statement when tracing is on (ADR 0029).
        watch_pool(name or Path(make_url(url).database or "memory").stem, self.engine)
        instrument_engine(self.engine)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: commit when the handler returns, roll back when it raises.

    Used with ``Depends(..., scope="function")`` so the commit happens before the response is
    sent: a client never sees a 2xx for a change that did not commit.
    """
    database: Database = request.app.state.database
    async with database.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


class UtcDateTime(TypeDecorator[datetime]):
    """The one timestamp column type: stored in UTC, always read back timezone-aware.

    Policy: a naive datetime is refused (``ValueError``) rather than assumed to be UTC, because a
    naive value is a bug at its source (``datetime.now()`` instead of ``datetime.now(UTC)``) and
    guessing its zone would store a wrong instant silently. Aware values are converted to UTC;
    values read back are UTC with an offset on every backend (SQLite drops the zone, so a naive
    value read from it is UTC by construction).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Below this many rows a plain INSERT costs no more than COPY's extra protocol steps.
COPY_THRESHOLD = 50


async def insert_rows(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert many rows (value tuples in ``columns`` order) in the session's transaction.

    On PostgreSQL (asyncpg) from ``COPY_THRESHOLD`` rows on this is ``COPY ... FROM STDIN (FORMAT
    binary)``: no SQL per row, no SQLAlchemy parameter processing per value. Elsewhere it is SQLAlchemy's
    executemany (insertmanyvalues). COPY skips the column types' bind processing, so values must
    already be what the driver stores: timezone-aware datetimes, dicts and lists for JSON columns (they
    are serialised here with ``json.dumps``, as SQLAlchemy's JSON type does). A violated constraint
    raises :class:`sqlalchemy.exc.IntegrityError` on both paths; the transaction is then unusable and
    must be rolled back, as after any failed statement on PostgreSQL.
    """
    if not rows:
        return
    connection = await session.connection()
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "asyncpg" or len(rows) < COPY_THRESHOLD:
        await session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    import asyncpg  # type: ignore[import-untyped]

    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg.Connection
    if not driver.is_in_transaction():  # SQLAlchemy begins lazily, on the first statement
        await connection.exec_driver_sql("SELECT 1")
    json_columns = {
        i: bool(getattr(table.c[name].type, "none_as_null", False))
        for i, name in enumerate(columns)
        if isinstance(table.c[name].type, JSON)
    }
    if json_columns:
        # None is SQL NULL in a JSON(none_as_null=True) column, as SQLAlchemy stores it; JSON null elsewhere.
        rows = [
            tuple(
                value if i not in json_columns or (value is None and json_columns[i]) else json.dumps(value)
                for i, value in enumerate(row)
            )
            for row in rows
        ]
    try:
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns), schema_name=table.schema)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(f"COPY {table.name}", None, exc) from exc
