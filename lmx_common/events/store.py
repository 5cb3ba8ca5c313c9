"""Every query of the feed and subscription routes: they call these and hold no SQL of their own.

Functions take the request's session and the service's :class:`EventModels`; they flush, never
commit (the request's session commits when the endpoint returns).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, case, cast, delete, exists, false, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.events.schemas import DeliveryState
from lmx_common.events.tables import (
    DEAD_LETTERED,
    DELIVERED,
    PENDING,
    DeliveryColumns,
    EventModels,
    OutboxColumns,
    SubscriptionColumns,
)


async def feed_head(session: AsyncSession, models: EventModels) -> int:
    """The last position the sequencer gave out: every position up to it is committed and readable."""
    state = models.feed_state
    head = (await session.execute(select(state.last_position).where(state.id == 1))).scalar_one_or_none()
    return int(head or 0)


async def feed_page(
    session: AsyncSession,
    models: EventModels,
    after: int,
    limit: int,
    *,
    upto: int | None = None,
    parties: Sequence[str] | None = None,
) -> Sequence[OutboxColumns]:
    """Up to ``limit`` sequenced events after feed position ``after`` (and at most ``upto``), in feed
    order; with ``parties``, only those whose audience is NULL or names one of them (in SQL)."""
    outbox = models.outbox
    statement = select(outbox).where(outbox.position.is_not(None), outbox.position > after)
    if upto is not None:
        statement = statement.where(outbox.position <= upto)
    if parties is not None:
        dialect = (await session.connection()).dialect.name
        statement = statement.where(or_(outbox.audience.is_(None), _names_any(dialect, outbox.audience, parties)))
    return (await session.execute(statement.order_by(outbox.position).limit(limit))).scalars().all()


def _names_any(dialect: str, audience: Any, parties: Sequence[str]) -> ColumnElement[bool]:
    """SQL: the JSON list ``audience`` holds one of ``parties``."""
    if not parties:
        return false()
    if dialect == "postgresql":
        names: ColumnElement[bool] = cast(audience, JSONB).has_any(
            cast(postgresql.array(list(parties)), postgresql.ARRAY(Text))
        )
        return names
    members = func.json_each(audience).table_valued("value")
    return exists(select(members.c.value).where(members.c.value.in_(list(parties))))


async def owned_subscription(
    session: AsyncSession, models: EventModels, subscription_id: str, client_id: str
) -> SubscriptionColumns | None:
    """The subscription if it exists and belongs to this client; otherwise none."""
    sub = models.subscription
    statement = select(sub).where(sub.id == subscription_id, sub.client_id == client_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def client_subscriptions(
    session: AsyncSession, models: EventModels, client_id: str
) -> Sequence[SubscriptionColumns]:
    sub = models.subscription
    statement = select(sub).where(sub.client_id == client_id).order_by(sub.created_at)
    return (await session.execute(statement)).scalars().all()


async def add_subscription(session: AsyncSession, row: SubscriptionColumns) -> None:
    session.add(row)
    await session.flush()


async def delete_subscription(session: AsyncSession, models: EventModels, subscription_id: str) -> None:
    """The subscription and its deliveries (pending ones are dropped)."""
    await session.execute(delete(models.delivery).where(models.delivery.subscription_id == subscription_id))
    await session.execute(delete(models.subscription).where(models.subscription.id == subscription_id))


async def deliveries_page(
    session: AsyncSession,
    models: EventModels,
    subscription_id: str,
    *,
    after: int,
    status: str | None,
    limit: int,
) -> Sequence[DeliveryColumns]:
    """A subscription's deliveries after feed position ``after``, optionally of one status."""
    d = models.delivery
    statement = select(d).where(d.subscription_id == subscription_id, d.position > after)
    if status:
        statement = statement.where(d.status == status)
    return (await session.execute(statement.order_by(d.position).limit(limit))).scalars().all()


async def replay_dead_letters(
    session: AsyncSession, models: EventModels, subscription_id: str, event_ids: list[str] | None
) -> int:
    """Dead-lettered deliveries back to pending with a fresh attempt budget; returns how many."""
    d = models.delivery
    statement = (
        update(d)
        .where(d.subscription_id == subscription_id, d.status == DEAD_LETTERED)
        .values(status=PENDING, attempts=0, next_attempt_at=datetime.now(UTC))
    )
    if event_ids is not None:
        statement = statement.where(d.event_id.in_(event_ids))
    result = await session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


def empty_state() -> DeliveryState:
    return DeliveryState(
        pending=0,
        delivered=0,
        deadLettered=0,
        failedAttempts=0,
        lastError=None,
        lastAttemptAt=None,
        nextAttemptAt=None,
    )


async def delivery_states(
    session: AsyncSession, models: EventModels, subscription_ids: list[str]
) -> dict[str, DeliveryState]:
    """Per subscription, counts and schedule of its deliveries, aggregated in SQL."""
    d = models.delivery
    states = {sid: empty_state() for sid in subscription_ids}
    if not subscription_ids:
        return states
    rows = await session.execute(
        select(
            d.subscription_id,
            func.sum(case((d.status == PENDING, 1), else_=0)),
            func.sum(case((d.status == DELIVERED, 1), else_=0)),
            func.sum(case((d.status == DEAD_LETTERED, 1), else_=0)),
            func.sum(case((d.status == DELIVERED, d.attempts - 1), else_=d.attempts)),
            func.max(d.last_attempt_at),
            func.min(case((d.status == PENDING, d.next_attempt_at), else_=None)),
        )
        .where(d.subscription_id.in_(subscription_ids))
        .group_by(d.subscription_id)
    )
    for sid, pending, delivered, dead, failed, last_attempt, next_attempt in rows:
        state = states[sid]
        state.pending, state.delivered, state.dead_lettered = int(pending or 0), int(delivered or 0), int(dead or 0)
        state.failed_attempts = int(failed or 0)
        state.last_attempt_at = _aware(last_attempt)
        state.next_attempt_at = _aware(next_attempt)
    for sid in subscription_ids:  # the latest error of each (a client has few subscriptions)
        states[sid].last_error = (
            await session.execute(
                select(d.last_error)
                .where(d.subscription_id == sid, d.last_error.is_not(None))
                .order_by(d.last_attempt_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    return states


def _aware(value: Any) -> datetime | None:
    """Aggregates may bypass the column type; SQLite can hand back naive text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
