"""Every migration chain goes up, down to nothing, and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import inspect

from lmx_common.db import create_engine
from lmx_common.migrations import DATABASES, downgrade, upgrade
from tests.conftest import IN_CI, create_postgres_databases, drop_postgres_databases, postgres_available

EXPECTED_TABLES = {
    "gateway": {"clients", "signing_keys", "used_assertions"},
    "registry": {"municipalities", "registrations", "processing_log", "idempotency_keys"},
    "certification": {"schemes"},
    "housing": {"municipalities", "regions", "region_members"},
}


def tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names())) - {"alembic_version"}
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_urls(request, tmp_path):
    if request.param == "sqlite":
        yield {name: f"sqlite+aiosqlite:///{tmp_path}/{name}.db" for name in DATABASES}
        return
    reason = postgres_available()
    if reason:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
        pytest.skip(reason)
    urls = create_postgres_databases(f"lmx_mig_{uuid.uuid4().hex[:8]}")
    try:
        yield urls
    finally:
        drop_postgres_databases(urls)


@pytest.mark.parametrize("name", DATABASES)
def test_chain_upgrades_downgrades_and_upgrades_again(fresh_urls, name):
    url = fresh_urls[name]
    upgrade(name, url)
    assert tables(url) == EXPECTED_TABLES[name]
    downgrade(name, url)
    assert tables(url) == set()
    upgrade(name, url)
    assert tables(url) == EXPECTED_TABLES[name]
