"""create the municipality reference table

Revision ID: rg0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rg0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "municipalities",
        sa.Column("code", sa.String(6), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("province_code", sa.String(4), nullable=False),
        sa.Column("province_name", sa.String(50), nullable=False),
        sa.Column("vintage", sa.String(4), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_municipalities"),
    )
    op.create_index("ix_municipalities_province_code", "municipalities", ["province_code"])


def downgrade() -> None:
    op.drop_index("ix_municipalities_province_code", table_name="municipalities")
    op.drop_table("municipalities")
