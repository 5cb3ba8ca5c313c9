"""Mixins for a service's event tables: the outbox (feed), the feed head, subscriptions, deliveries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from lmx_common.auth import Principal
from lmx_common.db import UtcDateTime
from lmx_common.events.audience import organisation_parties

# The states of a delivery (``event_deliveries.status``).
PENDING, DELIVERED, DEAD_LETTERED = "pending", "delivered", "dead-lettered"
DELIVERY_STATUSES = (PENDING, DELIVERED, DEAD_LETTERED)

# BIGINT does not alias SQLite's rowid, so it would not auto-increment there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class OutboxColumns:
    """Mixin: ``outbox_events``, one row per domain event, written in the causing transaction.

    ``position`` stays NULL until the sequencer gives the committed row its place in the feed.
    ``audience`` is who may receive the event (feed and webhooks): NULL = every ``events:read``
    client; otherwise the party keys (:mod:`lmx_common.events.audience`) entitled to it.
    """

    if TYPE_CHECKING:  # the mapped subclass gets SQLAlchemy's keyword constructor

        def __init__(self, **kwargs: Any) -> None: ...

    __tablename__ = "outbox_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    position: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    type: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    audience: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sequenced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        # The sequencer takes the oldest pending events: a partial index in exactly that order.
        pending = text("position IS NULL")
        return (Index("ix_outbox_events_pending", "occurred_at", "id", postgresql_where=pending, sqlite_where=pending),)


class FeedStateColumns:
    """Mixin: ``event_feed_state``, one row (id 1) holding the last assigned feed position.

    Updating that row is the sequencer's lock: a row lock on PostgreSQL, the write lock on SQLite.
    """

    if TYPE_CHECKING:  # the mapped subclass gets SQLAlchemy's keyword constructor

        def __init__(self, **kwargs: Any) -> None: ...

    __tablename__ = "event_feed_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_position: Mapped[int] = mapped_column(BigInteger)


class SubscriptionColumns:
    """Mixin: ``event_subscriptions``, webhook subscriptions owned by one client."""

    if TYPE_CHECKING:  # the mapped subclass gets SQLAlchemy's keyword constructor

        def __init__(self, **kwargs: Any) -> None: ...

    __tablename__ = "event_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100), index=True)
    organisation_oin: Mapped[str] = mapped_column(String(20))
    callback_url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    # The owner's party keys when it subscribed: it receives an event with an audience only if one of
    # them is in it (checked at fan-out and again before each attempt).
    parties: Mapped[list[str] | None] = mapped_column(JSON)
    # Needed in clear to sign; shown to the subscriber once, never logged or returned again.
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeliveryColumns:
    """Mixin: ``event_deliveries``, one row per (subscription, event), its state and retry schedule."""

    if TYPE_CHECKING:  # the mapped subclass gets SQLAlchemy's keyword constructor

        def __init__(self, **kwargs: Any) -> None: ...

    __tablename__ = "event_deliveries"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            UniqueConstraint("subscription_id", "event_id", name="uq_event_deliveries_subscription_id"),
            Index("ix_event_deliveries_due", "status", "next_attempt_at"),
        )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(36), ForeignKey("event_subscriptions.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(36), ForeignKey("outbox_events.id"))
    position: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))  # pending | delivered | dead-lettered
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class EventModels:
    """A service's four event table classes, handed to every helper of this package."""

    outbox: type[OutboxColumns]
    feed_state: type[FeedStateColumns]
    subscription: type[SubscriptionColumns]
    delivery: type[DeliveryColumns]
    source: str  # the CloudEvents source, e.g. "urn:lmx:certification"
    event_types: tuple[str, ...]  # what a subscriber may subscribe to
    # A caller's party keys, matched against an event's audience (lmx_common.events.audience).
    parties: Callable[[Principal], Sequence[str]] = field(default=organisation_parties)
