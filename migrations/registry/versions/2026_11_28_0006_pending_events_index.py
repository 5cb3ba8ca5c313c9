"""the event outbox's pending events in a partial index, in the sequencer's order

Revision ID: rg0006
Revises: rg0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from lmx_common.events.migration import index_pending_events, unindex_pending_events

revision: str = "rg0006"
down_revision: str | None = "rg0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    index_pending_events()


def downgrade() -> None:
    unindex_pending_events()
