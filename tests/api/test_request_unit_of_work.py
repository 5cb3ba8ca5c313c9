"""The unit of work: a request commits when it succeeds and rolls back when it fails (a minimal app on
the shared plumbing, on SQLite, in process)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lmx_common.app import build_app
from lmx_common.db import Database, request_session
from lmx_common.problems import ProblemError
from tests.conftest import assert_problem


class Base(DeclarativeBase):
    pass


SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(50))


@pytest.fixture
async def notes_app(tmp_path):
    """A minimal app on the shared plumbing with one table, to observe the unit of work."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/notes.db")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    router = APIRouter()

    @router.post("/notes/{note_id}", status_code=201)
    async def create(note_id: int, session: SessionDep, fail: bool = False) -> dict[str, int]:
        session.add(Note(id=note_id, text="hello"))
        await session.flush()
        if fail:
            raise ProblemError(409, "refused after the write", slug="conflict")
        return {"id": note_id}

    @router.post("/duplicates/{note_id}", status_code=201)
    async def duplicate_at_commit(note_id: int, session: SessionDep) -> dict[str, int]:
        session.add(Note(id=note_id, text="again"))  # no flush: the conflict surfaces at commit
        return {"id": note_id}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.database = database
        yield

    app = build_app(
        title="notes",
        description="",
        version="1.2.3",
        lifespan=lifespan,
        openapi_path="/openapi.json",
        routers=[router],
    )
    async with lifespan(app):
        yield app, database
    await database.dispose()


async def stored_ids(database: Database) -> list[int]:
    async with database.sessionmaker() as session:
        return list((await session.execute(select(Note.id).order_by(Note.id))).scalars())


async def test_a_request_commits_when_it_succeeds_and_rolls_back_when_it_fails(notes_app):
    app, database = notes_app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.post("/notes/1")).status_code == 201
        assert await stored_ids(database) == [1]
        assert_problem(await client.post("/notes/2?fail=true"), 409, "conflict")
        assert await stored_ids(database) == [1]


async def test_a_failing_commit_never_answers_success(notes_app):
    app, database = notes_app
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/notes/5")).status_code == 201
        response = await client.post("/duplicates/5")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["api-version"] == "1.2.3"  # even an unexpected error carries the headers
        assert response.headers["x-content-type-options"] == "nosniff"
    assert await stored_ids(database) == [5]
