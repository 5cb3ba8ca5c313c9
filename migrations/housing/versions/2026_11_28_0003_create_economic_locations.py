"""create regional economic locations and distribution keys; the regions' lagging factor

Revision ID: hs0003
Revises: hs0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "hs0003"
down_revision: str | None = "hs0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy): recreating `regions` on SQLite would cascade into its members.
    op.add_column("regions", sa.Column("lagging_factor", sa.Float(), server_default=sa.text("0.8"), nullable=False))
    op.create_table(
        "economic_locations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(50), nullable=False),
        sa.Column("host_municipality_code", sa.String(6), nullable=False),
        sa.Column("created_by_oin", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], ondelete="CASCADE", name="fk_economic_locations_region_code_regions"
        ),
        sa.ForeignKeyConstraint(
            ["host_municipality_code"],
            ["municipalities.code"],
            name="fk_economic_locations_host_municipality_code_municipalities",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_economic_locations"),
    )
    op.create_index("ix_economic_locations_region_code", "economic_locations", ["region_code"])
    op.create_table(
        "distribution_keys",
        sa.Column("economic_location_id", sa.String(64), nullable=False),
        sa.Column("municipality_code", sa.String(6), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.CheckConstraint("share >= 0 AND share <= 1", name="ck_distribution_keys_share_between_0_and_1"),
        sa.ForeignKeyConstraint(
            ["economic_location_id"],
            ["economic_locations.id"],
            ondelete="CASCADE",
            name="fk_distribution_keys_economic_location_id_economic_locations",
        ),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name="fk_distribution_keys_municipality_code_municipalities",
        ),
        sa.PrimaryKeyConstraint("economic_location_id", "municipality_code", name="pk_distribution_keys"),
    )


def downgrade() -> None:
    op.drop_table("distribution_keys")
    op.drop_index("ix_economic_locations_region_code", table_name="economic_locations")
    op.drop_table("economic_locations")
    op.drop_column("regions", "lagging_factor")
