"""deploy/postgres-init.sql on a real PostgreSQL: the owner migrates, each component's role works with
the rows of its own database and can do nothing else (ADR 0032).

The script runs with psql as written, only with the role and database names prefixed for this run, so
that it cannot meet the names of a real deployment on the same server.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from lmx_cli.reference import load_all
from lmx_common.migrations import upgrade
from tests.conftest import IN_CI, POSTGRES_URL, require_postgres

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("gateway", "registry", "certification", "housing")
pytestmark = pytest.mark.postgres


def renamed(sql: str, prefix: str) -> str:
    sql = re.sub(r"\blmx_(owner|gateway|registry|certification|housing)\b", rf"{prefix}_lmx_\1", sql)
    return re.sub(r"\b(gateway|registry|certification|housing)\b", rf"{prefix}_\1", sql)


def url(role: str, database: str) -> str:
    server = make_url(POSTGRES_URL)
    return f"postgresql://{role}:pw@{server.host}:{server.port or 5432}/{database}"


async def admin(statements: list[str]) -> None:
    connection = await asyncpg.connect(url(make_url(POSTGRES_URL).username or "postgres", "postgres"))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def check_role(prefix: str, component: str) -> None:
    role, database = f"{prefix}_lmx_{component}", f"{prefix}_{component}"
    connection = await asyncpg.connect(url(role, database))
    try:
        tables = [
            r["tablename"]
            for r in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        assert "alembic_version" in tables and len(tables) > 1
        for table in tables:
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                assert await connection.fetchval("SELECT has_table_privilege($1, $2)", table, privilege), (
                    table,
                    privilege,
                )
            owner = await connection.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = $1", table)
            assert owner == f"{prefix}_lmx_owner"
        for sequence in await connection.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"):
            assert await connection.fetchval("SELECT has_sequence_privilege($1, 'USAGE')", sequence["sequencename"])
        assert await connection.fetchval("SELECT count(*) FROM alembic_version") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CREATE TABLE intruder (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CREATE TEMPORARY TABLE intruder (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("DROP TABLE alembic_version")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(f"ALTER TABLE {tables[0]} ADD COLUMN intruder int")
    finally:
        await connection.close()
    for other in COMPONENTS:
        if other != component:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await asyncpg.connect(url(role, f"{prefix}_{other}"))


def test_owner_migrates_and_each_component_role_has_rows_of_its_own_database_only() -> None:
    require_postgres()
    psql = shutil.which("psql")
    if psql is None:
        if IN_CI:
            pytest.fail("psql (PostgreSQL's client) is required under CI=true")
        pytest.skip("psql (PostgreSQL's client) is not installed")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    server = make_url(POSTGRES_URL)
    script = renamed((ROOT / "deploy" / "postgres-init.sql").read_text(encoding="utf-8"), prefix)
    passwords = [f"-v{name}_password=pw" for name in ("owner", *COMPONENTS)]
    try:
        done = subprocess.run(
            [
                psql,
                "-X",
                "-q",
                "-h",
                str(server.host),
                "-p",
                str(server.port or 5432),
                "-U",
                str(server.username),
                "-d",
                "postgres",
                *passwords,
                "-f",
                "-",
            ],
            input=script,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        owner_urls = {
            c: url(f"{prefix}_lmx_owner", f"{prefix}_{c}").replace("postgresql://", "postgresql+asyncpg://")
            for c in COMPONENTS
        }
        for component, owner_url in owner_urls.items():
            upgrade(component, owner_url)  # the migrations, as the owner
        asyncio.run(load_all(owner_urls))
        for component in COMPONENTS:
            asyncio.run(check_role(prefix, component))
    finally:
        asyncio.run(
            admin(
                [f'DROP DATABASE IF EXISTS "{prefix}_{c}" WITH (FORCE)' for c in COMPONENTS]
                + [f'DROP ROLE IF EXISTS "{prefix}_lmx_{r}"' for r in (*COMPONENTS, "owner")]
            )
        )
