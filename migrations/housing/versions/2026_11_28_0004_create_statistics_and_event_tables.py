"""create statistics snapshots and the tables of the certification event consumer

Revision ID: hs0004
Revises: hs0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "hs0004"
down_revision: str | None = "hs0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statistics_snapshots",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_statistics_snapshots"),
    )
    op.create_table(
        "certificate_standings",
        sa.Column("certificate_id", sa.String(64), nullable=False),
        sa.Column("kvk_number", sa.String(8), nullable=False),
        sa.Column("scheme", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("certificate_id", name="pk_certificate_standings"),
    )
    op.create_index("ix_certificate_standings_kvk_number", "certificate_standings", ["kvk_number"])
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_events"),
    )
    op.create_table(
        "feed_cursors",
        sa.Column("feed", sa.String(50), nullable=False),
        sa.Column("cursor", sa.String(500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("feed", name="pk_feed_cursors"),
    )


def downgrade() -> None:
    op.drop_table("feed_cursors")
    op.drop_table("processed_events")
    op.drop_index("ix_certificate_standings_kvk_number", table_name="certificate_standings")
    op.drop_table("certificate_standings")
    op.drop_table("statistics_snapshots")
