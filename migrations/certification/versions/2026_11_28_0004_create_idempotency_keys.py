"""create idempotency keys for the creating POSTs

Revision ID: ct0004
Revises: ct0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from lmx_common.idempotency_migration import create_idempotency_table, drop_idempotency_table

revision: str = "ct0004"
down_revision: str | None = "ct0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_table()


def downgrade() -> None:
    drop_idempotency_table()
