"""Retention: registrations past their retention period are anonymised, and what remains of them is
k-anonymous (k = REGISTRY_SUPPRESSION_THRESHOLD) on the quasi-identifiers below. docs/privacy.md,
"Retention and anonymisation", explains the choices; this is the algorithm.

Who: registrations that departed more than ``retention_days`` ago, and active ones whose expected end
date lies more than ``expired_grace_days`` ago (nobody recorded their departure).

What goes, at once: every personal column of the field map (names, BSN, date of birth, contact,
address), and the values no statistic uses that narrow a person down: employer and agency KvK
number, housing and economic location, work start date, expected end date, the destination's
municipality or country code. The registration's timestamps are cut to the month of anonymisation
(an exact time would date the departure, being its retention period later).

What stays, as quasi-identifiers (QUASI_IDENTIFIERS): status, work and residence municipality (exact:
the statistics count them), nationality, registration type, channel, arrival and departure date,
departure reason and destination type. Each anonymised registration has a generalisation level
(``anonymisation_level``), and its values are those of its level:

    month  dates cut to the first of their month; everything else as it was
    year   dates cut to the first of January
    broad     and nationality, registration type and channel gone (null, "unknown", "unknown")
    coarsest  and a departure's reason and destination type "unknown"
    held      the values of coarsest, in a class still smaller than k (see below)

An equivalence class is the set of anonymised registrations with the same level and the same values
at that level (the level is part of the key, so "2025-01-01" at year level is not confused with
January at month level). Each run takes every anonymised registration at its level (a new one at
``month``) and, level by level from the finest, moves every member of a class smaller than k one
level up; a class of k or more stays whole. Values only get coarser and anonymised registrations only
come, never go (but for the held ones below), so a class once of size k never shrinks by a later run.
What is still in a class smaller than k at the coarsest level is *held*: kept at the coarsest values
(level ``held``) until later runs bring k of its kind together (then ``coarsest``); held longer than
``anonymise_hold_days`` (default 0: at once), it is deleted, as k-anonymity's last resort
(suppression), so that with the default no anonymised registration is in a class smaller than k. Work and
residence municipality are never generalised: the active counts (work x residence) and the flows
(arrivals and departures per residence municipality) need them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database
from lmx_common.jobs import job_lock, periodic
from services.registry import processing_log
from services.registry.config import RegistrySettings
from services.registry.fields import PERSONAL_COLUMNS
from services.registry.models import Registration

logger = logging.getLogger("lmx.registry.retention")

# What anonymisation clears: every personal column of the field map.
PERSONAL_FIELDS: dict[str, None] = dict.fromkeys(PERSONAL_COLUMNS)
# And the values that are not personal by themselves but single a person out, used by no statistic.
# (employer_kvk_number is NOT NULL, and a string in the read model: emptied, not nulled.)
CLEARED_FIELDS: dict[str, Any] = {
    "employer_kvk_number": "",
    "agency_kvk_number": None,
    "housing_location_id": None,
    "economic_location_id": None,
    "work_start_date": None,
    "expected_end_date": None,
    "departure_destination_code": None,
}

QUASI_IDENTIFIERS: tuple[str, ...] = (
    "status",
    "work_municipality_code",
    "residence_municipality_code",
    "nationality",
    "registration_type",
    "channel",
    "arrival_date",
    "departure_date",
    "departure_reason",
    "departure_destination_type",
)
DATES = ("arrival_date", "departure_date")

MONTH, YEAR, BROAD, COARSEST, HELD = "month", "year", "broad", "coarsest", "held"
LEVELS: tuple[str, ...] = (MONTH, YEAR, BROAD, COARSEST)  # finest first; HELD has COARSEST's values
UNKNOWN = "unknown"

Row = dict[str, Any]


def _month(value: date | None) -> date | None:
    return value.replace(day=1) if value else None


def _year(value: date | None) -> date | None:
    return value.replace(month=1, day=1) if value else None


def generalise(row: Row, level: str) -> Row:
    """A registration's quasi-identifiers at a level (HELD: the coarsest values)."""
    rank = LEVELS.index(COARSEST if level == HELD else level)
    out = {name: row[name] for name in QUASI_IDENTIFIERS}
    cut: Callable[[date | None], date | None] = _month if rank == 0 else _year
    for name in DATES:
        out[name] = cut(out[name])
    if rank >= LEVELS.index(BROAD):
        out.update(nationality=None, registration_type=UNKNOWN, channel=UNKNOWN)
    if rank >= LEVELS.index(COARSEST) and out["status"] == "departed":
        out.update(departure_reason=UNKNOWN, departure_destination_type=UNKNOWN)
    return out


def _key(row: Row, level: str) -> tuple[Any, ...]:
    generalised = generalise(row, level)
    return (COARSEST if level == HELD else level, *(generalised[name] for name in QUASI_IDENTIFIERS))


def assign_levels(rows: Sequence[Row], k: int) -> dict[str, str]:
    """Each anonymised registration's level (by id) so that every class outside HELD has k or more
    members: rows carry their QUASI_IDENTIFIERS, ``id`` and their current ``level`` (None: new)."""
    level = {row["id"]: row["level"] or MONTH for row in rows}
    by_id = {row["id"]: row for row in rows}
    for index, name in enumerate(LEVELS):
        here = [i for i, current in level.items() if current == name or (name == COARSEST and current == HELD)]
        keys = {i: _key(by_id[i], name) for i in here}
        sizes = Counter(keys.values())
        for i in here:
            small = sizes[keys[i]] < k
            if name == COARSEST:
                level[i] = HELD if small else COARSEST
            elif small:
                level[i] = LEVELS[index + 1]
    return level


def classes(rows: Sequence[Row], levels: dict[str, str]) -> Counter[tuple[Any, ...]]:
    """The size of every equivalence class (for checks and tests)."""
    return Counter(_key(row, levels[row["id"]]) for row in rows)


async def anonymise_due(
    session: AsyncSession,
    retention_days: int,
    expired_grace_days: int | None = None,
    today: date | None = None,
) -> list[str]:
    """Clear every registration past its retention period; returns their ids (levels follow in
    ``generalise_anonymised``)."""
    today = today or date.today()
    due = Registration.status == "departed"
    due = due & (Registration.departure_date < today - timedelta(days=retention_days))
    if expired_grace_days is not None:
        expired = (Registration.status == "active") & (
            Registration.expected_end_date < today - timedelta(days=expired_grace_days)
        )
        due = or_(due, expired)
    ids = list(
        (await session.execute(select(Registration.id).where(due, Registration.anonymised_at.is_(None)))).scalars()
    )
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(
            update(Registration)
            .where(Registration.id.in_(chunk))
            .values(
                **PERSONAL_FIELDS,
                **CLEARED_FIELDS,
                anonymised_at=month,
                created_at=month,
                updated_at=month,
                version=Registration.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
    await processing_log.record(session, None, None, "anonymise", ids)
    return ids


async def generalise_anonymised(session: AsyncSession, k: int, hold_days: int, today: date | None = None) -> int:
    """Bring every anonymised registration to the level its class needs (assign_levels), and delete
    those held longer than ``hold_days``; returns how many rows changed."""
    columns = [getattr(Registration, name) for name in (*QUASI_IDENTIFIERS, "id", "anonymisation_level")]
    result = await session.execute(
        select(*columns, Registration.anonymised_at).where(Registration.anonymised_at.is_not(None))
    )
    rows: list[Row] = []
    anonymised_at: dict[str, datetime] = {}
    for found in result.all():
        row: Row = dict(zip((*QUASI_IDENTIFIERS, "id", "level"), found[:-1], strict=True))
        rows.append(row)
        anonymised_at[row["id"]] = found[-1]
    levels = assign_levels(rows, k)
    cutoff = datetime.combine((today or date.today()) - timedelta(days=hold_days), datetime.min.time(), UTC)
    # hold_days 0 (the default): a registration that cannot join a class of k is deleted at once.
    expired = [
        r["id"] for r in rows if levels[r["id"]] == HELD and (hold_days <= 0 or _aware(anonymised_at[r["id"]]) < cutoff)
    ]
    for start in range(0, len(expired), 500):
        await session.execute(delete(Registration).where(Registration.id.in_(expired[start : start + 500])))
    gone = set(expired)
    changed = []
    for row in rows:
        if row["id"] in gone:
            continue
        level = levels[row["id"]]
        values = generalise(row, level)
        if level != row["level"] or any(values[name] != row[name] for name in QUASI_IDENTIFIERS):
            values.pop("status")  # never changed here: it is the same at every level
            changed.append({"b_id": row["id"], "anonymisation_level": level, **values})
    if changed:
        names = [*QUASI_IDENTIFIERS, "anonymisation_level"]
        statement = (
            update(Registration)
            .where(Registration.id == bindparam("b_id"))
            .values({name: bindparam(name) for name in names if name != "status"})
            .execution_options(synchronize_session=False)
        )
        connection = await session.connection()
        for start in range(0, len(changed), 1000):
            await connection.execute(statement, changed[start : start + 1000])
    if expired:
        logger.warning("deleted held anonymised registrations", extra={"count": len(expired)})
    return len(changed) + len(expired)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def anonymise_departed(
    session: AsyncSession,
    retention_days: int,
    today: date | None = None,
    *,
    expired_grace_days: int | None = None,
    k: int = 5,
    hold_days: int = 365,
) -> int:
    """Anonymise every registration past its retention period and generalise what remains of all
    anonymised registrations to k-anonymity; returns how many were anonymised now."""
    ids = await anonymise_due(session, retention_days, expired_grace_days, today)
    await generalise_anonymised(session, k, hold_days, today)
    return len(ids)


RETENTION_LOCK = "registry-retention"


async def run_once(
    database: Database, settings: RegistrySettings, retention_days: int | None = None, *, wait: bool = False
) -> int:
    """One run in one transaction. With several replicas on one PostgreSQL only one runs at a time
    (an advisory lock; a replica that finds it taken skips the round): two at once would each
    anonymise the same registrations (two processing-log records, the version bumped twice) and
    generalise from snapshots that miss each other's rows (ADR 0031). ``wait``: wait for a run in
    progress elsewhere, then run (``lmx registry anonymise``)."""
    async with database.sessionmaker() as session, session.begin():
        if not await job_lock(session, RETENTION_LOCK, wait=wait):
            return 0
        count = await anonymise_departed(
            session,
            settings.retention_days if retention_days is None else retention_days,
            expired_grace_days=settings.expired_grace_days,
            k=settings.disclosure_threshold,
            hold_days=settings.anonymise_hold_days,
        )
    if count and database.engine.dialect.name == "sqlite":
        # secure_delete zeroes freed pages in the file; the old pages' copies in the write-ahead log go
        # with a checkpoint that truncates it.
        async with database.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return count


@asynccontextmanager
async def scheduled(database: Database, settings: RegistrySettings) -> AsyncIterator[None]:
    """The anonymisation job, every `anonymise_interval_seconds` while the service runs (0: never)."""

    async def step() -> None:
        count = await run_once(database, settings)
        if count:
            logger.info("anonymised registrations", extra={"count": count})

    async with periodic("registry-retention", settings.anonymise_interval_seconds, step, logger):
        yield
