"""Create and drop a service's event tables from its own Alembic migration, in one call each."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def create_event_tables() -> None:
    """The outbox, the feed head (seeded at position 0), subscriptions and deliveries."""
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sequenced_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_events"),
        sa.UniqueConstraint("position", name="uq_outbox_events_position"),
    )
    op.create_index("ix_outbox_events_unsequenced", "outbox_events", ["position", "occurred_at"])
    feed_state = op.create_table(
        "event_feed_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_feed_state"),
    )
    op.bulk_insert(feed_state, [{"id": 1, "last_position": 0}])
    op.create_table(
        "event_subscriptions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("organisation_oin", sa.String(20), nullable=False),
        sa.Column("callback_url", sa.String(2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_subscriptions"),
    )
    op.create_index("ix_event_subscriptions_client_id", "event_subscriptions", ["client_id"])
    op.create_table(
        "event_deliveries",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_deliveries"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["event_subscriptions.id"],
            name="fk_event_deliveries_subscription_id_event_subscriptions",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"], name="fk_event_deliveries_event_id_outbox_events"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_event_deliveries_subscription_id"),
    )
    op.create_index("ix_event_deliveries_due", "event_deliveries", ["status", "next_attempt_at"])


def drop_event_tables() -> None:
    op.drop_index("ix_event_deliveries_due", table_name="event_deliveries")
    op.drop_table("event_deliveries")
    op.drop_index("ix_event_subscriptions_client_id", table_name="event_subscriptions")
    op.drop_table("event_subscriptions")
    op.drop_table("event_feed_state")
    op.drop_index("ix_outbox_events_unsequenced", table_name="outbox_events")
    op.drop_table("outbox_events")


_PENDING = sa.text("position IS NULL")


def index_pending_events() -> None:
    """Replace the (position, occurred_at) index by a partial index of the unsequenced events in the
    sequencer's own order: with a backlog of many thousand events (a bulk import), the old index made
    every sequencer run sort the whole backlog to take its first 500 — quadratic over the backlog
    (1,000,000 registrations took 31 minutes to seed instead of a few)."""
    op.drop_index("ix_outbox_events_unsequenced", table_name="outbox_events")
    op.create_index(
        "ix_outbox_events_pending",
        "outbox_events",
        ["occurred_at", "id"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )


def unindex_pending_events() -> None:
    op.drop_index("ix_outbox_events_pending", table_name="outbox_events")
    op.create_index("ix_outbox_events_unsequenced", "outbox_events", ["position", "occurred_at"])


def add_event_audiences() -> None:
    """``outbox_events.audience`` (NULL: every ``events:read`` client may receive the event) and
    ``event_subscriptions.parties`` (the owner's party keys; an existing subscription gets its
    organisation's, ``oin:<OIN>``: its owner's municipality was never stored). docs/decisions/0028."""
    op.add_column("outbox_events", sa.Column("audience", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("event_subscriptions", sa.Column("parties", sa.JSON(), nullable=True))
    build = "json_build_array" if op.get_bind().dialect.name == "postgresql" else "json_array"
    op.execute(f"UPDATE event_subscriptions SET parties = {build}('oin:' || organisation_oin)")  # noqa: S608 - no input


def drop_event_audiences() -> None:
    op.drop_column("event_subscriptions", "parties")
    op.drop_column("outbox_events", "audience")
