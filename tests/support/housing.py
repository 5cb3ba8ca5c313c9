"""Builders for housing tests: the housing service's own client, locations, economic locations."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from typing import Any

from sqlalchemy import select

from gateway.clients import NewClient, add_client
from lmx_common.db import Database
from services.registry.models import Registration

HOUSING_SERVICE_SCOPES = ("registry:statistics", "registry:statistics-exact", "certification:read", "events:read")
# Poll the certification feed often, so at-risk tests see events within a fraction of a second.
FAST_HOUSING: dict[str, Any] = {"event_poll_seconds": 0.2}

_numbers = itertools.count(random.randrange(1000, 9000) * 10_000)


def register_housing_client(gateway_database_url: str) -> tuple[str, str]:
    """A service client for the housing service in the gateway's database: (client id, secret)."""
    client_id = f"housing-{uuid.uuid4().hex[:10]}"
    new = NewClient(client_id, "Housing service (tests)", f"00000099{uuid.uuid4().int % 10**12:012d}", "service",
                    HOUSING_SERVICE_SCOPES)  # fmt: skip

    async def add() -> str | None:
        database = Database(gateway_database_url)
        try:
            async with database.sessionmaker() as session, session.begin():
                _, secret = await add_client(session, new, with_secret=True)
        finally:
            await database.dispose()
        return secret

    secret = asyncio.run(add())
    assert secret is not None
    return client_id, secret


def unique_id(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def kvk() -> str:
    return f"{next(_numbers) % 100_000_000:08d}"


def make_location(**overrides: Any) -> dict[str, Any]:
    """A valid POST /housing-locations body."""
    body: dict[str, Any] = {
        "id": unique_id("hl"),
        "address": {"postcode": "4731AB", "houseNumber": "12"},
        "kind": "short-stay",
        "form": "clustered",
        "beds": 20,
        "landlordKvkNumber": kvk(),
        "status": "planned",
    }
    body.update(overrides)
    return body


async def record_keys(backend: Any, ids: list[str]) -> list[int]:
    """The record keys the registry stored with these registrations (never shown through any API)."""
    database = Database(backend.urls["registry"])
    try:
        async with database.sessionmaker() as session:
            rows = await session.execute(select(Registration.record_key).where(Registration.id.in_(ids)))
            keys = [int(k) for (k,) in rows.all()]
    finally:
        await database.dispose()
    assert len(keys) == len(ids)
    return keys
