"""Regions from the reference data: the cooperation regions and every province."""

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.reference import municipalities, provinces, regions
from lmx_common.reference.tables import load_municipalities
from services.housing.models import Municipality, Region, RegionMember


async def load_reference(session: AsyncSession) -> int:
    """Municipalities, then regions and provinces as regions. Regions an administrator already
    edited are left alone: only missing ones are created."""
    changed = await load_municipalities(session, Municipality)
    existing = {r.code for r in (await session.execute(select(Region))).scalars()}
    wanted: dict[str, tuple[str, str, list[str]]] = {
        code: (region.name, "region", list(region.municipality_codes)) for code, region in regions().items()
    }
    for code, name in provinces().items():
        members = [m.code for m in municipalities().values() if m.province_code == code]
        wanted[code] = (name, "province", members)
    for code, (name, kind, members) in wanted.items():
        if code in existing:
            continue
        session.add(Region(code=code, name=name, kind=kind))
        await session.flush()
        await session.execute(delete(RegionMember).where(RegionMember.region_code == code))
        session.add_all(RegionMember(region_code=code, municipality_code=m) for m in members)
        changed += 1
    await session.flush()
    return changed
