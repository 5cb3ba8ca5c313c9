"""create the certification scheme reference table

Revision ID: ct0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ct0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schemes",
        sa.Column("code", sa.String(30), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("subject_kind", sa.String(30), nullable=False),
        sa.Column("permits", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_schemes"),
    )


def downgrade() -> None:
    op.drop_table("schemes")
