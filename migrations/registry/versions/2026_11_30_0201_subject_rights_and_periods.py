"""the data subject's rights (erasure, restriction) and the periods a municipality was concerned

Revision ID: rg0201
Revises: rg0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "rg0201"
down_revision: str | None = "20261130_0101"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy on SQLite, which would lose the active-count triggers).
    op.add_column("registrations", sa.Column("restricted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("registrations", sa.Column("restriction_reason", sa.String(40), nullable=True))
    op.add_column("registrations", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("registrations", sa.Column("erasure_reason", sa.String(40), nullable=True))
    # A registration's past (work, residence) municipalities, one row per period that ended; the
    # current period runs from the last row's valid_to (or created_at) until now.
    op.create_table(
        "registration_periods",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registration_id", sa.String(36), nullable=False),
        sa.Column("work_municipality_code", sa.String(6), nullable=False),
        sa.Column("residence_municipality_code", sa.String(6), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registration_periods"),
    )
    op.create_index("ix_registration_periods_registration_id", "registration_periods", ["registration_id"])


def downgrade() -> None:
    op.drop_index("ix_registration_periods_registration_id", table_name="registration_periods")
    op.drop_table("registration_periods")
    for column in ("erasure_reason", "erased_at", "restriction_reason", "restricted_at"):
        op.drop_column("registrations", column)
