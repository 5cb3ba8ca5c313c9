"""Idempotency-Key for creating POSTs: the same key and request give the same answer and one row.

The policy of docs/decisions/0014, for every service:

- The key is claimed in its own short transaction before the work (:meth:`IdempotencyKeys.claim`),
  so a second request with the same key sees it at once: still in flight (409 with
  ``Retry-After: 1``), done with the same request (the caller replays its 201), or done with
  another request (422).
- The claim is completed in the request's own transaction together with what it created
  (:meth:`IdempotencyKeys.complete`); a request that fails releases its claim
  (:meth:`IdempotencyKeys.release`) so the client may retry. Keys are kept for a day.

Wiring: a service's table class uses :class:`IdempotencyKeyColumns`, its migration calls
:func:`create_idempotency_table` (``lmx_common.idempotency_migration``), and its
``idempotency.py`` binds ``IdempotencyKeys(TheTable)``. :meth:`IdempotencyKeys.once` wraps the
whole claim / create / complete / release cycle for an endpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request

from lmx_common.db import Database, UtcDateTime
from lmx_common.problems import InvalidParam, ProblemError, invalid_input

MAX_KEY_LENGTH = 200
KEEP_FOR = timedelta(days=1)
IN_FLIGHT = "in-flight"
DONE = "done"
T = TypeVar("T")


class IdempotencyKeyColumns:
    """Mixin: ``idempotency_keys``, a client's key, the hash of its request and, once done, what it created."""

    if TYPE_CHECKING:  # the mapped subclass gets SQLAlchemy's keyword constructor

        def __init__(self, **kwargs: Any) -> None: ...

    __tablename__ = "idempotency_keys"

    client_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))  # in-flight | done
    resource_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


def body_hash(body: bytes) -> str:
    """SHA-256 of a request body, hex."""
    return hashlib.sha256(body).hexdigest()


async def request_hash(request: Request) -> str:
    """SHA-256 of method, path and body: the same key on another endpoint is another request."""
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    digest.update(await request.body())
    return digest.hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise invalid_input(
            [InvalidParam("Idempotency-Key", f"1-{MAX_KEY_LENGTH} printable characters.", "invalid", "header")]
        )


class IdempotencyKeys:
    """Claim, complete and release keys in one service's ``idempotency_keys`` table."""

    def __init__(self, table: type[IdempotencyKeyColumns]) -> None:
        self.table: Any = table  # a mapped class; Any so its columns are SQL expressions to mypy

    def _one(self, client_id: str, key: str) -> Any:
        return select(self.table).where(self.table.client_id == client_id, self.table.key == key)

    async def claim(self, database: Database, client_id: str, key: str, body_hash: str) -> str | None:
        """Claim the key. Returns the id created earlier with the same key and request (replay), or None."""
        check_key(key)
        now = datetime.now(UTC)
        async with database.sessionmaker() as session:
            await session.execute(delete(self.table).where(self.table.created_at < now - KEEP_FOR))
            session.add(
                self.table(client_id=client_id, key=key, request_hash=body_hash, state=IN_FLIGHT, created_at=now)
            )
            try:
                await session.commit()
                return None
            except IntegrityError:
                await session.rollback()
            existing = (await session.execute(self._one(client_id, key))).scalar_one()
        if existing.request_hash != body_hash:
            raise ProblemError(422, "This Idempotency-Key was used with another request.", slug="unprocessable")
        if existing.state != DONE or existing.resource_id is None:
            raise ProblemError(
                409,
                "A request with this Idempotency-Key is still in progress.",
                slug="conflict",
                headers={"Retry-After": "1"},
            )
        return str(existing.resource_id)

    async def complete(self, session: AsyncSession, client_id: str, key: str, resource_id: str) -> None:
        """Mark the claim done in the request's own transaction, with what it created."""
        claimed = (await session.execute(self._one(client_id, key))).scalar_one()
        claimed.state = DONE
        claimed.resource_id = resource_id
        await session.flush()

    async def release(self, database: Database, client_id: str, key: str) -> None:
        """Drop an unfinished claim (in its own transaction) so the client may retry."""
        async with database.sessionmaker() as session, session.begin():
            await session.execute(
                delete(self.table).where(
                    self.table.client_id == client_id, self.table.key == key, self.table.state == IN_FLIGHT
                )
            )

    async def once(
        self,
        request: Request,
        session: AsyncSession,
        client_id: str,
        key: str | None,
        create: Callable[[], Awaitable[tuple[str, T]]],
        replay: Callable[[str], Awaitable[T]],
    ) -> T:
        """Run ``create`` (returning the new resource's id and the answer) once per key; a repeat of
        the same request answers ``replay(id)`` instead. Without a key ``create`` simply runs."""
        if key is None:
            return (await create())[1]
        database: Database = request.app.state.database
        earlier = await self.claim(database, client_id, key, await request_hash(request))
        if earlier is not None:
            return await replay(earlier)
        try:
            resource_id, answer = await create()
            await self.complete(session, client_id, key, resource_id)
        except BaseException:
            # Roll the request's transaction back first: on SQLite its open write transaction would
            # otherwise hold the lock the release needs (the session dependency rolls back again, a no-op).
            await session.rollback()
            await self.release(database, client_id, key)
            raise
        return answer
