"""The certification feed consumer: the events this service consumes, polled through the gateway.

``certificate.status-changed`` (data: certificateId, kvkNumber, scheme, status, effectiveDate)
sets the certificate's standing; a location whose landlord holds a suspended, revoked or expired
certificate (and no granted one in that scheme) is at risk. Each event's id is stored in the same
transaction as its effect and the cursor, so processing an event twice changes nothing
(docs/decisions/0015).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database
from lmx_common.jobs import periodic
from services.housing import repository
from services.housing.clients import CursorRefused, GatewayClient, UpstreamUnavailable
from services.housing.config import HousingSettings

logger = logging.getLogger("lmx.housing.feed_consumer")

FEED = "certification"
FEED_PATH = "/certification/v1/events"
CERTIFICATE_STATUS_CHANGED = "certificate.status-changed"


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _time(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def apply_event(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Apply one CloudEvent; False when it was processed before (then nothing changes)."""
    event_id = str(event["id"])
    if await repository.processed(session, event_id):
        return False
    await repository.record_processed(session, event_id, str(event.get("source", "")), str(event.get("type", "")))
    data = event.get("data") or {}
    if event.get("type") == CERTIFICATE_STATUS_CHANGED and data.get("certificateId") and data.get("kvkNumber"):
        await repository.set_standing(
            session,
            certificate_id=str(data["certificateId"]),
            kvk_number=str(data["kvkNumber"]),
            scheme=str(data.get("scheme", "")),
            status=str(data.get("status", "")),
            effective_date=_date(data.get("effectiveDate")),
            event_id=event_id,
            event_time=_time(event.get("time")),
        )
    return True


async def apply_page(session: AsyncSession, cursor: str | None, page: dict[str, Any]) -> int:
    """Apply a page read from ``cursor`` and move the cursor, unless another replica moved it first."""
    current = await repository.feed_cursor(session, FEED, for_update=True)
    if current != cursor:
        return 0
    applied = 0
    for event in page.get("items", []):
        applied += await apply_event(session, event)
    if page.get("next"):
        await repository.move_cursor(session, FEED, str(page["next"]))
    return applied


async def poll_once(database: Database, gateway: GatewayClient, page_size: int) -> tuple[int, int]:
    """Read one page of the feed and apply it in one transaction; (events read, events applied)."""
    async with database.sessionmaker() as session:
        cursor = await repository.feed_cursor(session, FEED)
    params: list[tuple[str, str | int]] = [("limit", page_size)] + ([("after", cursor)] if cursor else [])
    try:
        page = await gateway.get_json(FEED_PATH, params)
    except CursorRefused:
        # The feed no longer knows our cursor (its signing key changed, or it predates signed cursors):
        # read again from the start. Events are applied once by id, so nothing is applied twice.
        logger.warning("certification feed refused the stored cursor; reading from the start")
        async with database.sessionmaker() as session, session.begin():
            if await repository.feed_cursor(session, FEED, for_update=True) == cursor:
                await repository.move_cursor(session, FEED, None)
        return 0, 0
    items = page.get("items", [])
    if not items:
        return 0, 0
    async with database.sessionmaker() as session, session.begin():
        applied = await apply_page(session, cursor, page)
    return len(items), applied


@asynccontextmanager
async def certification_consumer(
    database: Database, gateway: GatewayClient, settings: HousingSettings
) -> AsyncIterator[None]:
    """Poll the feed every ``event_poll_seconds`` while the service runs (0: never)."""

    async def step() -> bool:
        try:
            read, applied = await poll_once(database, gateway, settings.event_page_size)
        except UpstreamUnavailable as exc:  # expected while the gateway or certification is down
            logger.info("certification feed unavailable", extra={"reason": str(exc)})
            return False
        if applied:
            logger.info("certification events applied", extra={"count": applied})
        return read >= settings.event_page_size  # a full page: more may wait, read on at once

    async with periodic("certification-feed", settings.event_poll_seconds, step, logger):
        yield
