"""create organisations, certificates with their status history, reports with their notes

Revision ID: ct0002
Revises: ct0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ct0002"
down_revision: str | None = "ct0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("kvk_number", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("created_by_oin", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kvk_number", name="pk_organisations"),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kvk_number", sa.String(8), nullable=False),
        sa.Column("scheme_code", sa.String(30), nullable=False),
        sa.Column("certificate_number", sa.String(50), nullable=True),
        sa.Column("housing_location_ids", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_since", sa.Date(), nullable=False),
        sa.Column("issuer_oin", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_certificates"),
        sa.ForeignKeyConstraint(
            ["kvk_number"], ["organisations.kvk_number"], name="fk_certificates_kvk_number_organisations"
        ),
        sa.ForeignKeyConstraint(["scheme_code"], ["schemes.code"], name="fk_certificates_scheme_code_schemes"),
    )
    op.create_index("ix_certificates_kvk_scheme", "certificates", ["kvk_number", "scheme_code"])
    op.create_index("ix_certificates_status", "certificates", ["status"])
    op.create_table(
        "certificate_status_changes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("certificate_id", sa.String(36), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by_client_id", sa.String(100), nullable=False),
        sa.Column("changed_by_oin", sa.String(20), nullable=True),
        sa.Column("changed_by_type", sa.String(30), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_certificate_status_changes"),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name="fk_certificate_status_changes_certificate_id_certificates",
        ),
    )
    op.create_index("ix_certificate_status_changes_certificate_id", "certificate_status_changes", ["certificate_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kvk_number", sa.String(8), nullable=True),
        sa.Column("housing_location_id", sa.String(64), nullable=True),
        sa.Column("municipality_code", sa.String(6), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reporter_oin", sa.String(20), nullable=False),
        sa.Column("reporter_client_id", sa.String(100), nullable=False),
        sa.Column("reporter_type", sa.String(30), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
    )
    op.create_index("ix_reports_kvk_number", "reports", ["kvk_number"])
    op.create_index("ix_reports_municipality_code", "reports", ["municipality_code"])
    op.create_index("ix_reports_reporter_oin", "reports", ["reporter_oin"])
    op.create_table(
        "report_notes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("noted_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by_oin", sa.String(20), nullable=False),
        sa.Column("by_client_id", sa.String(100), nullable=False),
        sa.Column("by_type", sa.String(30), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_notes"),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name="fk_report_notes_report_id_reports"),
    )
    op.create_index("ix_report_notes_report_id", "report_notes", ["report_id"])


def downgrade() -> None:
    op.drop_index("ix_report_notes_report_id", table_name="report_notes")
    op.drop_table("report_notes")
    op.drop_index("ix_reports_reporter_oin", table_name="reports")
    op.drop_index("ix_reports_municipality_code", table_name="reports")
    op.drop_index("ix_reports_kvk_number", table_name="reports")
    op.drop_table("reports")
    op.drop_index("ix_certificate_status_changes_certificate_id", table_name="certificate_status_changes")
    op.drop_table("certificate_status_changes")
    op.drop_index("ix_certificates_status", table_name="certificates")
    op.drop_index("ix_certificates_kvk_scheme", table_name="certificates")
    op.drop_table("certificates")
    op.drop_table("organisations")
