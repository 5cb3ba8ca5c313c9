"""The registry's database file keeps nothing of what it erases: SQLite's secure_delete overwrites
deleted and updated content with zeros (PostgreSQL: docs/operations.md, "Erased data")."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from lmx_common.db import Database


def _secure_delete(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def secure_delete(database: Database) -> None:
    """Every new SQLite connection of this database with secure_delete on; call before the first
    connection (at start-up). Nothing for PostgreSQL."""
    if database.engine.dialect.name == "sqlite":
        event.listen(database.engine.sync_engine, "connect", _secure_delete)
