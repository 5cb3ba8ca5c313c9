"""Demo data for `lmx up`: each service may ship `services/<name>/demo.py` with
`async def load_demo(session: AsyncSession) -> int` (idempotent; returns rows added)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database

SERVICES = ("registry", "certification", "housing")
Loader = Callable[[AsyncSession], Awaitable[int]]


def loaders() -> dict[str, Loader]:
    found: dict[str, Loader] = {}
    for name in SERVICES:
        try:
            module = importlib.import_module(f"services.{name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.{name}.demo":
                raise
            continue
        found[name] = cast(Loader, module.load_demo)
    return found


async def load_all(urls: dict[str, str]) -> dict[str, int]:
    added: dict[str, int] = {}
    for name, loader in loaders().items():
        database = Database(urls[name])
        try:
            async with database.sessionmaker() as session, session.begin():
                added[name] = await loader(session)
        finally:
            await database.dispose()
    return added
