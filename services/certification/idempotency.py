"""Idempotency-Key for creating POSTs: the same key and request give the same answer and one row.

As the registry does it (docs/decisions/0014): the key is claimed in its own short transaction
before the work, so a second request sees it at once — in flight (409), done with the same
request (the same 201 again), or done with another request (422). The claim is completed in the
request's transaction together with what it created; a request that fails releases its claim.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from lmx_common.auth import Principal
from lmx_common.db import Database
from lmx_common.problems import InvalidParam, ProblemError, invalid_input
from services.certification.models import IdempotencyKey

MAX_KEY_LENGTH = 200
KEEP_FOR = timedelta(days=1)
T = TypeVar("T")


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise invalid_input(
            [InvalidParam("Idempotency-Key", f"1-{MAX_KEY_LENGTH} printable characters.", "invalid", "header")]
        )


async def _request_hash(request: Request) -> str:
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    digest.update(await request.body())
    return digest.hexdigest()


async def _claim(database: Database, client_id: str, key: str, request_hash: str) -> str | None:
    """Claim the key; returns what an earlier identical request created, or None to go ahead."""
    now = datetime.now(UTC)
    async with database.sessionmaker() as session:
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - KEEP_FOR))
        session.add(
            IdempotencyKey(client_id=client_id, key=key, request_hash=request_hash, state="in-flight", created_at=now)
        )
        try:
            await session.commit()
            return None
        except IntegrityError:
            await session.rollback()
        existing = (
            await session.execute(
                select(IdempotencyKey).where(IdempotencyKey.client_id == client_id, IdempotencyKey.key == key)
            )
        ).scalar_one()
    if existing.request_hash != request_hash:
        raise ProblemError(422, "This Idempotency-Key was used with another request.", slug="unprocessable")
    if existing.state != "done" or existing.resource_id is None:
        raise ProblemError(
            409,
            "A request with this Idempotency-Key is still in progress.",
            slug="conflict",
            headers={"Retry-After": "1"},
        )
    return existing.resource_id


async def _complete(session: AsyncSession, client_id: str, key: str, resource_id: str) -> None:
    claimed = (
        await session.execute(
            select(IdempotencyKey).where(IdempotencyKey.client_id == client_id, IdempotencyKey.key == key)
        )
    ).scalar_one()
    claimed.state = "done"
    claimed.resource_id = resource_id
    await session.flush()


async def _release(database: Database, client_id: str, key: str) -> None:
    async with database.sessionmaker() as session, session.begin():
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.client_id == client_id, IdempotencyKey.key == key, IdempotencyKey.state == "in-flight"
            )
        )


async def once(
    request: Request,
    session: AsyncSession,
    caller: Principal,
    key: str | None,
    create: Callable[[], Awaitable[tuple[str, T]]],
    replay: Callable[[str], Awaitable[T]],
) -> T:
    """Run ``create`` (returning the new resource's id and the answer) once per key; a repeat of
    the same request answers ``replay(id)`` instead."""
    if key is None:
        return (await create())[1]
    _check_key(key)
    database: Database = request.app.state.database
    earlier = await _claim(database, caller.client_id, key, await _request_hash(request))
    if earlier is not None:
        return await replay(earlier)
    try:
        resource_id, answer = await create()
        await _complete(session, caller.client_id, key, resource_id)
    except BaseException:
        # Roll the request's transaction back first: on SQLite its open write transaction would
        # otherwise hold the lock the release needs (the session dependency rolls back again, a no-op).
        await session.rollback()
        await _release(database, caller.client_id, key)
        raise
    return answer
