"""one active registration per BSN pseudonym, enforced by the database

Revision ID: rg0004
Revises: rg0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rg0004"
down_revision: str | None = "rg0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active' AND bsn_pseudonym IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "uq_registrations_active_bsn",
        "registrations",
        ["bsn_pseudonym"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_registrations_active_bsn", table_name="registrations")
