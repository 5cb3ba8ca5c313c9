"""Every query of the housing service. Flushes, never commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.housing.models import (
    CertificateStanding,
    DistributionKey,
    EconomicLocation,
    FeedCursor,
    HousingLocation,
    Municipality,
    OccupancyReport,
    ProcessedEvent,
    Region,
    RegionMember,
    StatisticsSnapshot,
)

RISK_STATUSES = ("suspended", "revoked", "expired")


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# Regions.


async def regions_with_members(
    session: AsyncSession, kind: str | None = None, code: str | None = None
) -> list[tuple[Region, list[str]]]:
    query = select(Region).order_by(Region.kind.desc(), Region.code)
    if kind:
        query = query.where(Region.kind == kind)
    if code:
        query = query.where(Region.code == code)
    regions = list((await session.execute(query)).scalars())
    members: dict[str, list[str]] = defaultdict(list)
    if regions:
        rows = await session.execute(
            select(RegionMember.region_code, RegionMember.municipality_code)
            .where(RegionMember.region_code.in_([r.code for r in regions]))
            .order_by(RegionMember.municipality_code)
        )
        for region_code, municipality_code in rows:
            members[region_code].append(municipality_code)
    return [(r, members[r.code]) for r in regions]


async def region(session: AsyncSession, code: str) -> Region | None:
    return await session.get(Region, code)


async def members(session: AsyncSession, region_code: str) -> list[Municipality]:
    query = (
        select(Municipality)
        .join(RegionMember, RegionMember.municipality_code == Municipality.code)
        .where(RegionMember.region_code == region_code)
        .order_by(Municipality.code)
    )
    return list((await session.execute(query)).scalars())


async def member_codes(session: AsyncSession, region_code: str) -> list[str]:
    query = select(RegionMember.municipality_code).where(RegionMember.region_code == region_code)
    return sorted((await session.execute(query)).scalars())


async def is_member(session: AsyncSession, region_code: str, municipality_code: str) -> bool:
    query = select(
        exists().where(RegionMember.region_code == region_code, RegionMember.municipality_code == municipality_code)
    )
    return bool((await session.execute(query)).scalar_one())


# Capacity.


async def beds_by_status(session: AsyncSession, codes: Sequence[str]) -> dict[str, dict[str, int]]:
    """Beds per municipality and pipeline status (closed locations left out)."""
    rows = await session.execute(
        select(HousingLocation.municipality_code, HousingLocation.status, func.sum(HousingLocation.beds))
        .where(HousingLocation.municipality_code.in_(codes), HousingLocation.status != "closed")
        .group_by(HousingLocation.municipality_code, HousingLocation.status)
    )
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for code, status, beds in rows.all():
        result[code][status] = int(beds or 0)
    return result


# Economic locations.


async def economic_locations_within(session: AsyncSession, codes: Sequence[str]) -> list[str]:
    """Ids of the economic locations of every region whose members all lie within ``codes``
    (the region itself, or a cooperation region inside a province)."""
    inside = (
        select(RegionMember.region_code)
        .group_by(RegionMember.region_code)
        .having(func.sum(case((RegionMember.municipality_code.in_(codes), 0), else_=1)) == 0)
    )
    query = select(EconomicLocation.id).where(EconomicLocation.region_code.in_(inside)).order_by(EconomicLocation.id)
    return list((await session.execute(query)).scalars())


async def keys_of(session: AsyncSession, location_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {i: {} for i in location_ids}
    if location_ids:
        rows = await session.execute(
            select(DistributionKey.economic_location_id, DistributionKey.municipality_code, DistributionKey.share)
            .where(DistributionKey.economic_location_id.in_(location_ids))
            .order_by(DistributionKey.economic_location_id, DistributionKey.municipality_code)
        )
        for location, code, share in rows.all():
            result[location][code] = float(share)
    return result


async def economic_location(
    session: AsyncSession, location_id: str, for_update: bool = False
) -> EconomicLocation | None:
    query = select(EconomicLocation).where(EconomicLocation.id == location_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def economic_locations(session: AsyncSession, region_code: str | None) -> list[EconomicLocation]:
    query = select(EconomicLocation).order_by(EconomicLocation.id)
    if region_code:
        query = query.where(EconomicLocation.region_code == region_code)
    return list((await session.execute(query)).scalars())


async def replace_keys(session: AsyncSession, location_id: str, keys: Iterable[tuple[str, float]]) -> None:
    existing = await session.execute(select(DistributionKey).where(DistributionKey.economic_location_id == location_id))
    for row in existing.scalars():
        await session.delete(row)
    await session.flush()
    session.add_all(DistributionKey(economic_location_id=location_id, municipality_code=c, share=s) for c, s in keys)
    await session.flush()


# Housing locations.


async def housing_location(session: AsyncSession, location_id: str, for_update: bool = False) -> HousingLocation | None:
    query = select(HousingLocation).where(HousingLocation.id == location_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


def _risky(schemes: Sequence[str]) -> Any:
    """Certificates in a risk status in these schemes, with no granted certificate of the same
    holder and scheme beside them (a new certificate granted clears the risk of the old one)."""
    granted = aliased(CertificateStanding)
    return and_(
        CertificateStanding.status.in_(RISK_STATUSES),
        CertificateStanding.scheme.in_(schemes),
        ~exists().where(
            granted.kvk_number == CertificateStanding.kvk_number,
            granted.scheme == CertificateStanding.scheme,
            granted.status == "granted",
        ),
    )


def at_risk_condition(schemes: Sequence[str]) -> Any:
    return and_(
        HousingLocation.status != "closed",
        exists().where(CertificateStanding.kvk_number == HousingLocation.landlord_kvk_number, _risky(schemes)),
    )


def housing_locations_query(
    *,
    municipality_codes: Sequence[str] | None = None,
    status: str | None = None,
    at_risk: bool | None = None,
    schemes: Sequence[str] = (),
    after: str | None = None,
) -> Select[Any]:
    query = select(HousingLocation).order_by(HousingLocation.id)
    if municipality_codes is not None:
        query = query.where(HousingLocation.municipality_code.in_(municipality_codes))
    if status is not None:
        query = query.where(HousingLocation.status == status)
    if at_risk is True:
        query = query.where(at_risk_condition(schemes))
    elif at_risk is False:
        query = query.where(~at_risk_condition(schemes))
    if after is not None:
        query = query.where(HousingLocation.id > after)
    return query


async def housing_locations(
    session: AsyncSession, query: Select[Any], limit: int | None = None
) -> list[HousingLocation]:
    if limit is not None:
        query = query.limit(limit)
    return list((await session.execute(query)).scalars())


async def risks_of(
    session: AsyncSession, kvk_numbers: Iterable[str], schemes: Sequence[str]
) -> dict[str, list[CertificateStanding]]:
    numbers = sorted(set(kvk_numbers))
    result: dict[str, list[CertificateStanding]] = defaultdict(list)
    if numbers:
        rows = await session.execute(
            select(CertificateStanding)
            .where(CertificateStanding.kvk_number.in_(numbers), _risky(schemes))
            .order_by(CertificateStanding.event_time, CertificateStanding.certificate_id)
        )
        for row in rows.scalars():
            result[row.kvk_number].append(row)
    return result


async def latest_occupancy(session: AsyncSession, location_ids: Sequence[str]) -> dict[str, OccupancyReport]:
    if not location_ids:
        return {}
    latest = (
        select(OccupancyReport.housing_location_id, func.max(OccupancyReport.reported_on).label("day"))
        .where(OccupancyReport.housing_location_id.in_(location_ids))
        .group_by(OccupancyReport.housing_location_id)
        .subquery()
    )
    rows = await session.execute(
        select(OccupancyReport).join(
            latest,
            and_(
                OccupancyReport.housing_location_id == latest.c.housing_location_id,
                OccupancyReport.reported_on == latest.c.day,
            ),
        )
    )
    return {r.housing_location_id: r for r in rows.scalars()}


async def occupancy_reports(session: AsyncSession, location_id: str) -> list[OccupancyReport]:
    rows = await session.execute(
        select(OccupancyReport)
        .where(OccupancyReport.housing_location_id == location_id)
        .order_by(OccupancyReport.reported_on.desc())
    )
    return list(rows.scalars())


async def occupancy_on(session: AsyncSession, location_id: str, day: date) -> OccupancyReport | None:
    query = select(OccupancyReport).where(
        OccupancyReport.housing_location_id == location_id, OccupancyReport.reported_on == day
    )
    return (await session.execute(query)).scalar_one_or_none()


# Statistics snapshots.


async def save_snapshots(session: AsyncSession, rows: Sequence[tuple[str, dict[str, Any], datetime]]) -> None:
    if not rows:
        return
    now = datetime.now(UTC)
    statement = _insert(session, StatisticsSnapshot).values(
        [{"key": key, "payload": payload, "as_of": as_of, "fetched_at": now} for key, payload, as_of in rows]
    )
    statement = statement.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "payload": statement.excluded.payload,
            "as_of": statement.excluded.as_of,
            "fetched_at": statement.excluded.fetched_at,
        },
    )
    await session.execute(statement)


# Event consumption.


async def feed_cursor(session: AsyncSession, feed: str, for_update: bool = False) -> str | None:
    """The cursor of a feed; with ``for_update`` the row is created if missing and locked."""
    if for_update:
        await session.execute(
            _insert(session, FeedCursor)
            .values(feed=feed, cursor=None, updated_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["feed"])
        )
    query = select(FeedCursor.cursor).where(FeedCursor.feed == feed)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def move_cursor(session: AsyncSession, feed: str, cursor: str | None) -> None:
    row = await session.get(FeedCursor, feed)
    assert row is not None
    row.cursor = cursor
    row.updated_at = datetime.now(UTC)
    await session.flush()


async def processed(session: AsyncSession, event_id: str) -> bool:
    return (await session.get(ProcessedEvent, event_id)) is not None


async def record_processed(session: AsyncSession, event_id: str, source: str, event_type: str) -> None:
    session.add(ProcessedEvent(event_id=event_id, source=source, type=event_type, processed_at=datetime.now(UTC)))
    await session.flush()


async def set_standing(
    session: AsyncSession,
    *,
    certificate_id: str,
    kvk_number: str,
    scheme: str,
    status: str,
    effective_date: date | None,
    event_id: str,
    event_time: datetime,
) -> None:
    row = await session.get(CertificateStanding, certificate_id)
    now = datetime.now(UTC)
    if row is None:
        session.add(
            CertificateStanding(
                certificate_id=certificate_id,
                kvk_number=kvk_number,
                scheme=scheme,
                status=status,
                effective_date=effective_date,
                event_id=event_id,
                event_time=event_time,
                updated_at=now,
            )
        )
    else:
        row.kvk_number, row.scheme, row.status = kvk_number, scheme, status
        row.effective_date, row.event_id, row.event_time, row.updated_at = effective_date, event_id, event_time, now
    await session.flush()
