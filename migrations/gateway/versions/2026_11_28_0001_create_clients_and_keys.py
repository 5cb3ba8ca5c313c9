"""create clients, signing keys and used client assertions

Revision ID: gw0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gw0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organisation_oin", sa.String(20), nullable=False),
        sa.Column("organisation_type", sa.String(30), nullable=False),
        sa.Column("municipality_code", sa.String(6), nullable=True),
        sa.Column("province_code", sa.String(4), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=True),
        sa.Column("public_key_pem", sa.Text(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clients"),
        sa.UniqueConstraint("client_id", name="uq_clients_client_id"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_table(
        "used_assertions",
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("jti", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name="pk_used_assertions"),
    )
    op.create_index("ix_used_assertions_expires_at", "used_assertions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_used_assertions_expires_at", table_name="used_assertions")
    op.drop_table("used_assertions")
    op.drop_table("signing_keys")
    op.drop_table("clients")
