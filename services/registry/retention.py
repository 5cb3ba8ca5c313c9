"""Retention: departed registrations are anonymised after the retention period; statistics stay right
because codes, dates and reasons are kept while names, BSN, birth date, contact and address go."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database
from services.registry import processing_log
from services.registry.config import RegistrySettings
from services.registry.models import Registration

logger = logging.getLogger("lmx.registry.retention")

PERSONAL_FIELDS = {
    "bsn_pseudonym": None,
    "bsn_encrypted": None,
    "given_names": None,
    "surname": None,
    "date_of_birth": None,
    "contact_email": None,
    "contact_phone": None,
    "residence_postcode": None,
    "residence_house_number": None,
}


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
    """The anonymisation job, every `anonymise_interval_seconds` while the service runs."""
    if settings.anonymise_interval_seconds <= 0:
        yield
        return

    async def loop() -> None:
        while True:
            try:
                count = await run_once(database, settings.retention_days)
                if count:
                    logger.info("anonymised departed registrations", extra={"count": count})
            except Exception as exc:  # keep the job alive; the next round tries again
                logger.error("anonymisation failed", extra={"errorType": type(exc).__name__})
            await asyncio.sleep(settings.anonymise_interval_seconds)

    task = asyncio.create_task(loop(), name="registry-retention")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
