"""Create and drop a service's ``idempotency_keys`` table from its own Alembic migration.

The columns are those of :class:`lmx_common.idempotency.IdempotencyKeyColumns`. The lengths and
the ``created_at`` index are parameters only so that migrations written before this helper keep
building exactly the schema they always built (the registry's table is narrower and has no index);
new tables take the defaults.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TABLE = "idempotency_keys"
CREATED_AT_INDEX = "ix_idempotency_keys_created_at"


def create_idempotency_table(
    *, state_length: int = 20, resource_id_length: int = 64, index_created_at: bool = True
) -> None:
    op.create_table(
        TABLE,
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(state_length), nullable=False),
        sa.Column("resource_id", sa.String(resource_id_length), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "key", name="pk_idempotency_keys"),
    )
    if index_created_at:
        op.create_index(CREATED_AT_INDEX, TABLE, ["created_at"])


def drop_idempotency_table(*, index_created_at: bool = True) -> None:
    if index_created_at:
        op.drop_index(CREATED_AT_INDEX, table_name=TABLE)
    op.drop_table(TABLE)
