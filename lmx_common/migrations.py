"""Alembic plumbing: one chain per database, run programmatically or from each chain's env.py."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from sqlalchemy.engine import Connection

from lmx_common.db import create_engine

DATABASES = ("gateway", "registry", "certification", "housing")


def migrations_root() -> Path:
    """Where the chains live: $LMX_MIGRATIONS_DIR, else the project checkout, else ./migrations."""
    configured = os.environ.get("LMX_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    beside_package = Path(__file__).resolve().parent.parent / "migrations"
    if beside_package.is_dir():
        return beside_package
    return Path.cwd() / "migrations"


def alembic_config(name: str, url: str) -> Config:
    if name not in DATABASES:
        raise ValueError(f"unknown database {name!r}")
    config = Config()
    config.set_main_option("script_location", str(migrations_root() / name))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = url
    return config


def upgrade(name: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(name, url), revision)


def downgrade(name: str, url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(name, url), revision)


def run_env(context: EnvironmentContext) -> None:
    """Body of every chain's env.py: run the migrations online over the async engine."""
    url: str = context.config.attributes.get("database_url") or context.config.get_main_option("sqlalchemy.url") or ""
    if not url:
        raise RuntimeError("no database url given to the migration")

    def do_run(connection: Connection) -> None:
        kwargs: dict[str, Any] = {"connection": connection, "target_metadata": None}
        if connection.dialect.name == "sqlite":
            kwargs["render_as_batch"] = True
        context.configure(**kwargs)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(do_run)
                await connection.commit()
        finally:
            await engine.dispose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run())
    else:  # called from inside an event loop (tests): run in a fresh loop in a worker thread
        import threading

        errors: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(run())
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
