"""Idempotency-Key for creating POSTs: the same key and body give the same answer and one row.

The key is claimed in its own short transaction before the work starts, so a second request
with the same key sees it at once: in flight (409), done with the same body (replay), or done
with another body (422). The claim is completed in the request's transaction, together with
what it created; a request that fails releases its claim so the client may retry.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database
from lmx_common.problems import InvalidParam, ProblemError, invalid_input
from services.registry.models import IdempotencyKey

MAX_KEY_LENGTH = 200
KEEP_FOR = timedelta(days=1)


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise invalid_input(
            [InvalidParam("Idempotency-Key", f"1-{MAX_KEY_LENGTH} printable characters", "invalid", "header")]
        )


async def claim(database: Database, client_id: str, key: str, request_hash: str) -> str | None:
    """Claim the key. Returns the id created earlier with the same key and body (replay), or None."""
    check_key(key)
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
        raise ProblemError(422, "This Idempotency-Key was used with another request body.", slug="unprocessable")
    if existing.state != "done" or existing.resource_id is None:
        raise ProblemError(
            409,
            "A request with this Idempotency-Key is still being processed.",
            slug="conflict",
            headers={"Retry-After": "1"},
        )
    return existing.resource_id


async def complete(session: AsyncSession, client_id: str, key: str, resource_id: str) -> None:
    """Mark the claim done in the request's own transaction, with what it created."""
    claimed = (
        await session.execute(
            select(IdempotencyKey).where(IdempotencyKey.client_id == client_id, IdempotencyKey.key == key)
        )
    ).scalar_one()
    claimed.state = "done"
    claimed.resource_id = resource_id
    await session.flush()


async def release(database: Database, client_id: str, key: str) -> None:
    async with database.sessionmaker() as session, session.begin():
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.client_id == client_id, IdempotencyKey.key == key, IdempotencyKey.state == "in-flight"
            )
        )
