"""Load the reference data into every service database that keeps a copy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database
from lmx_common.reference.tables import load_municipalities
from services.certification.reference import load_schemes
from services.housing.reference import load_reference as load_housing_reference
from services.registry.models import Municipality as RegistryMunicipality


async def _registry(session: AsyncSession) -> int:
    return await load_municipalities(session, RegistryMunicipality)


LOADERS: dict[str, Callable[[AsyncSession], Awaitable[int]]] = {
    "registry": _registry,
    "certification": load_schemes,
    "housing": load_housing_reference,
}


async def load_all(urls: dict[str, str]) -> dict[str, int]:
    """Idempotent: returns how many rows each database gained or changed."""
    changed: dict[str, int] = {}
    for name, loader in LOADERS.items():
        database = Database(urls[name])
        try:
            async with database.sessionmaker() as session, session.begin():
                changed[name] = await loader(session)
        finally:
            await database.dispose()
    return changed
