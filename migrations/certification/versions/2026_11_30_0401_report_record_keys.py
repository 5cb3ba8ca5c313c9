"""abuse reports get a record key: the cell-key method's random key, for the report summary's counts

Revision ID: ce0401
Revises: ce0402
Create Date: 2026-11-30
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ce0401"
down_revision: str | None = "ce0402"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_RANGE = 1 << 32  # lmx_common.disclosure.KEY_RANGE, as it was when this was written
BATCH = 1000


def upgrade() -> None:
    op.add_column("reports", sa.Column("record_key", sa.BigInteger(), nullable=True))
    reports = sa.table("reports", sa.column("id", sa.String()), sa.column("record_key", sa.BigInteger()))
    connection = op.get_bind()
    while True:
        ids = (
            connection.execute(
                sa.select(reports.c.id).where(reports.c.record_key.is_(None)).order_by(reports.c.id).limit(BATCH)
            )
            .scalars()
            .all()
        )
        if not ids:
            break
        connection.execute(
            reports.update().where(reports.c.id == sa.bindparam("report_id")).values(record_key=sa.bindparam("key")),
            [{"report_id": i, "key": secrets.randbelow(KEY_RANGE)} for i in ids],
        )
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("record_key", existing_type=sa.BigInteger(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("record_key")
