"""create housing locations and occupancy reports

Revision ID: hs0002
Revises: hs0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "hs0002"
down_revision: str | None = "hs0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "housing_locations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("municipality_code", sa.String(6), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("postcode", sa.String(6), nullable=False),
        sa.Column("house_number", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("form", sa.String(20), nullable=False),
        sa.Column("beds", sa.Integer(), nullable=False),
        sa.Column("landlord_kvk_number", sa.String(8), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=True),
        sa.Column("permit_granted_on", sa.Date(), nullable=True),
        sa.Column("construction_started_on", sa.Date(), nullable=True),
        sa.Column("operational_since", sa.Date(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("expected_opening_on", sa.Date(), nullable=True),
        sa.Column("created_by_oin", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("beds > 0", name="ck_housing_locations_beds_positive"),
        sa.ForeignKeyConstraint(
            ["municipality_code"],
            ["municipalities.code"],
            name="fk_housing_locations_municipality_code_municipalities",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_housing_locations"),
    )
    op.create_index("ix_housing_locations_municipality_code", "housing_locations", ["municipality_code"])
    op.create_index("ix_housing_locations_landlord_kvk_number", "housing_locations", ["landlord_kvk_number"])
    op.create_index("ix_housing_locations_status", "housing_locations", ["status"])
    op.create_table(
        "occupancy_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("housing_location_id", sa.String(64), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("occupied_beds", sa.Integer(), nullable=False),
        sa.Column("reported_by_oin", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("occupied_beds >= 0", name="ck_occupancy_reports_occupied_beds_not_negative"),
        sa.ForeignKeyConstraint(
            ["housing_location_id"],
            ["housing_locations.id"],
            ondelete="CASCADE",
            name="fk_occupancy_reports_housing_location_id_housing_locations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_occupancy_reports"),
        sa.UniqueConstraint("housing_location_id", "reported_on", name="uq_occupancy_reports_location_date"),
    )


def downgrade() -> None:
    op.drop_table("occupancy_reports")
    op.drop_index("ix_housing_locations_status", table_name="housing_locations")
    op.drop_index("ix_housing_locations_landlord_kvk_number", table_name="housing_locations")
    op.drop_index("ix_housing_locations_municipality_code", table_name="housing_locations")
    op.drop_table("housing_locations")
