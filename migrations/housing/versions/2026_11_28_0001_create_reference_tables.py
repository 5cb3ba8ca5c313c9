"""create municipalities, regions and region members

Revision ID: hs0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "hs0001"
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
    op.create_table(
        "regions",
        sa.Column("code", sa.String(50), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_regions"),
    )
    op.create_table(
        "region_members",
        sa.Column("region_code", sa.String(50), nullable=False),
        sa.Column("municipality_code", sa.String(6), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], ondelete="CASCADE", name="fk_region_members_region_code_regions"
        ),
        sa.ForeignKeyConstraint(
            ["municipality_code"], ["municipalities.code"], name="fk_region_members_municipality_code_municipalities"
        ),
        sa.PrimaryKeyConstraint("region_code", "municipality_code", name="pk_region_members"),
    )


def downgrade() -> None:
    op.drop_table("region_members")
    op.drop_table("regions")
    op.drop_index("ix_municipalities_province_code", table_name="municipalities")
    op.drop_table("municipalities")
