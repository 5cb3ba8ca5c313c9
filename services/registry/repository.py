"""Every query of the registry. Flushes, never commits: the request's session owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import Principal
from lmx_common.db import insert_rows
from services.registry.models import Municipality, ProcessingLogRecord, Registration
from services.registry.visibility import visible

# Reference data.


async def list_municipalities(
    session: AsyncSession, province_code: str | None, after: str | None, limit: int
) -> Sequence[Municipality]:
    query = select(Municipality).order_by(Municipality.code).limit(limit)
    if province_code:
        query = query.where(Municipality.province_code == province_code)
    if after:
        query = query.where(Municipality.code > after)
    return (await session.execute(query)).scalars().all()


async def get_municipality(session: AsyncSession, code: str) -> Municipality | None:
    return await session.get(Municipality, code)


# Registrations.


async def get_registration(session: AsyncSession, registration_id: str) -> Registration | None:
    return await session.get(Registration, registration_id)


async def get_visible(
    session: AsyncSession, principal: Principal, registration_id: str, for_update: bool = False
) -> Registration | None:
    query = select(Registration).where(Registration.id == registration_id, visible(principal))
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def active_pseudonyms(session: AsyncSession, pseudonyms: Sequence[str]) -> set[str]:
    """Which of these BSN pseudonyms have an active registration."""
    found: set[str] = set()
    for start in range(0, len(pseudonyms), 5000):  # one query per bulk request
        chunk = pseudonyms[start : start + 5000]
        rows = await session.execute(
            select(Registration.bsn_pseudonym).where(
                Registration.bsn_pseudonym.in_(chunk), Registration.status == "active"
            )
        )
        found.update(p for p in rows.scalars() if p)
    return found


async def add(session: AsyncSession, registration: Registration) -> None:
    """Insert a new registration (raises IntegrityError when its BSN is registered concurrently)."""
    session.add(registration)
    await session.flush()


async def flush(session: AsyncSession) -> None:
    """Write the changes made to loaded registrations (raises StaleDataError on a concurrent change)."""
    await session.flush()


async def insert_registrations(session: AsyncSession, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Many new registrations without an ORM object each (COPY on PostgreSQL)."""
    await insert_rows(session, cast(Table, Registration.__table__), columns, rows)


async def search_by_pseudonym(session: AsyncSession, principal: Principal, pseudonym: str) -> list[Registration]:
    query = (
        select(Registration)
        .where(Registration.bsn_pseudonym == pseudonym, visible(principal))
        .order_by(Registration.created_at, Registration.id)
        .limit(100)
    )
    return list((await session.execute(query)).scalars())


async def list_visible(
    session: AsyncSession,
    principal: Principal,
    *,
    work_municipality_code: str | None,
    residence_municipality_code: str | None,
    status: str | None,
    arrived_from: date | None,
    arrived_to: date | None,
    after_id: str | None,
    limit: int,
) -> list[Registration]:
    conditions = [visible(principal)]
    if work_municipality_code:
        conditions.append(Registration.work_municipality_code == work_municipality_code)
    if residence_municipality_code:
        conditions.append(Registration.residence_municipality_code == residence_municipality_code)
    if status:
        conditions.append(Registration.status == status)
    if arrived_from:
        conditions.append(Registration.arrival_date >= arrived_from)
    if arrived_to:
        conditions.append(Registration.arrival_date <= arrived_to)
    if after_id:
        conditions.append(Registration.id > after_id)
    query = select(Registration).where(and_(*conditions)).order_by(Registration.id).limit(limit)
    return list((await session.execute(query)).scalars())


# The processing log.

PROCESSING_LOG_COLUMNS = (
    "registration_id",
    "trace_id",
    "transaction_id",
    "activity",
    "action",
    "organisation_oin",
    "client_id",
    "occurred_at",
)


async def insert_processing_log(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    """Records in PROCESSING_LOG_COLUMNS order; many in one COPY on PostgreSQL."""
    await insert_rows(session, cast(Table, ProcessingLogRecord.__table__), PROCESSING_LOG_COLUMNS, rows)


async def processing_log_records(
    session: AsyncSession, registration_id: str, after: int, limit: int
) -> list[ProcessingLogRecord]:
    query = (
        select(ProcessingLogRecord)
        .where(ProcessingLogRecord.registration_id == registration_id, ProcessingLogRecord.id > after)
        .order_by(ProcessingLogRecord.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
