"""Secrets and personal data stay their owner's: the start banner shows no client secret, and
SQLite database files are created (or narrowed to) mode 0600 whatever the umask."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmx_cli.stack import _banner
from lmx_common.db import Database, private_sqlite_file

SECRET = "demo-secret-Zx81-do-not-print"


def test_the_start_banner_shows_how_to_get_a_token_not_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    credentials = {"halderberge": {"clientSecret": SECRET, "organisationType": "municipality"}}
    ports = {"gateway": 8000, "registry": 8001, "certification": 8002, "housing": 8003}
    _banner("http://127.0.0.1:8000", ports, "127.0.0.1", credentials)
    shown = capsys.readouterr()
    assert SECRET not in shown.out + shown.err
    assert "lmx token halderberge" in shown.out
    assert "var/demo-clients.json" in shown.out


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual default: files world-readable
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "fresh.db"

    async def use() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        try:
            async with database.engine.begin() as conn:
                await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
                await conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        finally:
            await database.dispose()

    asyncio.run(use())
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    for side in path.parent.iterdir():  # WAL and shared-memory files copy the database's mode
        assert _mode(side) == 0o600, side


@pytest.mark.usefixtures("open_umask")
def test_an_existing_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.write_bytes(b"")
    path.chmod(0o644)
    assert private_sqlite_file(f"sqlite+aiosqlite:///{path}") == path
    assert _mode(path) == 0o600


def test_other_databases_are_left_alone() -> None:
    assert private_sqlite_file("sqlite+aiosqlite:///:memory:") is None
    assert private_sqlite_file("sqlite+aiosqlite://") is None
    assert private_sqlite_file("postgresql+asyncpg://postgres@127.0.0.1/lmx") is None
