"""Every migration chain builds exactly the tables and columns its models declare, goes down to nothing,
and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import inspect, text

from lmx_common.db import create_engine
from lmx_common.migrations import DATABASES, downgrade, upgrade
from tests.conftest import (
    create_postgres_databases,
    drop_postgres_databases,
    require_postgres,
)


def model_schema(name: str) -> dict[str, set[str]]:
    """Tables and columns as the component's SQLAlchemy models declare them."""
    import importlib

    module = importlib.import_module("gateway.models" if name == "gateway" else f"services.{name}.models")
    return {t.name: {c.name for c in t.columns} for t in module.Base.metadata.tables.values()}


def tables(url: str) -> dict[str, set[str]]:
    """Tables and their columns as the migrations made them."""

    def read_schema(connection) -> dict[str, set[str]]:
        inspector = inspect(connection)
        return {
            t: {c["name"] for c in inspector.get_columns(t)}
            for t in inspector.get_table_names()
            if t != "alembic_version"
        }

    async def read() -> dict[str, set[str]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(read_schema)
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_urls(request, tmp_path):
    if request.param == "sqlite":
        yield {name: f"sqlite+aiosqlite:///{tmp_path}/{name}.db" for name in DATABASES}
        return
    require_postgres()
    urls = create_postgres_databases(f"lmx_mig_{uuid.uuid4().hex[:8]}")
    try:
        yield urls
    finally:
        drop_postgres_databases(urls)


@pytest.mark.parametrize("name", DATABASES)
def test_chain_upgrades_downgrades_and_upgrades_again(fresh_urls, name):
    url = fresh_urls[name]
    upgrade(name, url)
    expected = model_schema(name)
    assert tables(url) == expected  # the migrations build exactly what the models declare
    assert expected
    downgrade(name, url)
    assert tables(url) == {}
    upgrade(name, url)
    assert tables(url) == expected


def test_existing_abuse_reports_get_random_record_keys(fresh_urls):
    """ce0401 backfills a record key for every report filed before it (the summary's cell keys need one)."""
    url = fresh_urls["certification"]
    upgrade("certification", url, "ct0005")
    ids = [str(uuid.uuid4()) for _ in range(1205)]  # more than one backfill batch

    async def fill() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO reports (id, municipality_code, category, description, observed_on, status,"
                        " reporter_oin, reporter_client_id, reporter_type, created_at, updated_at, version)"
                        " VALUES (:id, 'GM1655', 'other', 'x', '2026-11-01', 'received', '1', 'c', 'municipality',"
                        " '2026-11-01T00:00:00+00:00', '2026-11-01T00:00:00+00:00', 1)"
                    ),
                    [{"id": i} for i in ids],
                )
        finally:
            await engine.dispose()

    async def keys() -> list[int | None]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return [row[0] for row in await conn.execute(text("SELECT record_key FROM reports"))]
        finally:
            await engine.dispose()

    asyncio.run(fill())
    upgrade("certification", url)
    found = asyncio.run(keys())
    assert len(found) == len(ids) and all(k is not None and 0 <= k < 2**32 for k in found)
    assert len(set(found)) > len(ids) - 3  # random 32-bit keys: collisions are all but impossible
