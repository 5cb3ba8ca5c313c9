"""create the event exchange's tables: outbox, feed head, webhook subscriptions and deliveries

Revision ID: rg0003
Revises: rg0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from lmx_common.events.migration import create_event_tables, drop_event_tables

revision: str = "rg0003"
down_revision: str | None = "rg0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_event_tables()


def downgrade() -> None:
    drop_event_tables()
