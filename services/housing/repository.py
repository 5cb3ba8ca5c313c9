from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.housing.models import Region, RegionMember


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
