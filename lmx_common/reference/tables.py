"""The municipality reference table every service that needs it keeps in its own database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from lmx_common.reference import MUNICIPALITY_VINTAGE, municipalities


class MunicipalityColumns:
    """Mixin: a service's `municipalities` table (CBS codes of the current vintage)."""

    __tablename__ = "municipalities"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    province_code: Mapped[str] = mapped_column(String(4), index=True)
    province_name: Mapped[str] = mapped_column(String(50))
    vintage: Mapped[str] = mapped_column(String(4))


async def load_municipalities(session: AsyncSession, model: Any) -> int:
    """Insert or update every municipality of the current list; returns how many changed."""
    existing = {m.code: m for m in (await session.execute(select(model))).scalars()}
    changed = 0
    for ref in municipalities().values():
        row = existing.get(ref.code)
        values = {
            "name": ref.name,
            "province_code": ref.province_code,
            "province_name": ref.province_name,
            "vintage": MUNICIPALITY_VINTAGE,
        }
        if row is None:
            session.add(model(code=ref.code, **values))
            changed += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            changed += 1
    await session.flush()
    return changed
