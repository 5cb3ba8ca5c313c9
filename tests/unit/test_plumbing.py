"""The shared plumbing on its own: settings, the unit of work, logs, trace context, JWKS caching."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import ValidationError
from sqlalchemy import Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.config import GatewaySettings
from lmx_common.app import build_app
from lmx_common.auth import JwksKeySource
from lmx_common.db import Database, request_session
from lmx_common.logging import JsonFormatter
from lmx_common.problems import ProblemError
from lmx_common.tracing import child_of, transaction_id
from services.registry.config import RegistrySettings
from tests.conftest import assert_problem


class Base(DeclarativeBase):
    pass


SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(50))


def test_production_refuses_development_secrets_and_sqlite():
    with pytest.raises(ValidationError, match="development secrets: key_passphrase"):
        GatewaySettings(environment="production", database_url="postgresql+asyncpg://db/gateway")
    with pytest.raises(ValidationError, match="development secrets: encryption_key, pseudonym_key"):
        RegistrySettings(environment="production", database_url="postgresql+asyncpg://db/registry")
    with pytest.raises(ValidationError, match="SQLite"):
        RegistrySettings(environment="production", pseudonym_key="k1-from-vault", encryption_key="k2-from-vault")
    ok = GatewaySettings(
        environment="production",
        database_url="postgresql+asyncpg://db/gateway",
        key_passphrase="a-real-secret-from-the-vault",
    )
    assert ok.environment == "production"


def test_trace_context_continues_a_valid_trace_and_replaces_an_invalid_one():
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    child = child_of(parent)
    assert child.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert child.span_id != "00f067aa0ba902b7" and len(child.span_id) == 16
    for invalid in (None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "01-abc-def-01"):
        fresh = child_of(invalid)
        assert len(fresh.trace_id) == 32 and fresh.trace_id != "0" * 32
    assert transaction_id("abc-123") == "abc-123"
    assert transaction_id("bad value with spaces") != "bad value with spaces"


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

    from contextlib import asynccontextmanager

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


def test_json_logs_carry_no_exception_message():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ValueError("BSN 111222333 of Jan Jansen")
    except ValueError:
        logger.exception("failed", extra={"registrationId": "r-1"})
    record = json.loads(stream.getvalue())
    assert record["event"] == "failed" and record["component"] == "test" and record["registrationId"] == "r-1"
    assert record["errorType"] == "ValueError"
    assert "111222333" not in stream.getvalue() and "Jansen" not in stream.getvalue()


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter("test"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_access_log_leaves_out_the_query_string(stack, http):
    token = await stack.client_token(http)
    collect = Collect()
    logging.getLogger("lmx.access").addHandler(collect)
    try:
        await http.get(
            stack.registry + "/v1/municipalities?provinceCode=PV30&secretQuery=123456782",
            headers={"Authorization": f"Bearer {token}"},
        )
        for _ in range(100):  # the line is written just after the response is sent
            if any('"/v1/municipalities"' in line for line in collect.lines):
                break
            await asyncio.sleep(0.01)
    finally:
        logging.getLogger("lmx.access").removeHandler(collect)
    lines = [json.loads(line) for line in collect.lines]
    logged = [line for line in lines if line.get("path") == "/v1/municipalities"]
    assert logged, collect.lines
    assert logged[0]["status"] == 200 and logged[0]["clientId"] and logged[0]["method"] == "GET"
    assert logged[0]["transactionId"] and logged[0]["traceId"]
    assert all("123456782" not in line and "secretQuery" not in line for line in collect.lines)


async def test_jwks_source_caches_and_refreshes_for_an_unknown_kid():
    calls = []
    keys = {"keys": []}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json=keys)

    from tests.support.tokens import new_rsa_key

    private, _ = new_rsa_key()
    import jwt as pyjwt

    jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        source = JwksKeySource(
            "http://issuer/.well-known/jwks.json", client, cache_seconds=300, min_refresh_seconds=0.05
        )
        assert await source.key_for("k1") is None
        assert len(calls) == 1
        keys["keys"] = [jwk | {"kid": "k1", "alg": "RS256"}]
        assert await source.key_for("k1") is not None  # unknown kid: refreshed (after the minimum interval)
        assert len(calls) == 2
        for _ in range(5):
            assert await source.key_for("k1") is not None
        assert len(calls) == 2  # served from the cache
