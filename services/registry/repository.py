"""Every query of the registry. Flushes, never commits: the request's session owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, String, Table, and_, case, false, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.auth import Principal
from lmx_common.db import insert_rows
from lmx_common.disclosure import KEY_RANGE, PTable
from services.registry.models import (
    Municipality,
    ProcessingLogRecord,
    Registration,
    RegistrationActiveCount,
    RegistrationPeriod,
)
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
    session: AsyncSession,
    principal: Principal,
    registration_id: str,
    for_update: bool = False,
    activity: str | None = None,
) -> Registration | None:
    query = select(Registration).where(Registration.id == registration_id, visible(principal, activity))
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


async def active_with_pseudonym(session: AsyncSession, pseudonyms: Sequence[str]) -> str | None:
    """The id of the active registration with one of these BSN pseudonyms (one per key while keys
    rotate), whoever may see it."""
    query = select(Registration.id).where(Registration.bsn_pseudonym.in_(pseudonyms), Registration.status == "active")
    return (await session.execute(query.limit(1))).scalar_one_or_none()


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


async def search_by_pseudonym(
    session: AsyncSession, principal: Principal, pseudonyms: Sequence[str], activity: str | None = None
) -> list[Registration]:
    """The visible registrations stored under any of these pseudonyms (one per key while keys rotate)."""
    query = (
        select(Registration)
        .where(Registration.bsn_pseudonym.in_(pseudonyms), visible(principal, activity))
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
    activity: str | None = None,
) -> list[Registration]:
    conditions = [visible(principal, activity)]
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


async def periods(session: AsyncSession, registration_id: str) -> list[RegistrationPeriod]:
    """The periods of a registration that ended, oldest first."""
    query = (
        select(RegistrationPeriod)
        .where(RegistrationPeriod.registration_id == registration_id)
        .order_by(RegistrationPeriod.id)
    )
    return list((await session.execute(query)).scalars())


async def add_period(session: AsyncSession, period: RegistrationPeriod) -> None:
    session.add(period)
    await session.flush()


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
    "span_id",
    "parent_span_id",
    "foreign_span_id",
    "status_code",
    "started_at",
)


async def insert_processing_log(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    """Records in PROCESSING_LOG_COLUMNS order; many in one COPY on PostgreSQL."""
    await insert_rows(session, cast(Table, ProcessingLogRecord.__table__), PROCESSING_LOG_COLUMNS, rows)


async def processing_log_records(
    session: AsyncSession,
    registration_id: str,
    after: int,
    limit: int,
    within: Sequence[tuple[datetime, datetime | None]] | None = None,
    own_oin: str | None = None,
) -> list[ProcessingLogRecord]:
    """A registration's records after id ``after``; with ``within``, only those that occurred in one of
    these periods (an open end: until now) or that organisation ``own_oin`` wrote."""
    conditions: list[ColumnElement[bool]] = [
        ProcessingLogRecord.registration_id == registration_id,
        ProcessingLogRecord.id > after,
    ]
    if within is not None:
        at = ProcessingLogRecord.occurred_at
        allowed = [at >= start if end is None else and_(at >= start, at <= end) for start, end in within]
        if own_oin is not None:
            allowed.append(ProcessingLogRecord.organisation_oin == own_oin)
        conditions.append(or_(*allowed) if allowed else false())
    query = select(ProcessingLogRecord).where(*conditions).order_by(ProcessingLogRecord.id).limit(limit)
    return list((await session.execute(query)).scalars())


# Statistics: counts only, never a person. Each count comes with the sum of its records' keys
# (lmx_common/disclosure.py), and the count and key sum of the part that is the caller's own (records
# working or residing in own_codes, the municipalities whose registrations it sees at person level):
# a Cell is (count, key sum, own count, own key sum), the key sums not yet reduced mod 2^32.

Cell = tuple[int, int, int, int]


def _cell(count: Any, key_sum: Any, own_count: Any = 0, own_key_sum: Any = 0) -> Cell:
    return int(count), int(key_sum or 0), int(own_count or 0), int(own_key_sum or 0)


def _own_sums(
    own_codes: Sequence[str] | None, work: Any, residence: Any, count: Any, key: Any
) -> list[ColumnElement[Any]]:
    """The own count and key sum as two aggregate columns (none when the caller has no own records)."""
    if not own_codes:
        return []
    own = or_(work.in_(own_codes), residence.in_(own_codes))
    return [func.sum(case((own, count), else_=0)), func.sum(case((own, key), else_=0))]


async def active_by_municipality(
    session: AsyncSession,
    side: Literal["work", "residence"],
    codes: Sequence[str] | None,
    own_codes: Sequence[str] | None = None,
) -> dict[str, Cell]:
    """Active registrations per work or residence municipality (side "work" or "residence"), from the
    per-pair counts the database keeps (ADR 0017); all municipalities, or those in codes."""
    counts = RegistrationActiveCount
    column = getattr(counts, f"{side}_municipality_code")
    conditions = [counts.active > 0]
    if codes is not None:
        conditions.append(column.in_(codes))
    own = _own_sums(
        own_codes, counts.work_municipality_code, counts.residence_municipality_code, counts.active, counts.key_sum
    )
    query = select(column, func.sum(counts.active), func.sum(counts.key_sum), *own).where(*conditions).group_by(column)
    return {code: _cell(*values) for code, *values in (await session.execute(query)).all()}


async def active_totals(
    session: AsyncSession,
    side: Literal["work", "residence"],
    work_codes: Sequence[str] | None,
    own_codes: Sequence[str] | None = None,
) -> dict[str, Cell]:
    """The work x residence table's row (side "work") or column (side "residence") totals, over the
    active registrations working in work_codes (or all), from the per-pair counts (ADR 0017)."""
    counts = RegistrationActiveCount
    column = getattr(counts, f"{side}_municipality_code")
    conditions = [counts.active > 0]
    if work_codes is not None:
        conditions.append(counts.work_municipality_code.in_(work_codes))
    own = _own_sums(
        own_codes, counts.work_municipality_code, counts.residence_municipality_code, counts.active, counts.key_sum
    )
    query = select(column, func.sum(counts.active), func.sum(counts.key_sum), *own).where(*conditions).group_by(column)
    return {code: _cell(*values) for code, *values in (await session.execute(query)).all()}


async def flows_by_residence(
    session: AsyncSession,
    event: Literal["arrival", "departure"],
    start: date,
    end: date,
    codes: Sequence[str] | None,
    own_codes: Sequence[str] | None = None,
) -> dict[str, Cell]:
    """Arrivals or departures (event "arrival" or "departure") from start to end, per residence
    municipality; all municipalities, or those in codes."""
    column = Registration.residence_municipality_code
    conditions = [getattr(Registration, f"{event}_date").between(start, end)]
    if codes is not None:
        conditions.append(column.in_(codes))
    own = _own_sums(own_codes, Registration.work_municipality_code, column, 1, Registration.record_key)
    query = select(column, func.count(), func.sum(Registration.record_key), *own).where(*conditions).group_by(column)
    return {code: _cell(*values) for code, *values in (await session.execute(query)).all()}


async def work_residence_pairs(
    session: AsyncSession, work_codes: Sequence[str] | None, residence_codes: Sequence[str] | None
) -> list[tuple[str, str, int, int]]:
    """(work, residence, active, key sum) for every pair with active registrations, in (work, residence)
    order as a rule, from the per-pair counts (ADR 0017); only work municipalities in work_codes and
    residence municipalities in residence_codes, where given.

    One row per work municipality with its residence counts as one string ("GM0758:12:8812,GM0777:3:1"):
    fetching ~100,000 rows one by one costs several times more than the whole rest of the request."""
    counts = RegistrationActiveCount
    work_col, residence_col = counts.work_municipality_code, counts.residence_municipality_code
    conditions = [counts.active > 0]
    if work_codes is not None:
        conditions.append(work_col.in_(work_codes))
    if residence_codes is not None:
        conditions.append(residence_col.in_(residence_codes))
    pairs = (
        select(work_col, residence_col, counts.active, counts.key_sum)
        .where(*conditions)
        .order_by(work_col, residence_col)
        .subquery()
    )
    # Aggregated from rows in key order, so the cells usually arrive sorted.
    item = (
        pairs.c.residence_municipality_code
        + ":"
        + sql_cast(pairs.c.active, String)
        + ":"
        + sql_cast(pairs.c.key_sum, String)
    )
    joined = func.aggregate_strings(item, ",")
    cells = []
    query = select(pairs.c.work_municipality_code, joined).group_by(pairs.c.work_municipality_code)
    for work, residences in await session.execute(query.order_by(pairs.c.work_municipality_code)):
        for text_ in residences.split(","):
            residence, count, key_sum = text_.split(":")
            cells.append((work, residence, int(count), int(key_sum)))
    return cells


async def work_residence_published(
    session: AsyncSession, work_codes: Sequence[str] | None, own_codes: Sequence[str] | None, table: PTable
) -> list[tuple[str, str, int, bool]]:
    """(work, residence, published count, exact?) of every pair published above 0 to a caller that does
    not see every count exactly: the caller's own pairs exactly, the others perturbed by the ptable in
    the query itself (PTable.sql), so ~100,000 cells are looked up where they are counted."""
    counts = RegistrationActiveCount
    work_col, residence_col = counts.work_municipality_code, counts.residence_municipality_code
    perturbed = table.sql(counts.active, counts.key_sum % KEY_RANGE)
    own = or_(work_col.in_(own_codes), residence_col.in_(own_codes)) if own_codes else false()
    value = case((own, counts.active), else_=perturbed)
    conditions = [counts.active > 0]
    if work_codes is not None:
        conditions.append(work_col.in_(work_codes))
    pairs = select(
        work_col.label("w"), residence_col.label("r"), value.label("v"), case((own, "1"), else_="0").label("o")
    ).where(*conditions)
    inner = pairs.subquery()
    shown = select(inner).where(or_(inner.c.v > 0, inner.c.o == "1")).order_by(inner.c.w, inner.c.r).subquery()
    item = shown.c.r + ":" + sql_cast(shown.c.v, String) + ":" + shown.c.o
    query = select(shown.c.w, func.aggregate_strings(item, ",")).group_by(shown.c.w).order_by(shown.c.w)
    cells = []
    for work, residences in await session.execute(query):
        for text_ in residences.split(","):
            residence, count, exact = text_.split(":")
            cells.append((work, residence, int(count), exact == "1"))
    return cells


async def residents_by_housing_location(
    session: AsyncSession,
    municipality_codes: Sequence[str] | None,
    housing_location_ids: Sequence[str] | None,
    own_codes: Sequence[str] | None = None,
) -> list[tuple[str, str, Cell]]:
    """(housing location, residence municipality, cell of its active residents), by location."""
    location, home_col = Registration.housing_location_id, Registration.residence_municipality_code
    conditions = [Registration.status == "active", location.is_not(None)]
    if municipality_codes is not None:
        conditions.append(home_col.in_(municipality_codes))
    if housing_location_ids:
        conditions.append(location.in_(housing_location_ids))
    own = _own_sums(own_codes, Registration.work_municipality_code, home_col, 1, Registration.record_key)
    rows = await session.execute(
        select(location, home_col, func.count(), func.sum(Registration.record_key), *own)
        .where(*conditions)
        .group_by(location, home_col)
        .order_by(location, home_col)
    )
    return [(cast(str, loc), code, _cell(*values)) for loc, code, *values in rows.all()]  # locations not null


async def working_by_economic_location(
    session: AsyncSession,
    economic_location_ids: Sequence[str] | None,
    work_codes: Sequence[str] | None,
    own_codes: Sequence[str] | None = None,
) -> list[tuple[str, str, Cell]]:
    """(economic location, work municipality, cell of the active working there), by location and
    municipality."""
    location, work_col = Registration.economic_location_id, Registration.work_municipality_code
    conditions = [Registration.status == "active", location.is_not(None)]
    if economic_location_ids:
        conditions.append(location.in_(economic_location_ids))
    if work_codes is not None:
        conditions.append(work_col.in_(work_codes))
    own = _own_sums(own_codes, work_col, Registration.residence_municipality_code, 1, Registration.record_key)
    rows = await session.execute(
        select(location, work_col, func.count(), func.sum(Registration.record_key), *own)
        .where(*conditions)
        .group_by(location, work_col)
        .order_by(location, work_col)
    )
    return [(cast(str, loc), code, _cell(*values)) for loc, code, *values in rows.all()]  # locations not null


async def departures_by_reason_and_destination(
    session: AsyncSession,
    start: date,
    end: date,
    municipality_codes: Sequence[str] | None,
    own_codes: Sequence[str] | None = None,
) -> dict[tuple[str, str], Cell]:
    """Departures from start to end per (reason, destination type), "unknown" where not recorded; from
    these residence municipalities, or all."""
    conditions = [Registration.status == "departed", Registration.departure_date.between(start, end)]
    if municipality_codes is not None:
        conditions.append(Registration.residence_municipality_code.in_(municipality_codes))
    destination = func.coalesce(Registration.departure_destination_type, "unknown")
    own = _own_sums(
        own_codes,
        Registration.work_municipality_code,
        Registration.residence_municipality_code,
        1,
        Registration.record_key,
    )
    rows = await session.execute(
        select(Registration.departure_reason, destination, func.count(), func.sum(Registration.record_key), *own)
        .where(*conditions)
        .group_by(Registration.departure_reason, destination)
    )
    return {(reason or "unknown", dest): _cell(*values) for reason, dest, *values in rows.all()}
