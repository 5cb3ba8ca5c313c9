"""Reading what a service stored, straight from its database (tests only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from lmx_common.db import Database


async def rows(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            result = await conn.execute(text(sql), params)
            return [dict(r._mapping) for r in result]
    finally:
        await database.dispose()


async def scalar(url: str, sql: str, **params: Any) -> Any:
    found = await rows(url, sql, **params)
    return next(iter(found[0].values())) if found else None
