"""the processing log as a hash chain with signed checkpoints, and the Logboek Dataverwerkingen fields

Every new column of processing_log is nullable: a record is written without them on the request path
and sealed into the chain afterwards (ADR 0023). Records written before this revision are sealed by
the first run of the sealer, in id order.

Revision ID: 20261130_0101
Revises: rg0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261130_0101"
down_revision: str | None = "rg0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def new_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("span_id", sa.String(16), nullable=True),
        sa.Column("parent_span_id", sa.String(16), nullable=True),
        sa.Column("foreign_span_id", sa.String(16), nullable=True),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("hash", sa.String(64), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("processing_log") as batch:
        for column in new_columns():
            batch.add_column(column)
    op.create_index(
        "uq_processing_log_seq",
        "processing_log",
        ["seq"],
        unique=True,
        postgresql_where=sa.text("seq IS NOT NULL"),
        sqlite_where=sa.text("seq IS NOT NULL"),
    )
    op.create_index(
        "ix_processing_log_unsealed",
        "processing_log",
        ["id"],
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )
    chain = op.create_table(
        "processing_log_chain",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_processing_log_chain"),
    )
    op.bulk_insert(chain, [{"id": 1, "last_seq": 0, "head_hash": GENESIS, "checkpoint_seq": 0, "checkpoint_at": None}])
    op.create_table(
        "processing_log_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_processing_log_checkpoints"),
    )


def downgrade() -> None:
    op.drop_table("processing_log_checkpoints")
    op.drop_table("processing_log_chain")
    op.drop_index("ix_processing_log_unsealed", table_name="processing_log")
    op.drop_index("uq_processing_log_seq", table_name="processing_log")
    with op.batch_alter_table("processing_log") as batch:
        for column in reversed(new_columns()):
            batch.drop_column(column.name)
