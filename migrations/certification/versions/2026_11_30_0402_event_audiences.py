"""an audience on every outbox event and the owner's parties on every subscription (kit, ADR 0028)

Revision ID: ce0402
Revises: ct0005
Create Date: 2026-11-30

The certification service's events concern companies, not persons: they keep no audience (NULL),
so every events:read client receives them, as before.
"""

from collections.abc import Sequence

from lmx_common.events.migration import add_event_audiences, drop_event_audiences

revision: str = "ce0402"
down_revision: str | None = "ct0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_event_audiences()


def downgrade() -> None:
    drop_event_audiences()
