"""Fixtures: every database-backed suite runs on SQLite and on PostgreSQL.

PostgreSQL comes from $LMX_TEST_POSTGRES_URL (default: the machine's server at 127.0.0.1:5432,
user postgres). Under CI=true an unreachable PostgreSQL fails the run; elsewhere its half of the
suite is skipped with the reason shown.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from lmx_cli.reference import load_all
from lmx_common.migrations import DATABASES, upgrade

POSTGRES_URL = os.environ.get("LMX_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
RUN_ID = uuid.uuid4().hex[:8]


async def _postgres_admin(statements: list[str]) -> None:
    import asyncpg  # type: ignore[import-untyped]

    url = make_url(POSTGRES_URL)
    connection = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def postgres_database_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def create_postgres_databases(prefix: str) -> dict[str, str]:
    names = {component: f"{prefix}_{component}" for component in DATABASES}
    statements = []
    for name in names.values():
        statements += [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"']
    asyncio.run(_postgres_admin(statements))
    return {component: postgres_database_url(name) for component, name in names.items()}


def drop_postgres_databases(urls: dict[str, str]) -> None:
    names = [make_url(u).database for u in urls.values()]
    asyncio.run(_postgres_admin([f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names]))


def postgres_available() -> str | None:
    """None when reachable, else why not."""
    try:
        asyncio.run(_postgres_admin(["SELECT 1"]))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    """Go on when PostgreSQL answers; otherwise fail under CI=true (its suites must run there) and skip
    elsewhere, with the reason."""
    reason = postgres_available()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {reason}")
        pytest.skip(f"PostgreSQL not reachable ({reason}); set LMX_TEST_POSTGRES_URL")


@dataclass(frozen=True)
class Backend:
    name: str
    urls: dict[str, str]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """Migrated databases (gateway, registry, certification, housing) on one backend."""
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("sqlite")
        urls = {c: f"sqlite+aiosqlite:///{folder}/{c}.db" for c in DATABASES}
        for component, url in urls.items():
            upgrade(component, url)
        asyncio.run(load_all(urls))
        yield Backend("sqlite", urls)
        return
    require_postgres()
    urls = create_postgres_databases(f"lmx_test_{RUN_ID}")
    try:
        for component, url in urls.items():
            upgrade(component, url)
        asyncio.run(load_all(urls))
        yield Backend("postgresql", urls)
    finally:
        drop_postgres_databases(urls)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A client that names a processing activity on person-level registry requests as a real client
    would (tests.support.registrations.add_processing_activity); test the header's absence with a
    client of your own."""
    from tests.support.registrations import add_processing_activity

    async with httpx.AsyncClient(timeout=15, event_hooks={"request": [add_processing_activity]}) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """The response is problem+json with this status (and type); returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    if slug is not None:
        assert body["type"] == f"/problems/{slug}", body
    return body


@pytest.fixture(scope="session")
def stack(backend: Backend) -> Iterator[Any]:
    """Gateway, registry, certification and housing as real HTTP servers on this backend."""
    from contextlib import ExitStack

    from tests.support.stack import start_stack

    with ExitStack() as exits:
        running = start_stack(exits, backend.urls)
        yield running


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` need concurrent writers: their SQLite variants are deselected, not skipped.

    Tests marked `one_backend` do not depend on the database (timing of the gateway's own paths):
    their PostgreSQL variants are deselected.
    """
    selected, deselected = [], []
    for item in items:
        if (item.get_closest_marker("postgres") and "[sqlite" in item.nodeid) or (
            item.get_closest_marker("one_backend") and "[postgresql" in item.nodeid
        ):
            deselected.append(item)
        else:
            selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
