"""create registrations, the processing log and idempotency keys

Revision ID: rg0002
Revises: rg0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lmx_common.idempotency_migration import create_idempotency_table, drop_idempotency_table

revision: str = "rg0002"
down_revision: str | None = "rg0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("bsn_pseudonym", sa.String(64), nullable=True),
        sa.Column("bsn_encrypted", sa.Text(), nullable=True),
        sa.Column("given_names", sa.String(200), nullable=True),
        sa.Column("surname", sa.String(200), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("nationality", sa.String(2), nullable=True),
        sa.Column("contact_email", sa.String(254), nullable=True),
        sa.Column("contact_phone", sa.String(32), nullable=True),
        sa.Column("registration_type", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("residence_municipality_code", sa.String(6), nullable=False),
        sa.Column("residence_postcode", sa.String(6), nullable=True),
        sa.Column("residence_house_number", sa.String(12), nullable=True),
        sa.Column("housing_location_id", sa.String(64), nullable=True),
        sa.Column("work_municipality_code", sa.String(6), nullable=False),
        sa.Column("employer_kvk_number", sa.String(8), nullable=False),
        sa.Column("agency_kvk_number", sa.String(8), nullable=True),
        sa.Column("economic_location_id", sa.String(64), nullable=True),
        sa.Column("work_start_date", sa.Date(), nullable=True),
        sa.Column("arrival_date", sa.Date(), nullable=False),
        sa.Column("expected_end_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("departure_date", sa.Date(), nullable=True),
        sa.Column("departure_reason", sa.String(20), nullable=True),
        sa.Column("departure_destination_type", sa.String(20), nullable=True),
        sa.Column("departure_destination_code", sa.String(6), nullable=True),
        sa.Column("created_by_oin", sa.String(20), nullable=False),
        sa.Column("created_by_client_id", sa.String(100), nullable=False),
        sa.Column("created_by_type", sa.String(30), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_registrations"),
    )
    op.create_index("ix_registrations_bsn_pseudonym", "registrations", ["bsn_pseudonym"])
    op.create_index("ix_registrations_created_by_oin", "registrations", ["created_by_oin"])
    op.create_index("ix_registrations_status_work", "registrations", ["status", "work_municipality_code"])
    op.create_index("ix_registrations_status_residence", "registrations", ["status", "residence_municipality_code"])
    op.create_index(
        "ix_registrations_work_residence", "registrations", ["work_municipality_code", "residence_municipality_code"]
    )
    op.create_index("ix_registrations_housing_location", "registrations", ["housing_location_id"])
    op.create_index("ix_registrations_departure_date", "registrations", ["departure_date"])
    op.create_index("ix_registrations_arrival_date", "registrations", ["arrival_date"])
    op.create_table(
        "processing_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("registration_id", sa.String(36), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("transaction_id", sa.String(128), nullable=True),
        sa.Column("activity", sa.String(60), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("organisation_oin", sa.String(20), nullable=False),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_processing_log"),
    )
    op.create_index("ix_processing_log_registration_id", "processing_log", ["registration_id"])
    # Narrower than the default and without the created_at index, as this table was first built.
    create_idempotency_table(state_length=10, resource_id_length=36, index_created_at=False)


def downgrade() -> None:
    drop_idempotency_table(index_created_at=False)
    op.drop_index("ix_processing_log_registration_id", table_name="processing_log")
    op.drop_table("processing_log")
    for name in (
        "ix_registrations_arrival_date",
        "ix_registrations_departure_date",
        "ix_registrations_housing_location",
        "ix_registrations_work_residence",
        "ix_registrations_status_residence",
        "ix_registrations_status_work",
        "ix_registrations_created_by_oin",
        "ix_registrations_bsn_pseudonym",
    ):
        op.drop_index(name, table_name="registrations")
    op.drop_table("registrations")
