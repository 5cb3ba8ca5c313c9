"""The scheduled expiry job: granted certificates past their last valid day become expired."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from lmx_common.db import Database
from lmx_common.jobs import periodic
from services.certification.service import expire_due

logger = logging.getLogger("lmx.certification.expiry")


async def run_expiry(database: Database) -> int:
    """One run in its own transaction; the expirations and their events commit together."""
    async with database.sessionmaker() as session, session.begin():
        expired = await expire_due(session)
    if expired:
        logger.info("certificates expired", extra={"count": expired})
    return expired


@asynccontextmanager
async def expiry_job(database: Database, interval: float) -> AsyncIterator[None]:
    """The expiry run every ``interval`` seconds while the service runs (0: never)."""

    async def step() -> None:
        await run_expiry(database)

    async with periodic("certificate-expiry", interval, step, logger):
        yield
