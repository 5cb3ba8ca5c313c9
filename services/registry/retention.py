"""Retention: departed registrations are anonymised after the retention period; statistics stay right
because codes, dates and reasons are kept while names, BSN, birth date, contact and address go."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database
from lmx_common.jobs import periodic
from services.registry import processing_log
from services.registry.config import RegistrySettings
from services.registry.fields import PERSONAL_COLUMNS
from services.registry.models import Registration

logger = logging.getLogger("lmx.registry.retention")

# What anonymisation clears: every personal column of the field map.
PERSONAL_FIELDS: dict[str, None] = dict.fromkeys(PERSONAL_COLUMNS)


async def anonymise_departed(session: AsyncSession, retention_days: int, today: date | None = None) -> int:
    """Anonymise every registration that departed more than `retention_days` ago; returns how many."""
    cutoff = (today or date.today()) - timedelta(days=retention_days)
    ids = list(
        (
            await session.execute(
                select(Registration.id).where(
                    Registration.status == "departed",
                    Registration.departure_date < cutoff,
                    Registration.anonymised_at.is_(None),
                )
            )
        ).scalars()
    )
    now = datetime.now(UTC)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(
            update(Registration)
            .where(Registration.id.in_(chunk))
            .values(**PERSONAL_FIELDS, anonymised_at=now, updated_at=now, version=Registration.version + 1)
        )
    await processing_log.record(session, None, None, "anonymise", ids)
    return len(ids)


async def run_once(database: Database, retention_days: int) -> int:
    async with database.sessionmaker() as session, session.begin():
        return await anonymise_departed(session, retention_days)


@asynccontextmanager
async def scheduled(database: Database, settings: RegistrySettings) -> AsyncIterator[None]:
    """The anonymisation job, every `anonymise_interval_seconds` while the service runs (0: never)."""

    async def step() -> None:
        count = await run_once(database, settings.retention_days)
        if count:
            logger.info("anonymised departed registrations", extra={"count": count})

    async with periodic("registry-retention", settings.anonymise_interval_seconds, step, logger):
        yield
