"""Publishing into the outbox, sequencing committed events into the feed, rendering CloudEvents."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import Table, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lmx_common.db import Database, insert_rows
from lmx_common.events.audience import entitled
from lmx_common.events.tables import EventModels, OutboxColumns

_JSON = JSONFormat()


async def publish(
    session: AsyncSession,
    models: EventModels,
    *,
    type: str,
    subject: str | None,
    data: dict[str, Any],
    audience: list[str] | None = None,
    occurred_at: datetime | None = None,
) -> str:
    """Add an event to the caller's transaction (flush only); returns the event id.

    ``data`` must carry ids, codes and statuses only: never personal data. ``audience``: the party
    keys that may receive it (:mod:`lmx_common.events.audience`); None = every ``events:read`` client.
    An event about one person must have one.
    """
    if type not in models.event_types:
        raise ValueError(f"unknown event type {type!r}")
    event_id = str(uuid.uuid4())
    session.add(
        models.outbox(
            id=event_id,
            position=None,
            type=type,
            subject=subject,
            data=data,
            audience=audience,
            occurred_at=occurred_at or datetime.now(UTC),
        )
    )
    await session.flush()
    return event_id


async def publish_many(
    session: AsyncSession,
    models: EventModels,
    *,
    type: str,
    events: list[tuple[str | None, dict[str, Any], list[str] | None]],
    occurred_at: datetime | None = None,
) -> list[str]:
    """Like :func:`publish` for many events of one type in one statement (a bulk import's: COPY on
    PostgreSQL); ``events`` holds (subject, data, audience) triples. Returns the event ids in order."""
    if type not in models.event_types:
        raise ValueError(f"unknown event type {type!r}")
    if not events:
        return []
    when = occurred_at or datetime.now(UTC)
    if when.tzinfo is None:  # COPY bypasses UtcDateTime's check
        raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
    ids = [str(uuid.uuid4()) for _ in events]
    rows = [
        (event_id, None, type, subject, data, audience, when)
        for event_id, (subject, data, audience) in zip(ids, events, strict=True)
    ]
    table: Table = models.outbox.__table__  # type: ignore[attr-defined]
    columns = ("id", "position", "type", "subject", "data", "audience", "occurred_at")
    await insert_rows(session, table, columns, rows)
    return ids


async def sequence(session: AsyncSession, models: EventModels, batch: int = 500) -> int:
    """Give committed, unsequenced events their feed positions and fan them out to subscribers.

    Run in its own transaction and commit right after. The first statement updates the feed-head
    row, which serialises sequencers (row lock on PostgreSQL, write lock on SQLite) until commit;
    so positions become visible in increasing order and a reader past position p can never later
    see a new event at or below p. Returns how many events were sequenced.
    """
    state = models.feed_state
    outbox = models.outbox
    await session.execute(update(state).where(state.id == 1).values(last_position=state.last_position))
    last = (await session.execute(select(state.last_position).where(state.id == 1))).scalar_one()
    pending = (
        await session.execute(
            select(outbox.id, outbox.type, outbox.occurred_at, outbox.audience)
            .where(outbox.position.is_(None))
            .order_by(outbox.occurred_at, outbox.id)
            .limit(batch)
        )
    ).all()
    if not pending:
        return 0
    now = datetime.now(UTC)
    assigned = [
        _Sequenced(event_id, event_type, occurred_at, last + n, audience)
        for n, (event_id, event_type, occurred_at, audience) in enumerate(pending, start=1)
    ]
    await session.execute(
        update(outbox),
        [{"id": e.event_id, "position": e.position, "sequenced_at": now} for e in assigned],
    )
    await session.execute(update(state).where(state.id == 1).values(last_position=assigned[-1].position))
    await _fan_out(session, models, assigned, now)
    await session.flush()
    return len(assigned)


SEQUENCE_BATCH = 500


async def sequence_pending(database: Database, models: EventModels, max_batches: int = 1) -> int:
    """Sequence committed events now, up to `max_batches` batches of SEQUENCE_BATCH, each in a short
    transaction of its own (cheap when none wait). Returns how many were sequenced."""
    async with database.sessionmaker() as session:
        waiting = (await session.execute(select(exists().where(models.outbox.position.is_(None))))).scalar_one()
        await session.rollback()
        if not waiting:
            return 0
        total = 0
        for _ in range(max_batches):
            async with session.begin():
                done = await sequence(session, models, SEQUENCE_BATCH)
            total += done
            if done < SEQUENCE_BATCH:
                break
        return total


@dataclass(frozen=True)
class _Sequenced:
    event_id: str
    event_type: str
    occurred_at: datetime
    position: int
    audience: list[str] | None


async def _fan_out(session: AsyncSession, models: EventModels, assigned: Sequence[_Sequenced], now: datetime) -> None:
    """A delivery per subscription for each event of its types that occurred after it subscribed and
    whose audience takes in the subscription's owner (docs/decisions/0028): a subscriber not entitled
    to an event gets no delivery of it, not even a pending one."""
    sub = models.subscription
    subscriptions = (await session.execute(select(sub.id, sub.event_types, sub.created_at, sub.parties))).all()
    rows = [
        {
            "subscription_id": subscription_id,
            "event_id": e.event_id,
            "position": e.position,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for e in assigned
        for subscription_id, event_types, subscribed_at, parties in subscriptions
        if e.event_type in event_types and e.occurred_at >= subscribed_at and entitled(e.audience, parties)
    ]
    if rows:
        await session.execute(models.delivery.__table__.insert(), rows)  # type: ignore[attr-defined]


def cloud_event(row: OutboxColumns, source: str) -> CloudEvent:
    attributes: dict[str, Any] = {
        "id": row.id,
        "source": source,
        "type": row.type,
        "time": row.occurred_at.astimezone(UTC),
        "datacontenttype": "application/json",
    }
    if row.subject:
        attributes["subject"] = row.subject
    return CloudEvent(attributes, dict(row.data))


def cloud_event_json(row: OutboxColumns, source: str) -> bytes:
    """The event in CloudEvents 1.0 structured JSON (``application/cloudevents+json``)."""
    return _JSON.write(cloud_event(row, source))


def cloud_event_dict(row: OutboxColumns, source: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(cloud_event_json(row, source))
    return value
