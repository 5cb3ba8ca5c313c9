"""The scheduled expiry job: granted certificates past their last valid day become expired."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from lmx_common.db import Database
from services.certification.service import expire_due

logger = logging.getLogger("lmx.certification.expiry")


async def run_expiry(database: Database) -> int:
    """One run in its own transaction; the expirations and their events commit together."""
    async with database.sessionmaker() as session, session.begin():
        expired = await expire_due(session)
    if expired:
        logger.info("certificates expired", extra={"count": expired})
    return expired


async def _loop(database: Database, interval: float) -> None:
    while True:
        try:
            await run_expiry(database)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # try again next interval
            logger.warning("expiry run failed", extra={"error_type": type(exc).__name__})
        await asyncio.sleep(interval)


@asynccontextmanager
async def expiry_job(database: Database, interval: float) -> AsyncIterator[None]:
    task = asyncio.create_task(_loop(database, interval), name="certificate-expiry")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
