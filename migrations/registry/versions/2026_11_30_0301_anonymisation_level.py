"""an anonymised registration's generalisation level (k-anonymity, services/registry/retention.py)

Revision ID: rg0301
Revises: rg0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rg0301"
down_revision: str | None = "rg0201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch copy of the table on SQLite would lose the active-counts triggers.
    op.add_column("registrations", sa.Column("anonymisation_level", sa.String(10), nullable=True))


def downgrade() -> None:
    op.drop_column("registrations", "anonymisation_level")
