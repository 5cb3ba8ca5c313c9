"""Every migration chain builds exactly the tables and columns its models declare, goes down to nothing,
and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
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


def test_record_keys_are_given_to_existing_registrations_and_summed_by_the_triggers(fresh_urls):
    """rg0401 on a registry with registrations: each gets a record key, the kept key sums equal a GROUP
    BY, and the replaced triggers keep them after the upgrade (ADR 0027)."""
    from sqlalchemy import text

    url = fresh_urls["registry"]
    upgrade("registry", url, "rg0301")
    columns = (
        "id, registration_type, channel, residence_municipality_code, work_municipality_code, "
        "employer_kvk_number, arrival_date, status, created_by_oin, created_by_client_id, created_by_type, "
        "created_at, updated_at, version"
    )

    def row(i: int, work: str, status: str = "active") -> str:
        return (
            f"('r{i}', 'rni', 'desk', 'GM0363', '{work}', '12345678', '2026-01-01', '{status}', "
            f"'00000001234567890000', 'c', 'municipality', '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1)"
        )

    async def run(statements: list[str], query: str | None = None) -> list[tuple[object, ...]]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
                return [tuple(r) for r in (await conn.execute(text(query))).all()] if query else []
        finally:
            await engine.dispose()

    values = ", ".join([row(i, "GM0363") for i in range(5)] + [row(5, "GM0599"), row(6, "GM0599", "departed")])
    asyncio.run(run([f"INSERT INTO registrations ({columns}) VALUES {values}"]))  # noqa: S608
    upgrade("registry", url)
    true_sums = (
        "SELECT work_municipality_code, count(*), sum(record_key) FROM registrations WHERE status = 'active' "
        "GROUP BY work_municipality_code ORDER BY 1"
    )
    kept = "SELECT work_municipality_code, active, key_sum FROM registration_active_counts WHERE active > 0 ORDER BY 1"
    keys = asyncio.run(run([], "SELECT record_key FROM registrations"))
    assert len(keys) == 7 and all(k is not None and 0 <= int(str(k)) < 2**32 for (k,) in keys)
    assert len({k for (k,) in keys}) == 7  # random, not one default
    before = asyncio.run(run([], true_sums))
    assert [tuple(map(str, r)) for r in asyncio.run(run([], kept))] == [tuple(map(str, r)) for r in before]
    # The new triggers add and subtract the keys.
    asyncio.run(
        run(
            [
                "UPDATE registrations SET status = 'departed' WHERE id = 'r0'",
                "DELETE FROM registrations WHERE id = 'r5'",
            ]
        )
    )
    after = asyncio.run(run([], true_sums))
    assert [tuple(map(str, r)) for r in asyncio.run(run([], kept))] == [tuple(map(str, r)) for r in after]
    assert after != before


def test_registry_events_already_in_the_outbox_get_their_municipalities_as_audience(fresh_urls):
    """rg0402 (docs/decisions/0028): an event made before audiences were kept must not stay visible to
    every events:read client; it gets the municipalities in its data. Subscriptions get their OIN."""
    from tests.support.db import rows

    url = fresh_urls["registry"]
    upgrade("registry", url, "rg0301")

    async def seed() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO outbox_events (id, position, type, subject, data, occurred_at) VALUES "
                        "('e-two', 1, 'registration.created', NULL, :two, '2026-11-01T00:00:00+00:00'), "
                        "('e-one', 2, 'registration.departed', NULL, :one, '2026-11-02T00:00:00+00:00')"
                    ),
                    {
                        "two": json.dumps({"workMunicipalityCode": "GM0363", "residenceMunicipalityCode": "GM0599"}),
                        "one": json.dumps({"workMunicipalityCode": "GM1655", "residenceMunicipalityCode": "GM1655"}),
                    },
                )
                await conn.execute(
                    text(
                        "INSERT INTO event_subscriptions (id, client_id, organisation_oin, callback_url, event_types,"
                        " secret, created_at) VALUES ('s-1', 'c', '00000099000000001655', 'https://example.nl/h',"
                        " '[\"registration.created\"]', 'whsec_x', '2026-11-01T00:00:00+00:00')"
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(seed())
    upgrade("registry", url)
    events = asyncio.run(rows(url, "SELECT id, audience FROM outbox_events ORDER BY position"))
    audiences = {e["id"]: _json(e["audience"]) for e in events}
    assert audiences == {
        "e-two": ["municipality:GM0599", "municipality:GM0363"],
        "e-one": ["municipality:GM1655"],
    }
    [subscription] = asyncio.run(rows(url, "SELECT parties FROM event_subscriptions"))
    assert _json(subscription["parties"]) == ["oin:00000099000000001655"]
    downgrade("registry", url, "rg0301")
    assert "audience" not in tables(url)["outbox_events"] and "parties" not in tables(url)["event_subscriptions"]


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value
