from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.models import Municipality


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
